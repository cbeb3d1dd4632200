"""Training loop for VM-Net and Seg-VM-Net: :func:`ml.training.trainer.train` takes a
:class:`ml.training.config.TrainConfig` and returns the best checkpoint's path."""
