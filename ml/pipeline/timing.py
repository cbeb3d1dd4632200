"""Wall time per stage of a pipeline run, reported with every answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["Timings"]


@dataclass
class Timings:
    """``stages[name]``: seconds spent in each ``with timings.stage(name):`` block
    (rounded to 0.1 ms; a stage entered twice keeps its last time)."""

    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round(time.perf_counter() - started, 4)
