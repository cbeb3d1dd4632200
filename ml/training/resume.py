"""When an interrupted run may go on from its ``last.pt``, and why not.

A run resumes only on the data it was trained on (the checkpoint's
``data_fingerprint``) and with the same settings, except those an interruption may
change (:data:`RESUMABLE_SETTINGS`). Other data is not an error: the loop sets the old
run aside and starts anew, logging :func:`data_change_reason`. Other settings on the
same data are an error (:func:`differing_settings` names them): the user asked for
two runs in one folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ml.training.checkpoint import DATA_FINGERPRINT

__all__ = ["RESUMABLE_SETTINGS", "RunData", "data_change_reason", "differing_settings"]

# Settings that may change between an interrupted run and its resumption: how long
# and where it runs, not what it computes. The dataset folder may move (the data are
# compared by fingerprint).
RESUMABLE_SETTINGS = frozenset(
    {"max_epochs", "patience", "progress", "device", "resume", "out_dir", "dataset_dir"}
)
# Settings added since checkpoints were first written, with the value a checkpoint
# without them was trained with.
_BEFORE_RECORDED = {"recipe": "triplet"}


@dataclass(frozen=True)
class RunData:
    """What a run is trained on, as its checkpoints record it.

    ``fingerprint`` is the SHA-256 (64 hex digits) of the content of the training and
    validation data; ``sizes`` counts items per split (``{"train": 82, "val": 14}``)
    and ``unit`` names them (``"clips"``, ``"tracks"``) for log lines.
    """

    fingerprint: str
    sizes: Mapping[str, int]
    unit: str


def _describe(sizes: Mapping[str, int]) -> str:
    """ "82 train, 14 val" (other splits, such as test, count in totals only)."""
    return f"{sizes.get('train', 0)} train, {sizes.get('val', 0)} val"


def data_change_reason(
    saved: Mapping[str, Any], saved_sizes: Mapping[str, int] | None, kind: str, data: RunData
) -> str:
    """Why the checkpoint ``saved`` cannot be resumed by a ``kind`` run on ``data``.

    ``saved_sizes`` are the split sizes the checkpoint records (None when it records
    none). The reason names what differs: the model kind, a missing fingerprint, or
    the data, with its size before and after.
    """
    saved_kind = saved.get("kind")
    if saved_kind is not None and saved_kind != kind:
        return f"the run there trained a {saved_kind}, not a {kind}"
    if not saved.get(DATA_FINGERPRINT):
        if not saved_sizes:
            return "the checkpoint does not record which data it was trained on"
        return (
            "the checkpoint does not record which data it was trained on "
            f"({sum(saved_sizes.values())} {data.unit}: {_describe(saved_sizes)})"
        )
    now = data.sizes
    if not saved_sizes:
        return f"the training data changed (now {sum(now.values())} {data.unit}: {_describe(now)})"
    return (
        f"the training data changed ({sum(saved_sizes.values())} -> {sum(now.values())} "
        f"{data.unit}; {_describe(saved_sizes)} -> {_describe(now)})"
    )


def differing_settings(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The settings of ``current`` (JSON-ready, as stored in ``train_config``) whose value
    differs from the checkpoint's ``saved`` ones, sorted; those of
    :data:`RESUMABLE_SETTINGS` do not count."""
    return sorted(
        k
        for k in current
        if k not in RESUMABLE_SETTINGS and saved.get(k, _BEFORE_RECORDED.get(k)) != current[k]
    )
