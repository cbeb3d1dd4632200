"""Learned models: the VM-Net / Seg-VM-Net projection (:mod:`ml.models.vmnet`) and
the temporal pooling layers (:mod:`ml.models.pooling`)."""
