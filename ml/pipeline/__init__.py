"""The one path from a media file to segment vectors, shared by training, evaluation
and serving: :mod:`.video` (a video cut by shots or given cut points) and
:mod:`.track` (a recording cut by its music structure), over :mod:`.analysis` (a
track decoded once, then its structure, downbeats and frame features: the layer
above :mod:`ml.media` and :mod:`ml.features` that uses both)."""
