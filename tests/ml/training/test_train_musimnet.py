"""A tiny MuSimNet learns the tag similarity of a tiny synthetic collection."""

import numpy as np
import pytest
import torch

from ml.metrics.similarity import SimilarityScores, evaluate_similarity
from ml.models.musimnet import MuSimNet, MuSimNetConfig, embed_tracks, input_statistics
from ml.similarity.mining import MiningConfig
from ml.training.musimnet import (
    MuSimNetTrainConfig,
    MuSimNetTrainingError,
    TaggedTracks,
    load_musimnet,
    train_musimnet,
)

# Small enough for the test machine: 3-s patches, narrow layers.
TINY_MODEL = MuSimNetConfig(
    "autopool", filters=(4, 8, 16, 16, 16), embedding_dim=16, patch_frames=128
)
# A 24-track test set: the list is cut at k = 10 (k = 20 would hold most of the set).
K = 10


def _scores(model: MuSimNet, tracks: TaggedTracks) -> SimilarityScores:
    e = embed_tracks(model, tracks.cqts).astype(np.float64)
    sq = (e**2).sum(axis=1)
    return evaluate_similarity(
        sq[:, None] - 2 * e @ e.T + sq[None, :], tracks.similarity_matrix(), k=K
    )


def _as_tuple(s: SimilarityScores) -> np.ndarray:
    return np.array([s.map_at_k, s.recall_at_k, s.rr_at_k, s.ndcg_at_k])


@pytest.fixture(scope="module")
def trained(tagged_collection, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("musimnet")
    config = MuSimNetTrainConfig(
        train=TaggedTracks(*tagged_collection["train"]),
        validation=TaggedTracks(*tagged_collection["validation"]),
        out_dir=out_dir,
        model=TINY_MODEL,
        mining=MiningConfig("distance", n_positives=5, n_negatives=20),
        learning_rate=3e-3,
        triplets_per_epoch=210,
        max_epochs=6,
        patience=3,
        monitor="val_ndcg",
        validation_triplets=0,
        progress=False,
    )
    return config, train_musimnet(config)


@pytest.mark.slow
def test_loss_falls_and_checkpoints_are_written(trained):
    config, checkpoint = trained
    losses = [h["train_loss"] for h in checkpoint.history]
    assert losses[-1] < 0.7 * losses[0]
    assert checkpoint.path is not None and checkpoint.path.exists()
    assert (config.out_dir / "metrics.jsonl").read_text().count("\n") == len(checkpoint.history)
    reloaded = load_musimnet(checkpoint.path)
    x = torch.randn(2, 96, 128) * 10 - 40
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x), checkpoint.model(x))


@pytest.mark.slow
def test_trained_net_beats_untrained_and_random(trained, tagged_collection):
    config, checkpoint = trained
    test = TaggedTracks(*tagged_collection["test"])
    trained_scores = _as_tuple(_scores(checkpoint.model, test))
    torch.manual_seed(config.seed)  # the very weights training started from
    untrained = MuSimNet(TINY_MODEL)
    untrained.set_input_statistics(*input_statistics(config.train.cqts))
    untrained_scores = _as_tuple(_scores(untrained, test))
    rng = np.random.default_rng(0)
    similarity = test.similarity_matrix()
    random_scores = np.mean(
        [
            _as_tuple(evaluate_similarity(rng.random((len(test), len(test))), similarity, k=K))
            for _ in range(50)
        ],
        axis=0,
    )
    # MAP, recall, RR, nDCG: all above random ...
    assert (trained_scores > random_scores).all(), (trained_scores, random_scores)
    # ... and above the untrained network (whose random filters already hear pitch and
    # timbre, so its nearest neighbour is often right: RR alone goes either way with
    # the draws, by a query or two of the 24), on MAP, recall and nDCG and on the four
    # taken together.
    better = trained_scores > untrained_scores
    assert better[[0, 1, 3]].all() and trained_scores.mean() > untrained_scores.mean(), (
        trained_scores,
        untrained_scores,
    )


@pytest.mark.slow
def test_resume_after_the_last_epoch_continues_without_retraining(trained):
    config, checkpoint = trained
    # Same settings and out_dir: the run finds last.pt and has nothing left to do.
    again = train_musimnet(config)
    assert again.history == checkpoint.history and again.best_epoch == checkpoint.best_epoch


def test_bad_training_inputs_raise():
    cqts = [np.zeros((96, 200), dtype=np.float32)] * 3
    with pytest.raises(MuSimNetTrainingError):
        TaggedTracks(cqts[:2], tags=[{"a"}, {"b"}])
    with pytest.raises(MuSimNetTrainingError):
        TaggedTracks(cqts)  # neither tags nor S
    with pytest.raises(MuSimNetTrainingError):
        TaggedTracks(cqts, tags=[{"a"}, {"b"}])
    tracks = TaggedTracks(cqts, tags=[{"a"}, {"b"}, {"c"}])
    with pytest.raises(MuSimNetTrainingError):
        MuSimNetTrainConfig(train=tracks, validation=tracks, monitor="accuracy")
    with pytest.raises(MuSimNetTrainingError):
        MuSimNetTrainConfig(train=tracks, validation=tracks, validation_triplets=0)
    with pytest.raises(MuSimNetTrainingError):
        # Nothing resembles anything: no triplet can be mined.
        train_musimnet(
            MuSimNetTrainConfig(train=tracks, validation=tracks, model=TINY_MODEL, progress=False)
        )
