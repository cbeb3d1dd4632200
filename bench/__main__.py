"""Run every benchmark module (or those named) one after another, each in its own process.

    python -m bench                      # all of them, at their default (modest) sizes
    python -m bench ranking search       # only bench_ranking and bench_search

Each module prints its own table; this runner adds the wall time of each. The
musicnn parity check needs TensorFlow in a separate environment and runs only
when named.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OPT_IN = {"musicnn_parity"}


def modules(names: list[str]) -> list[str]:
    found = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if not names:
        return found
    wanted = [n if n.startswith("bench_") or n in OPT_IN else f"bench_{n}" for n in names]
    unknown = [w for w in wanted if w not in found and w not in OPT_IN]
    if unknown:
        raise SystemExit(f"unknown benchmarks {unknown}; available: {found}")
    return wanted


def main(argv: list[str]) -> int:
    failures = 0
    for name in modules(argv):
        print(f"\n######## {name}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"], cwd=HERE.parent)
        failures += code != 0
        print(f"######## {name}: exit {code}, {time.perf_counter() - started:.0f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
