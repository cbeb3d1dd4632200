"""Export a training checkpoint with the exporter its kind needs."""

from __future__ import annotations

from pathlib import Path

from ml.export.twobranch import export_twobranch_checkpoint
from ml.models.musimnet import MUSIMNET_KIND
from ml.training.checkpoint import read_checkpoint


def export_checkpoint(
    checkpoint: Path | str, out_dir: Path | str, *, name: str | None = None
) -> Path:
    """Export a training checkpoint: the ``best.pt`` of ``train`` (VM-Net, Seg-VM-Net,
    :mod:`ml.export.twobranch`) or the ``musimnet_best.pt`` of ``train_musimnet``
    (:mod:`ml.export.musimnet`)."""
    checkpoint = Path(checkpoint)
    state = read_checkpoint(checkpoint)
    if state.get("kind") == MUSIMNET_KIND:
        # Imported here: it loads librosa (the CQT), which a two-branch export never needs.
        from ml.export.musimnet import export_musimnet_checkpoint

        return export_musimnet_checkpoint(checkpoint, out_dir, name=name, state=state)
    return export_twobranch_checkpoint(checkpoint, out_dir, name=name, state=state)
