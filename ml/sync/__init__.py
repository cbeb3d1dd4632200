"""Synchronisation of cuts and music, a training-free measure (docs/method.md §9).

How music videos are edited to their music, measured as the thesis does, and turned
into evidence a recommender can use without training:

* :mod:`ml.sync.cooccurrence` -- the co-occurrence score S of a cut likelihood and
  music events (downbeats, segment boundaries), and the per-event matches
  ("cut at 12.48 s hits the downbeat at 12.50 s (20 ms early)");
* :mod:`ml.sync.tempo` -- the dominant shot length against beat and bar: the thesis'
  level (bar, beat, 4-bar, none) and a continuous agreement;
* :mod:`ml.sync.offset` -- S of a query's cuts laid on a track at candidate offsets,
  the best offset per track, vectorised over a shortlist;
* :mod:`ml.sync.analyse` -- the study on a folder of music videos
  (``python -m ml.sync DIR``).

Submodules are imported on demand; :mod:`ml.sync.analyse` loads the media stack.
"""
