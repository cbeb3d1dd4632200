"""Run every benchmark module (or those named) one after another, each in its own process.

    python -m bench                      # all of them, at their default (modest) sizes
    python -m bench ranking search       # only bench_ranking and bench_search
    python -m bench search --backend milvus --sizes 100000   # one, with its own arguments

Each module prints its own table; this runner adds the wall time of each. Some run
only when named: the musicnn parity check (it needs TensorFlow in a separate
environment) and the long experiments on a work directory (the extractor
comparison, Seg-VM-Net against training-set size, MuSimNet's mining strategies),
which take CPU-hours and whose commands are in the README.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OPT_IN = {"musicnn_parity", "bench_extractors", "bench_data_size", "bench_musimnet"}


def modules(names: list[str]) -> list[str]:
    found = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if not names:
        return [name for name in found if name not in OPT_IN]
    wanted = [n if n.startswith("bench_") or n in OPT_IN else f"bench_{n}" for n in names]
    unknown = [w for w in wanted if w not in found and w not in OPT_IN]
    if unknown:
        raise SystemExit(f"unknown benchmarks {unknown}; available: {found}")
    return wanted


def commands(argv: list[str]) -> list[list[str]]:
    """The module command lines of ``argv``: benchmark names, then (after exactly one
    name) the arguments passed through to it, from the first that starts with ``-``."""
    split = next((i for i, arg in enumerate(argv) if arg.startswith("-")), len(argv))
    names, passed = argv[:split], argv[split:]
    if passed and len(names) != 1:
        raise SystemExit(
            f"arguments {passed} go to one benchmark: name exactly one before them "
            f"(got {names or 'none'}), e.g. python -m bench search --sizes 100000"
        )
    return [[sys.executable, "-m", f"bench.{name}", *passed] for name in modules(names)]


def main(argv: list[str]) -> int:
    failures = 0
    for command in commands(argv):
        name = command[2].removeprefix("bench.")
        print(f"\n######## {' '.join([name, *command[3:]])}", flush=True)
        started = time.perf_counter()
        code = subprocess.call(command, cwd=HERE.parent)
        failures += code != 0
        print(f"######## {name}: exit {code}, {time.perf_counter() - started:.0f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
