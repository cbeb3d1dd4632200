"""A stopped API leaves no process behind: the analysis worker dies with the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.db.session import session_scope
from app.migrate import upgrade
from app.services.models import register_model
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process, None once it is gone (or a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] in ("Z", "X") else (fields[0], int(fields[1]))


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = stat[1]
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture
def served(tiny_demo, tmp_path, unused_port):
    """``v2m serve`` as its own process, on a catalog with the tiny model active."""
    settings = Settings(data_dir=tmp_path / "var")
    upgrade(settings.sqlalchemy_url)
    with session_scope(settings.sqlalchemy_url) as db:
        register_model(db, tiny_demo / "model", settings.model_dir, activate=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("V2M_")}
    env["V2M_DATA_DIR"] = str(settings.data_dir)
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--port", str(unused_port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{unused_port}", timeout=60)

    def up() -> bool:
        assert server.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            return client.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, 120, "v2m serve did not come up")
    seen: set[int] = set()  # children a test saw: killed at the end, should they survive
    yield server, client, seen
    client.close()
    for pid in {server.pid, *descendants(server.pid), *seen}:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.wait(30)


def analysis_workers(pid: int) -> set[int]:
    """The analysis worker processes (multiprocessing children) below ``pid``."""
    return {p for p in descendants(pid) if "multiprocessing" in " ".join(left_behind({p}))}


def start_ingest(client, driver) -> str:
    return f"/jobs/{driver.upload(client, driver.clip_ids()[0])['job_id']}"


def finished(client, job_url: str) -> bool:
    return client.get(job_url).json()["status"] in ("succeeded", "failed")


@pytest.mark.slow
def test_sigterm_after_an_ingest_stops_the_analysis_worker(served, driver) -> None:
    server, client, seen = served
    job_url = start_ingest(client, driver)
    wait_for(lambda: finished(client, job_url), 600, "the ingest did not finish")
    assert analysis_workers(server.pid), "the ingest ran no analysis worker"
    children = descendants(server.pid)
    seen |= children

    server.send_signal(signal.SIGTERM)
    server.wait(120)
    wait_for(
        lambda: all(_stat(pid) is None for pid in children),
        30,
        f"processes left behind: {left_behind(children)}",
    )


@pytest.mark.slow
def test_sigterm_during_an_analysis_leaves_no_process(served, driver) -> None:
    server, client, seen = served
    job_url = start_ingest(client, driver)
    wait_for(lambda: analysis_workers(server.pid), 300, "no analysis worker was started")
    assert not finished(client, job_url)
    children = descendants(server.pid)
    seen |= children

    server.send_signal(signal.SIGTERM)
    server.wait(300)
    wait_for(
        lambda: all(_stat(pid) is None for pid in children),
        30,
        f"processes left behind: {left_behind(children)}",
    )


@pytest.mark.slow
def test_the_analysis_worker_dies_with_a_killed_server(served, driver) -> None:
    server, client, seen = served
    job_url = start_ingest(client, driver)
    wait_for(lambda: finished(client, job_url), 600, "the ingest did not finish")
    workers = analysis_workers(server.pid)
    assert workers, "the ingest ran no analysis worker"
    seen |= descendants(server.pid)

    server.kill()  # no clean-up at all: the worker must notice by itself
    server.wait(30)
    wait_for(
        lambda: all(_stat(pid) is None for pid in workers),
        15,
        f"processes left behind: {left_behind(workers)}",
    )


def left_behind(pids: set[int]) -> list[str]:
    """The command lines of the processes of ``pids`` still alive."""
    lines = []
    for pid in sorted(pids):
        if _stat(pid) is not None:
            try:
                lines.append(
                    Path(f"/proc/{pid}/cmdline")
                    .read_bytes()
                    .replace(b"\0", b" ")
                    .decode(errors="replace")[:200]
                )
            except FileNotFoundError:
                pass
    return lines
