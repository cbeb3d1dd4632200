"""Triplet miners: which (anchor, positive, negative) a loss sees.

:mod:`ml.miners.segments` (cross-modal, segment or clip rows) and
:mod:`ml.miners.structure` (intra-modal structure triplets for VM-Net)."""
