"""MusiCNN from the weights inside the ``musicnn`` wheel, without TensorFlow.

* :mod:`~ml.features.musicnn.checkpoint`: a reader of TF1 checkpoints;
* :mod:`~ml.features.musicnn.model`: the architecture in PyTorch;
* :mod:`~ml.features.musicnn.extractor`: the registered ``"musicnn"`` audio
  extractor (1 Hz penultimate features) served through ONNX Runtime.
"""
