"""The one path from a video file to its segment vectors: training, evaluation, serving.

A query video (serving), a test clip's picture (evaluation) and a training clip's
picture (the dataset builder) all go through :func:`video_frame_features` and, when
the video is cut by its own shots or by given cut points, :func:`analyse_video`, so
that what is evaluated is what is served.

* **Frame features** at 1 Hz from the registry's video extractor, decoded at the
  extractor's frame rate and size (its native rate when it has none: TransNetV2).
* **Segments**: the user's cut points when given, else the shots of TransNetV2; the
  per-frame transition probability is kept (the cut likelihood of the
  synchronisation evidence). When the extractor is a TransNetV2 layer, the shot pass
  computes the features too and the network runs once.
* **Segment vectors**: the time-weighted mean of the frame features per segment
  (:func:`ml.segments.segment_vectors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.features.registry import VideoExtractor, get_extractor
from ml.media.decode import MediaInfo, load_video_frames, probe
from ml.media.errors import MediaTooLongError, MediaTooShortError, NoVideoStreamError
from ml.media.structure import merge_short_segments
from ml.pipeline.timing import Timings
from ml.segments import segment_vectors

__all__ = [
    "SHOT_NETWORK_LAYERS",
    "VideoAnalysis",
    "analyse_video",
    "check_video",
    "user_segments",
    "video_frame_features",
]

#: Video extractors computed by the shot network itself: one pass gives both.
SHOT_NETWORK_LAYERS = {"transnet": "embeddings", "transnet_similarity": "similarity_embeddings"}


@dataclass(frozen=True)
class VideoAnalysis:
    """A video cut into segments, with its 1 Hz frame features.

    Attributes
    ----------
    duration_s : float
        Length of the video stream.
    boundaries_s : np.ndarray, shape (K + 1,)
        Segment boundaries in seconds, 0 and the duration included.
    segmentation : str
        ``"shots"`` (TransNetV2) or ``"user"`` (given cut points).
    features : np.ndarray, shape (T, D)
        float32 frame features at 1 Hz.
    cut_likelihood : np.ndarray or None, shape (n_frames,)
        TransNetV2's per-frame transition probability at ``fps`` (shots only).
    fps : float
        Frame rate of ``cut_likelihood``.
    """

    duration_s: float
    boundaries_s: np.ndarray
    segmentation: str
    features: np.ndarray
    cut_likelihood: np.ndarray | None = None
    fps: float = 0.0

    @property
    def segment_vectors(self) -> np.ndarray:
        """``(K, D)`` float32: the mean frame feature of each segment."""
        return segment_vectors(self.features, self.boundaries_s)


def user_segments(cut_points_s: Sequence[float], duration_s: float) -> np.ndarray:
    """Boundaries ``(K + 1,)`` from cut points in seconds (those outside ``(0, duration)``
    dropped, repeats merged to the millisecond), 0 and the duration included."""
    inner = sorted({round(float(t), 3) for t in cut_points_s if 0 < t < duration_s})
    return np.array([0.0, *inner, float(duration_s)])


def check_video(info: MediaInfo, min_duration_s: float, max_duration_s: float | None) -> None:
    """Raise the media error a query would get: no picture, too short or too long."""
    if not info.has_video:
        raise NoVideoStreamError("the file has no video stream: a query must be a video")
    if info.duration_s < min_duration_s:
        raise MediaTooShortError(
            f"the video lasts {info.duration_s:.2f} s; at least {min_duration_s:g} s are needed"
        )
    if max_duration_s is not None and info.duration_s > max_duration_s:
        raise MediaTooLongError(
            f"the video lasts {info.duration_s:.0f} s; at most {max_duration_s:g} s are accepted"
        )


def video_frame_features(
    path,
    extractor: VideoExtractor,
    *,
    fps: float | None = None,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
) -> tuple[np.ndarray, float]:
    """Frame features at 1 Hz of a video file's picture, and the picture's duration.

    ``fps`` is the file's native rate, used by extractors without a rate of their own
    (probed when not given).

    Returns
    -------
    features : np.ndarray, shape (T, D)
        float32, ``T = ceil(duration_s)``.
    duration_s : float
        ``n_frames / rate`` of the decoded frames.
    """
    width, height = extractor.frame_size
    frames = load_video_frames(
        path,
        extractor.frame_rate,
        width,
        height,
        max_duration_s=max_duration_s,
        timeout_s=timeout_s,
    )
    if len(frames) == 0:
        raise NoVideoStreamError("no video frame could be decoded")
    rate = extractor.frame_rate or fps or probe(path, timeout_s=timeout_s).fps
    if not rate:
        raise NoVideoStreamError("the video stream has no frame rate")
    features = np.asarray(extractor.extract(frames, rate), dtype=np.float32)
    return features, len(frames) / float(rate)


def analyse_video(
    path,
    video_extractor: str,
    *,
    cut_points_s: Sequence[float] | None = None,
    min_segment_s: float | None = None,
    min_duration_s: float = 0.0,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
    timings: Timings | None = None,
) -> VideoAnalysis:
    """Probe, segment and featurise one video file: the query side of every path.

    Parameters
    ----------
    path : path-like
        A video file.
    video_extractor : str
        Registry name of the video frame-feature extractor (the model's).
    cut_points_s : sequence of float, optional
        The user's own cut points in seconds; without them the video is cut by shots.
    min_segment_s : float, optional
        Shots shorter than this are merged into a neighbour (not applied to cut points).
    min_duration_s, max_duration_s : float
        Bounds on the video's duration (a clear media error outside them).

    Raises
    ------
    ml.media.errors.MediaError
        The file cannot be used (a subclass says why).
    """
    from ml.media.shots import analyze_shots  # TransNetV2: imported only when used

    timings = timings or Timings()
    with timings.stage("probe"):
        info = probe(path, timeout_s=timeout_s)
    check_video(info, min_duration_s, max_duration_s)
    extractor = get_extractor(video_extractor, "video")
    layer = SHOT_NETWORK_LAYERS.get(extractor.name)
    shots = None
    with timings.stage("segmentation"):
        if cut_points_s is not None:
            boundaries, how = user_segments(cut_points_s, info.duration_s), "user"
        else:
            shots = analyze_shots(
                path,
                return_features=layer is not None,
                max_duration_s=max_duration_s,
                timeout_s=timeout_s,
            )
            boundaries, how = shots.boundaries_s.astype(np.float64), "shots"
            if min_segment_s:
                boundaries = merge_short_segments(boundaries, min_segment_s)
    with timings.stage("features"):
        if layer is not None and shots is not None:  # the shot pass computed them already
            from ml.features.transnet import transnet_features

            features = transnet_features(shots.result, shots.fps, layer)
        else:
            features, _ = video_frame_features(
                path, extractor, fps=info.fps, max_duration_s=max_duration_s, timeout_s=timeout_s
            )
    return VideoAnalysis(
        duration_s=float(info.duration_s),
        boundaries_s=boundaries,
        segmentation=how,
        features=np.asarray(features, dtype=np.float32),
        cut_likelihood=shots.result.probabilities if shots is not None else None,
        fps=float(shots.fps) if shots is not None else float(info.fps or 0.0),
    )
