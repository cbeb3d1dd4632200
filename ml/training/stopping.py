"""Early stopping: one monitor, one patience rule, for every model kind.

Epochs are numbered from 0. After each epoch the monitored validation value is
offered to :meth:`EarlyStopping.update`; it *improves* when it is finite and beats the
best so far by more than ``min_delta`` (lower is better, or higher with
``higher_is_better``); the first finite value always improves. Training stops before
epoch ``e`` when ``patience`` epochs in a row have not improved, i.e. when
``e - 1 - best_epoch >= patience`` (``best_epoch`` is -1 while nothing improved, so a
run whose values never improve also stops after ``patience`` epochs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["EarlyStopping"]


@dataclass
class EarlyStopping:
    """The state of early stopping: what is watched, the best value and its epoch.

    ``best_value`` is None and ``best_epoch`` -1 until an epoch improves. The state
    is plain numbers, saved in every checkpoint and restored on resume.
    """

    monitor: str
    patience: int
    higher_is_better: bool = False
    min_delta: float = 0.0
    best_value: float | None = None
    best_epoch: int = -1

    def improves(self, value: float) -> bool:
        """Whether ``value`` would be a new best (pure: the state is not changed)."""
        if not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        if self.higher_is_better:
            return value > self.best_value + self.min_delta
        return value < self.best_value - self.min_delta

    def update(self, epoch: int, value: float) -> bool:
        """Record epoch ``epoch``'s monitored ``value``; True when it is the new best."""
        improved = self.improves(value)
        if improved:
            self.best_value, self.best_epoch = float(value), epoch
        return improved

    def should_stop(self, next_epoch: int) -> bool:
        """True when epoch ``next_epoch`` is not to be trained: the ``patience`` epochs
        before it brought no improvement."""
        return next_epoch - 1 - self.best_epoch >= self.patience
