"""``python -m bench``: benchmark names, and the arguments passed through to one of them."""

from __future__ import annotations

import sys

import pytest

from bench.__main__ import OPT_IN, commands


def test_no_arguments_runs_every_default_benchmark_without_arguments() -> None:
    lines = commands([])
    names = [line[2] for line in lines]
    assert "bench.bench_search" in names and len(names) > 1
    assert not {f"bench.{name}" for name in OPT_IN} & set(names)
    assert all(line[:2] == [sys.executable, "-m"] and len(line) == 3 for line in lines)


def test_one_name_takes_the_remaining_arguments() -> None:
    argv = ["search", "--backend", "milvus", "--sizes", "100000"]
    assert commands(argv) == [
        [sys.executable, "-m", "bench.bench_search", "--backend", "milvus", "--sizes", "100000"]
    ]
    assert [line[2] for line in commands(["ranking", "search"])] == [
        "bench.bench_ranking",
        "bench.bench_search",
    ]


@pytest.mark.parametrize("argv", [["ranking", "search", "--sizes", "10"], ["--sizes", "10"]])
def test_arguments_without_exactly_one_name_are_refused(argv) -> None:
    with pytest.raises(SystemExit, match="name exactly one"):
        commands(argv)


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(SystemExit, match="unknown benchmarks"):
        commands(["nosuch", "--sizes", "10"])
