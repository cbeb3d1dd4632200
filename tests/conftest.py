"""Suite-wide fixtures: real PostgreSQL and Redis servers on loopback, and what the
service tests of ``app/services`` and the end-to-end tests of ``e2e/`` share: a tiny
MuSimNet export (``tiny_musimnet``) and registry and catalog rows written directly
(``rows``).

Both come from the Debian packages that the install step provides. Each runs on a
free port in a temporary directory for the whole session and is stopped at the
end. PostgreSQL refuses to run as root, so under root it runs as the
``postgres`` system user. Tests needing a server are marked ``postgres`` /
``redis``; a missing server binary is an error, not a skip.

The suite runs on two pytest-xdist workers (``-n 2 --dist loadfile`` in
``pyproject.toml``; ``-n 0`` runs it in one process). Each worker gets its share of
the cores for OpenMP (PyTorch, FAISS): a pool of every core per worker oversubscribes
the machine, and spinning OpenMP threads then slow each other down by orders of
magnitude.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from app.settings import Settings

if "PYTEST_XDIST_WORKER_COUNT" in os.environ:  # set before any test module imports torch
    _share = (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _share)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def _postgres_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server not installed (Debian package 'postgresql'); run scripts/install.sh"
        )
    return Path(candidates[-1]).parent


def _as_postgres_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server; yields a URL template with ``{db}`` for the database name."""
    bindir = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="v2m-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        root.chmod(0o700)
    port = free_port()
    subprocess.run(
        _as_postgres_user(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "v2m",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    log = root / "server.log"
    subprocess.run(
        _as_postgres_user(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
                "-o",
                f"-p {port} -h 127.0.0.1 -k {root} -F -c max_connections=200",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://v2m@127.0.0.1:{port}/{{db}}"
    finally:
        subprocess.run(
            _as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.format(db="postgres").replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.format(db=name)
    from app.db.session import get_engine

    get_engine.cache_clear()  # drop pooled connections before dropping the database
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A Redis server on loopback, in memory only; yields its base URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server not installed (Debian package 'redis-server'); run scripts/install.sh"
        )
    root = Path(tempfile.mkdtemp(prefix="v2m-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'v2m.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each storage test runs against both the embedded default and PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(fixture)


@pytest.fixture
def unused_port() -> int:
    """A TCP port free on loopback right now."""
    return free_port()


@pytest.fixture(scope="session")
def tiny_musimnet(tmp_path_factory) -> Path:
    """A tiny MuSimNet exported to ONNX (random weights, input statistics of generated
    songs): a real similarity model that takes seconds to make."""
    import torch

    from ml.export.musimnet import export_musimnet
    from ml.features.cqt import log_cqt
    from ml.models.musimnet import MuSimNet, MuSimNetConfig, input_statistics
    from ml.synth import timbre_sections

    torch.manual_seed(0)
    model = MuSimNet(
        MuSimNetConfig("autopool", filters=(4, 8, 8, 16, 16), embedding_dim=16, patch_frames=128)
    )
    songs = [
        timbre_sections([3.0, 3.0], pair, [90.0, 125.0], 22050)[0]
        for pair in (("piano", "organ"), ("bell", "saw_synth"), ("pluck", "sine_pad"))
    ]
    model.set_input_statistics(*input_statistics([log_cqt(y, 22050) for y in songs]))
    out = tmp_path_factory.mktemp("tiny-musimnet")
    export_musimnet(model, out, name="tiny-musimnet")
    return out


class CatalogRows:
    """Registry and catalog rows written directly, for tests that need the rows only."""

    @staticmethod
    def video_model(db, name: str, kind: str = "segvmnet"):
        """A video-to-music registry row without files (only its role is read)."""
        from app.db.models import Model

        row = Model(name=name, kind=kind, dim=8, path=f"{name}/model.json", checksum="0" * 64)
        db.add(row)
        db.flush()
        return row

    @staticmethod
    def ready_track(db, settings: Settings, path: Path, title: str, **metadata) -> int:
        """A stored media file and a track marked ready (as if ingested by the video model)."""
        from app.db.models import Track, TrackStatus
        from app.media_store import MediaStore

        stored = MediaStore(settings.media_dir).put_path(path)
        track = Track(
            title=title,
            content_hash=stored.key,
            media_key=stored.key,
            status=TrackStatus.ready,
            duration_s=8.0,
            **metadata,
        )
        db.add(track)
        db.flush()
        return track.id


@pytest.fixture
def rows() -> type[CatalogRows]:
    return CatalogRows
