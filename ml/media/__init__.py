"""Media analysis: decoding, music structure, beats and shots.

* :mod:`ml.media.decode` -- probe and decode files through ffmpeg;
* :mod:`ml.media.structure` -- MSAF's foote / sf / olda boundaries from one shared
  feature pass;
* :mod:`ml.media.beats` -- madmom's RNN + DBN beats, downbeats, tempo and meter;
* :mod:`ml.media.shots` -- TransNetV2 shot boundaries.

madmom and msaf need :func:`ml.compat.apply`; the modules above call it themselves.
Submodules are imported on demand, so ``import ml.media`` stays cheap.

The analysis of one catalog track (one decode, then structure, downbeats and frame
features) uses :mod:`ml.features` as well, so it lives a layer above both:
:mod:`ml.pipeline.analysis`.
"""
