"""An edit decision list: shots separated by hard cuts or gradual transitions.

Both worlds describe a clip's picture the same way, as the frames where one shot
gives way to the next (:class:`Cut`) and a function that draws shot ``k`` at frame
``f``; :func:`compose` turns that into frames. A gradual transition of ``length``
frames is centred on its cut frame: a **dissolve** cross-fades the two shots, a
**fade** goes through black (the old shot fades out over the first half, the new one
in over the second). The cut *time* of any transition is ``frame / fps``: the first
frame that belongs to the new shot.

While drawing, images are ``float32`` RGB in [0, 1] with the channels first,
shape ``(3, height, width)`` (numpy is far faster on long rows than on a last axis
of 3); composed frames are ``uint8`` of shape ``(height, width, 3)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["GRADUAL_KINDS", "KINDS", "Cut", "compose", "mean_abs_diff", "shot_of_frame"]

KINDS = ("hard", "dissolve", "fade")
GRADUAL_KINDS = ("dissolve", "fade")


@dataclass(frozen=True)
class Cut:
    """The boundary between shot ``k`` and ``k + 1``.

    Attributes
    ----------
    frame : int
        First frame of the new shot.
    kind : str
        One of :data:`KINDS`.
    length : int
        Frames the transition lasts (0 for a hard cut), centred on ``frame``.
    why : str
        The rule that placed it (e.g. ``"section"``, ``"beat"``); free text.
    """

    frame: int
    kind: str = "hard"
    length: int = 0
    why: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown transition {self.kind!r}; one of {KINDS}")
        if (self.kind == "hard") != (self.length == 0) or self.length < 0:
            raise ValueError(f"a {self.kind} transition cannot last {self.length} frames")

    @property
    def span(self) -> tuple[int, int]:
        """Frames ``[first, end)`` the transition covers (just the cut frame when hard)."""
        if self.kind == "hard":
            return self.frame, self.frame + 1
        first = self.frame - self.length // 2
        return first, first + self.length

    def as_truth(self, fps: float) -> dict:
        """The cut as stored in ``truth.json`` (times in seconds)."""
        first, end = self.span
        out = {"time": self.frame / fps, "frame": self.frame, "kind": self.kind, "why": self.why}
        if self.kind != "hard":
            out |= {"start": first / fps, "end": end / fps}
        return out


def shot_of_frame(n_frames: int, cuts: list[Cut]) -> np.ndarray:
    """Index of the shot each frame belongs to, ``(n_frames,)`` int."""
    return np.searchsorted([c.frame for c in cuts], np.arange(n_frames), side="right")


def compose(
    n_frames: int,
    cuts: list[Cut],
    draw: Callable[[int, int], np.ndarray],
    finish: Callable[[np.ndarray, int], np.ndarray] | None = None,
) -> Iterator[np.ndarray]:
    """Yield the clip's frames as ``uint8`` RGB.

    Parameters
    ----------
    n_frames : int
        Length of the clip in frames.
    cuts : list of Cut
        Increasing frames in ``(0, n_frames)``; their spans must not overlap.
    draw : callable
        ``draw(shot, frame)`` gives shot ``shot`` as it looks at ``frame``, shape
        ``(3, height, width)`` (it is asked for a shot a little past its own end
        during a transition).
    finish : callable or None
        ``finish(image, frame)`` after mixing (grain, gamma); float in, float out.
    """
    frames = [c.frame for c in cuts]
    if any(b <= a for a, b in itertools.pairwise(frames)) or (frames and not 0 < frames[0]):
        raise ValueError("cuts must be increasing and after frame 0")
    shots = shot_of_frame(n_frames, cuts)
    where: dict[int, int] = {}
    for k, cut in enumerate(cuts):
        if cut.kind != "hard":
            for f in range(*cut.span):
                where[f] = k
    for f in range(n_frames):
        k = where.get(f)
        if k is None:
            img = draw(int(shots[f]), f)
        else:
            cut = cuts[k]
            first, end = cut.span
            if cut.kind == "dissolve":
                a = (f - first + 0.5) / cut.length
                img = (1 - a) * draw(k, f) + a * draw(k + 1, f)
            elif f < cut.frame:
                img = draw(k, f) * (1 - (f - first + 0.5) / (cut.frame - first))
            else:
                img = draw(k + 1, f) * ((f - cut.frame + 0.5) / (end - cut.frame))
        if finish is not None:
            img = finish(img, f)
        img = np.clip(img, 0.0, 1.0, out=img if img.dtype == np.float32 else None)
        yield (img * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0).copy()


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two images in 8-bit levels (float images are in [0, 1])."""
    scale = 1.0 if np.issubdtype(np.asarray(a).dtype, np.integer) else 255.0
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean() * scale)
