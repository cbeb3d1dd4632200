"""Losses for metric learning: the triplet loss (:mod:`ml.losses.triplet`) and the
VM-Net loss with its cross-modal and intra-modal terms (:mod:`ml.losses.vmnet`)."""
