"""Export a training checkpoint with the exporter its kind needs."""

from __future__ import annotations

from pathlib import Path

from ml.export.kinds import export_kind
from ml.training.checkpoint import read_checkpoint


def export_checkpoint(
    checkpoint: Path | str, out_dir: Path | str, *, name: str | None = None
) -> Path:
    """Export a training checkpoint through the :class:`~ml.export.common.ExportKind` of
    its ``kind``: the ``best.pt`` of ``train`` (VM-Net, Seg-VM-Net,
    :mod:`ml.export.twobranch`) or the ``musimnet_best.pt`` of ``train_musimnet``
    (:mod:`ml.export.musimnet`)."""
    checkpoint = Path(checkpoint)
    state = read_checkpoint(checkpoint)
    return export_kind(str(state.get("kind"))).export_checkpoint(
        checkpoint, out_dir, name=name, state=state
    )
