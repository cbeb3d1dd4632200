"""Training data: the video-clip dataset builder (:mod:`ml.data.clips`), its on-disk
format (:mod:`ml.data.dataset`), the feature cache (:mod:`ml.data.cache`) and the
split by clip (:mod:`ml.data.splits`)."""
