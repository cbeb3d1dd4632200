"""``v2m``: the command line for what people do in a shell."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

from app.settings import SCOPES, get_settings


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.migrate import downgrade, upgrade

    url = get_settings().sqlalchemy_url
    (downgrade if args.down else upgrade)(url, args.revision or ("base" if args.down else "head"))
    print(f"migrated {url.split('@')[-1]} to {args.revision or ('base' if args.down else 'head')}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app
    from app.migrate import upgrade

    settings = get_settings()
    if settings.sqlalchemy_url.startswith("sqlite") or args.migrate:
        upgrade(settings.sqlalchemy_url)  # embedded default: no separate migrate step
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info",
                timeout_graceful_shutdown=10)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.broker_url:
        print("v2m worker needs a broker: set V2M_BROKER_URL=redis://host:6379/0 "
              "(without one, jobs run inside `v2m serve`)", file=sys.stderr)
        return 2
    argv = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
            "--loglevel", "INFO", "--concurrency", str(args.concurrency),
            "--hostname", args.hostname]
    return subprocess.call(argv, env=os.environ.copy())


def cmd_keys(args: argparse.Namespace) -> int:
    from app.api.security import hash_key
    from app.db.models import ApiKey
    from app.db.session import session_scope

    scopes = sorted(set(args.scopes))
    secret = secrets.token_urlsafe(32)
    with session_scope(get_settings().sqlalchemy_url) as db:
        db.add(ApiKey(name=args.name, key_hash=hash_key(secret), scopes=",".join(scopes)))
    print(secret)
    print(f"key '{args.name}' with scopes {', '.join(scopes)}; shown once, store it now",
          file=sys.stderr)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from app import cli_catalog
    from app.migrate import upgrade

    settings = get_settings()
    upgrade(settings.sqlalchemy_url)
    if args.action == "register":
        print(cli_catalog.register(settings, args.target, args.activate))
    elif args.action == "activate":
        print(cli_catalog.activate(settings, str(args.target)))
    else:
        print(cli_catalog.list_models(settings))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from app import cli_catalog
    from app.migrate import upgrade

    settings = get_settings()
    upgrade(settings.sqlalchemy_url)
    counts = cli_catalog.ingest_paths(settings, args.paths, args.metadata)
    print(", ".join(f"{value} {key}" for key, value in counts.items()))
    return 0 if counts["failed"] == 0 else 1


def cmd_recommend(args: argparse.Namespace) -> int:
    from app import cli_catalog
    from app.api.serving import query_options
    from app.report import results_table

    options = query_options(k=args.k, method=args.method, shortlist=args.shortlist,
                            boundaries=args.boundaries, min_segment_s=args.min_segment_s)
    body = cli_catalog.recommend_file(get_settings(), args.video, options)
    print(cli_catalog.dump_json(body) if args.json else results_table(body))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import DemoConfig, run_demo

    return run_demo(get_settings(), DemoConfig(n_clips=args.clips, seed=args.seed))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="v2m", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)

    p = verbs.add_parser("serve", help="run the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--migrate", action="store_true",
                   help="apply migrations first (always done for SQLite)")
    p.set_defaults(run=cmd_serve)

    p = verbs.add_parser("worker", help="run a Celery worker (needs V2M_BROKER_URL)")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--hostname", default="v2m@%h")
    p.set_defaults(run=cmd_worker)

    p = verbs.add_parser("migrate", help="apply (or revert) database migrations")
    p.add_argument("revision", nargs="?")
    p.add_argument("--down", action="store_true", help="downgrade (default to base)")
    p.set_defaults(run=cmd_migrate)

    p = verbs.add_parser("models", help="list, register or activate models")
    p.add_argument("action", choices=("list", "register", "activate"), nargs="?", default="list")
    p.add_argument("target", nargs="?", type=Path,
                   help="register: an exported model directory; activate: a model name")
    p.add_argument("--activate", action="store_true", help="register: also activate it")
    p.set_defaults(run=cmd_models)

    p = verbs.add_parser("ingest", help="add audio (or music-video) files or folders to the catalog")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--metadata", type=Path,
                   help="CSV with a 'file' column and title, artist, license, tags (a;b), ...")
    p.set_defaults(run=cmd_ingest)

    p = verbs.add_parser("recommend", help="recommend catalog tracks for a video file")
    p.add_argument("video", type=Path)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--method", default="best_trace",
                   choices=("centroid", "trace", "best_trace", "nw_dtw", "sw_dtw"))
    p.add_argument("--shortlist", type=int, default=1000)
    p.add_argument("--boundaries", help="your own cut points in seconds, e.g. 3.2,8,15.5")
    p.add_argument("--min-segment-s", type=float, default=None)
    p.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    p.set_defaults(run=cmd_recommend)

    p = verbs.add_parser("demo", help="the whole job end to end on synthetic and real media")
    p.add_argument("--clips", type=int, default=60, help="synthetic music videos to generate")
    p.add_argument("--seed", type=int, default=2026)
    p.set_defaults(run=cmd_demo)

    from app.cli_ml import add_ml_verbs

    add_ml_verbs(verbs)

    p = verbs.add_parser("keys", help="issue an API key (printed once)")
    p.add_argument("name")
    p.add_argument("--scopes", nargs="+", choices=SCOPES, required=True)
    p.set_defaults(run=cmd_keys)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic.runtime.plugins", "alembic.runtime.migration", "httpx",
                  "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    raise SystemExit(args.run(args))


if __name__ == "__main__":
    main()
