"""Media analysis: decoding, music structure, beats and shots.

* :mod:`ml.media.decode` -- probe and decode files through ffmpeg;
* :mod:`ml.media.structure` -- MSAF's foote / sf / olda boundaries from one shared
  feature pass;
* :mod:`ml.media.beats` -- madmom's RNN + DBN beats, downbeats, tempo and meter;
* :mod:`ml.media.shots` -- TransNetV2 shot boundaries (a cascade by default on a CPU: the network
  runs only on the windows :mod:`ml.media.shot_candidates` cannot rule out).
* :mod:`ml.media.shot_candidates` -- the cheap first pass over the decoded frames.

madmom and msaf need :func:`ml.compat.apply`; the modules above call it themselves.
Submodules are imported on demand, so ``import ml.media`` stays cheap.

The analysis of one catalog track (one decode, then structure, downbeats and frame
features) uses :mod:`ml.features` as well, so it lives a layer above both:
:mod:`ml.pipeline.analysis`.
"""
