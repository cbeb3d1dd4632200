"""Analysis slots: a few uploads analysed at once, the rest queued, then told "busy"."""

from __future__ import annotations

import threading
import time

import pytest

from app.limits import AnalysisSlots, ServiceBusy


def test_slots_let_that_many_in_and_queue_the_rest() -> None:
    slots = AnalysisSlots(2, wait_s=5)
    inside, most = 0, 0
    lock = threading.Lock()

    def analyse() -> None:
        nonlocal inside, most
        with slots.slot():
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=analyse) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 2 and inside == 0


def test_a_caller_waits_at_most_the_allowed_time_then_hears_busy() -> None:
    slots = AnalysisSlots(1, wait_s=0.05)
    with slots.slot():
        with pytest.raises(ServiceBusy, match="try again"):
            with slots.slot():
                pass
    with slots.slot():  # a slot given back after the error is usable again
        pass


def test_a_failing_analysis_gives_its_slot_back() -> None:
    slots = AnalysisSlots(1, wait_s=0.05)
    with pytest.raises(RuntimeError):
        with slots.slot():
            raise RuntimeError("decoder crashed")
    with slots.slot():
        pass


def test_at_least_one_slot() -> None:
    with pytest.raises(ValueError, match="at least one"):
        AnalysisSlots(0, wait_s=1)
