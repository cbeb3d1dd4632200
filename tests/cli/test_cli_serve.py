"""``v2m serve`` with no configuration at all: the embedded default."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest


@pytest.mark.slow
def test_serve_with_no_configuration(tmp_path, unused_port: int) -> None:
    port = unused_port
    env = {k: v for k, v in os.environ.items() if not k.startswith("V2M_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "v2m serve did not come up in 60 s"
                time.sleep(0.3)
        assert health.status_code == 200
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"]["ok"] is True
        assert (tmp_path / "var" / "v2m.sqlite3").is_file()  # SQLite under ./var
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "NO API KEYS CONFIGURED" in output
