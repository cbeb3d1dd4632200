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
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level="info",
        timeout_graceful_shutdown=10,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.broker_url:
        print(
            "v2m worker needs a broker: set V2M_BROKER_URL=redis://host:6379/0 "
            "(without one, jobs run inside `v2m serve`)",
            file=sys.stderr,
        )
        return 2
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        str(args.concurrency),
        "--hostname",
        args.hostname,
    ]
    return subprocess.call(argv, env=os.environ.copy())


KEY_ACTIONS = ("issue", "list", "revoke")


def _keys_db():
    from app.db.session import session_scope
    from app.migrate import upgrade

    url = get_settings().sqlalchemy_url
    upgrade(url)
    return session_scope(url)


def cmd_keys_issue(args: argparse.Namespace) -> int:
    from app.api.security import hash_key
    from app.db.models import ApiKey

    scopes = sorted(set(args.scopes))
    secret = secrets.token_urlsafe(32)
    with _keys_db() as db:
        key = ApiKey(name=args.name, key_hash=hash_key(secret), scopes=",".join(scopes))
        db.add(key)
        db.flush()
        key_id = key.id
    print(secret)
    print(
        f"key {key_id} '{args.name}' with scopes {', '.join(scopes)}; shown once, store it now",
        file=sys.stderr,
    )
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from app.db.models import ApiKey

    with _keys_db() as db:
        rows = [
            (
                str(k.id),
                k.name,
                k.scopes,
                k.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                "revoked" if k.revoked else "active",
            )
            for k in db.scalars(select(ApiKey).order_by(ApiKey.id))
        ]
    if not rows:
        print("no key issued", file=sys.stderr)
        return 0
    table = [("id", "name", "scopes", "created (UTC)", "status"), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from app.db.models import ApiKey

    missing = []
    with _keys_db() as db:
        for key_id in args.ids:
            key = db.get(ApiKey, key_id)
            if key is None:
                missing.append(key_id)
            elif key.revoked:
                print(f"key {key_id} '{key.name}' was already revoked")
            else:
                key.revoked = True
                print(f"revoked key {key_id} '{key.name}'")
        db.flush()
        valid_left = db.scalar(select(ApiKey.id).where(ApiKey.revoked.is_(False)).limit(1))
    for key_id in missing:
        print(f"no key with id {key_id} (see `v2m keys list`)", file=sys.stderr)
    if valid_left is None and not get_settings().static_api_keys():
        print(
            "no valid key is left: the API refuses every request until one is issued "
            "(`v2m keys issue NAME --scopes admin`)",
            file=sys.stderr,
        )
    return 1 if missing else 0


def cmd_models(args: argparse.Namespace) -> int:
    from app.migrate import upgrade
    from cli import catalog as cli_catalog

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
    from app.migrate import upgrade
    from cli import catalog as cli_catalog

    settings = get_settings()
    upgrade(settings.sqlalchemy_url)
    counts = cli_catalog.ingest_paths(settings, args.paths, args.metadata)
    print(", ".join(f"{value} {key}" for key, value in counts.items()))
    return 0 if counts["failed"] == 0 else 1


def cmd_recommend(args: argparse.Namespace) -> int:
    from app.services.options import query_options
    from app.services.recommend import QueryError
    from cli import catalog as cli_catalog
    from cli.report import results_table

    try:
        options = query_options(
            k=args.k,
            method=args.method,
            shortlist=args.shortlist,
            boundaries=args.boundaries,
            min_segment_s=args.min_segment_s,
            hubness=args.hubness,
            sync=not args.no_sync,
        )
    except QueryError as exc:
        raise SystemExit(f"v2m recommend: {exc}") from None
    body = cli_catalog.recommend_file(get_settings(), args.video, options)
    print(cli_catalog.dump_json(body) if args.json else results_table(body))
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from app.db.session import session_scope
    from app.services import preview
    from app.services.options import parse_seconds
    from cli.catalog import dump_json
    from ml.edit.render import RenderError

    settings = get_settings()
    try:
        boundaries = parse_seconds(args.boundaries, "boundaries")
        with session_scope(settings.sqlalchemy_url) as db:
            planned = preview.plan_for_video(
                db, settings, args.track_id, args.video, boundaries_s=boundaries, start_s=args.start
            )
        preview.render(planned, args.video, args.output)
    except (ValueError, FileNotFoundError, RenderError) as exc:  # bad input, media or id
        raise SystemExit(f"v2m preview: {exc}") from None
    plan = planned.plan
    if args.json:
        print(dump_json(planned.as_dict()))
    else:
        print(
            f"wrote {args.output}: {len(plan.spans)} spans of track {args.track_id}, "
            f"{len(plan.joins_s)} joins, {plan.n_hit} of {len(plan.cuts)} cuts hit, "
            f"ending: {plan.ending}"
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cli.demo import DemoConfig, run_demo

    config = DemoConfig(n_clips=args.clips, seed=args.seed)
    return run_demo(get_settings(), config, serve=not args.no_serve)


def build_parser() -> argparse.ArgumentParser:
    from app.services.costs import DEFAULT_METHOD, METHODS

    parser = argparse.ArgumentParser(prog="v2m", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)

    p = verbs.add_parser("serve", help="run the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--migrate", action="store_true", help="apply migrations first (always done for SQLite)"
    )
    p.set_defaults(run=cmd_serve)

    p = verbs.add_parser("worker", help="run a Celery worker (needs V2M_BROKER_URL)")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--hostname", default="v2m@%h")
    p.set_defaults(run=cmd_worker)

    p = verbs.add_parser(
        "analyse-sync",
        help="how a folder of music videos is cut to its music: S of cuts on downbeats and "
        "on section changes, the dominant shot length against beat and bar "
        "(docs/method.md §9); `v2m analyse-sync DIR --help` for the options",
        add_help=False,
    )
    p.add_argument("arguments", nargs=argparse.REMAINDER)  # read by ml.sync (see main)

    p = verbs.add_parser("migrate", help="apply (or revert) database migrations")
    p.add_argument("revision", nargs="?")
    p.add_argument("--down", action="store_true", help="downgrade (default to base)")
    p.set_defaults(run=cmd_migrate)

    p = verbs.add_parser("models", help="list, register or activate models")
    p.add_argument("action", choices=("list", "register", "activate"), nargs="?", default="list")
    p.add_argument(
        "target",
        nargs="?",
        type=Path,
        help="register: an exported model directory; activate: a model name",
    )
    p.add_argument("--activate", action="store_true", help="register: also activate it")
    p.set_defaults(run=cmd_models)

    p = verbs.add_parser(
        "ingest", help="add audio (or music-video) files or folders to the catalog"
    )
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument(
        "--metadata",
        type=Path,
        help="CSV with a 'file' column and title, artist, license, tags (a;b), ...",
    )
    p.set_defaults(run=cmd_ingest)

    p = verbs.add_parser("recommend", help="recommend catalog tracks for a video file")
    p.add_argument("video", type=Path)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--method", default=DEFAULT_METHOD, choices=METHODS)
    p.add_argument("--shortlist", type=int, default=1000)
    p.add_argument("--boundaries", help="your own cut points in seconds, e.g. 3.2,8,15.5")
    p.add_argument("--min-segment-s", type=float, default=None)
    p.add_argument(
        "--hubness",
        default="csls",
        choices=("csls", "none"),
        help="correct the cost for hubness against the model's reference videos",
    )
    p.add_argument(
        "--no-sync",
        action="store_true",
        help="rank by the learned cost alone, without the cuts-on-beats evidence",
    )
    p.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    p.set_defaults(run=cmd_recommend)

    p = verbs.add_parser(
        "preview",
        help="render a video with a catalog track edited to it on its bars (MP4)",
        description="Plan the edit of a catalog track under a video (its own bars, joined on "
        "downbeats, section changes on the cuts) and render the video with that music.",
    )
    p.add_argument("video", type=Path)
    p.add_argument("track_id", type=int)
    p.add_argument("-o", "--output", type=Path, required=True, help="the MP4 to write")
    p.add_argument("--boundaries", help="the video's cuts in seconds (default: its shots)")
    p.add_argument("--start", type=float, help="where in the track the video should start (s)")
    p.add_argument("--json", action="store_true", help="print the edit plan as JSON")
    p.set_defaults(run=cmd_preview)

    p = verbs.add_parser("demo", help="the whole job end to end on synthetic and real media")
    p.add_argument("--clips", type=int, default=60, help="synthetic music videos to generate")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument(
        "--no-serve", action="store_true", help="stop at the end instead of serving the page"
    )
    p.set_defaults(run=cmd_demo)

    from cli.ml_verbs import add_ml_verbs

    add_ml_verbs(verbs)

    p = verbs.add_parser(
        "keys",
        help="issue, list or revoke API keys",
        description="Issue, list or revoke the API keys stored in the database. Once a key "
        "has been issued the API requires keys, even after every key is revoked. "
        "`v2m keys NAME --scopes ...` (without `issue`) still issues a key.",
    )
    actions = p.add_subparsers(dest="action", required=True)

    def action(name: str, text: str) -> argparse.ArgumentParser:
        return actions.add_parser(name, help=text, description=text)

    a = action("issue", "issue a key: the secret is printed once, only its hash is stored")
    a.add_argument("name", help="a label for the key (shown by `v2m keys list`)")
    a.add_argument("--scopes", nargs="+", choices=SCOPES, required=True)
    a.set_defaults(run=cmd_keys_issue)
    a = action(
        "list",
        "id, name, scopes, creation time and status of every issued key "
        "(never the secret or its hash)",
    )
    a.set_defaults(run=cmd_keys_list)
    a = action(
        "revoke",
        "revoke keys by id (the id column of `v2m keys list`); a revoked key is refused at once",
    )
    a.add_argument("ids", nargs="+", type=int, metavar="ID")
    a.set_defaults(run=cmd_keys_revoke)
    return parser


def _legacy_keys_argv(argv: list[str]) -> list[str]:
    """`v2m keys NAME --scopes ...`, from before `issue` existed, still issues a key."""
    if argv[:1] == ["keys"] and len(argv) > 1 and argv[1] not in (*KEY_ACTIONS, "-h", "--help"):
        return ["keys", "issue", *argv[1:]]
    return argv


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("alembic.runtime.plugins", "alembic.runtime.migration", "httpx", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["analyse-sync"]:  # its own options and help, those of python -m ml.sync
        from ml.sync.__main__ import main as analyse_sync

        raise SystemExit(analyse_sync(argv[1:]))
    args = build_parser().parse_args(_legacy_keys_argv(argv))
    raise SystemExit(args.run(args))


if __name__ == "__main__":
    main()
