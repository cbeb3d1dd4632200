"""Command line: ``python -m ml.corpora {sources,build}``.

python -m ml.corpora sources
python -m ml.corpora build --world b --out DIR --clips 200 --seed 1 [--jobs 2]
"""

from __future__ import annotations

import argparse
import sys
import time

from ml.corpora.build import FPS, WORLDS, build_corpus
from ml.corpora.sources import PACKAGES, MissingPackageError, find_recordings, missing_packages


def _sources() -> int:
    missing = set(missing_packages())
    for name, pkg in PACKAGES.items():
        if name in missing:
            print(f"{name:24s} MISSING  (apt-get install -y --no-install-recommends {name})")
            continue
        recs = find_recordings([name])
        minutes = sum(r.duration_s for r in recs) / 60
        print(f"{name:24s} {len(recs):4d} recordings {minutes:6.1f} min  licence: {pkg.licence}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml.corpora",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("sources", help="list the Debian packages of recordings and their licences")
    build = sub.add_parser("build", help="build (or resume, or extend) a corpus")
    build.add_argument("--world", required=True, choices=sorted(WORLDS))
    build.add_argument("--out", required=True, help="corpus folder")
    build.add_argument("--clips", type=int, default=None, help="clips to plan (default: all)")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--jobs", type=int, default=1, help="worker processes")
    build.add_argument(
        "--packages",
        default=None,
        help=f"comma-separated source packages (default: all installed of {', '.join(PACKAGES)})",
    )
    build.add_argument("--min-len", type=float, default=20.0, help="shortest excerpt (s)")
    build.add_argument("--max-len", type=float, default=60.0, help="longest excerpt (s)")
    build.add_argument("--max-per-recording", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command == "sources":
        return _sources()
    start = time.monotonic()
    try:
        truth = build_corpus(
            args.out,
            args.world,
            args.clips,
            args.seed,
            packages=args.packages.split(",") if args.packages else None,
            fps=FPS,
            min_len_s=args.min_len,
            max_len_s=args.max_len,
            max_per_recording=args.max_per_recording,
            jobs=args.jobs,
        )
    except (MissingPackageError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seconds = sum(c["duration"] for c in truth["clips"])
    print(
        f"{len(truth['clips'])} clips ({seconds / 60:.1f} min of video), "
        f"{len(truth['skipped'])} skipped, in {time.monotonic() - start:.0f} s: "
        f"{args.out}/truth.json"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
