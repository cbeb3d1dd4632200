"""Write a synthetic corpus from the command line.

    python -m ml.synth OUT_DIR [--clips 300] [--seed 0] [--min-duration 20]
        [--max-duration 40] [--workers 2] [--track-format flac]

Resumable: run the same command again after an interruption.
"""

from __future__ import annotations

import argparse

from ml.synth.corpus import generate_corpus


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.synth", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--clips", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-duration", type=float, default=20.0)
    parser.add_argument("--max-duration", type=float, default=40.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--track-format", default="flac", help="audio-only track extension, or 'none'"
    )
    args = parser.parse_args(argv)
    manifest = generate_corpus(
        args.out_dir,
        args.clips,
        args.seed,
        min_duration_s=args.min_duration,
        max_duration_s=args.max_duration,
        workers=args.workers,
        track_format=None if args.track_format.lower() == "none" else args.track_format,
        progress=True,
    )
    total_s = sum(record.duration_s for record in manifest)
    print(
        f"{len(manifest)} clips, {total_s / 60:.1f} min, manifest at {manifest.root / 'manifest.json'}"
    )


if __name__ == "__main__":
    main()
