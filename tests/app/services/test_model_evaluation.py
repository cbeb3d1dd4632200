"""What a registered model's training measured, as the registry lists it."""

from __future__ import annotations

from app.services.models import model_evaluation


def test_the_validation_numbers_recipe_and_evidence_weight_are_read_from_the_entry():
    manifest = {
        "training": {
            "metrics": {
                "val_loss": 0.2,
                "val_mean_rank_fraction": 0.125,
                "val_recall_at_1": 0.5,
                "val_recall_at_10": 1.0,
            },
            "config": {"recipe": "cca"},
        },
        "sync_fusion": {"weight": 2.0, "method": "centroid"},
    }
    assert model_evaluation(manifest) == {
        "val_mean_rank_fraction": 0.125,
        "val_recall_at_1": 0.5,
        "val_recall_at_10": 1.0,
        "recipe": "cca",
        "sync_weight": 2.0,
    }


def test_an_entry_without_them_has_nothing_to_show():
    assert model_evaluation({}) == {}
    assert model_evaluation({"training": {"metrics": {"val_loss": 1.0}}, "sync_fusion": {}}) == {}
