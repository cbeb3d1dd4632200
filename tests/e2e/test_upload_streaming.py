"""Uploads are checked before their body is read, streamed under a byte limit, written once.

Each test runs the real API (uvicorn on loopback, in this process) and sends multipart
bodies made as they are sent, so a large upload never sits in the test's memory. While a
request runs, :class:`HeldBytes` polls the bytes the server holds in files: everything
under its data directory (the database aside) and every file it holds open there or in
the temporary directory, where a spooled form lives as an unnamed file.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.db.models import Model
from app.db.session import get_engine, session_scope
from app.migrate import upgrade
from app.settings import Settings
from cli.demo import LocalServer

MiB = 1 << 20
KEYS = "w-secret=catalog:write;r-secret=recommend"
BOUNDARY = "v2m-upload-test-boundary"


def wav_header(data_bytes: int, rate: int = 44100) -> bytes:
    """A RIFF/WAVE header for ``data_bytes`` of 16-bit mono PCM at ``rate`` Hz."""
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class LazyBody:
    """A multipart/form-data body made as it is sent: an optional ``metadata`` field, then
    the ``file`` part (``head``, then zero bytes up to ``size`` bytes in all).

    ``handed`` counts the bytes given to the HTTP client so far: when the server closes the
    connection the client stops asking for more, so it bounds what the server was sent.
    """

    def __init__(self, size: int, head: bytes = b"", metadata: str | None = None, chunk: int = MiB):
        self.size, self.head, self.chunk = size, head, chunk
        fields = b""
        if metadata is not None:
            fields = (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'.encode()
                + metadata.encode()
                + b"\r\n"
            )
        self.opening = (
            fields
            + (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"'
                f"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode()
        )
        self.closing = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.handed = 0

    def __len__(self) -> int:
        return len(self.opening) + self.size + len(self.closing)

    def content(self) -> bytes:
        """The file part's bytes (for small bodies: what the store should hold)."""
        return self.head + bytes(self.size - len(self.head))

    def __iter__(self) -> Iterator[bytes]:
        yield self._hand(self.opening + self.head)
        left = self.size - len(self.head)
        zeros = bytes(self.chunk)
        while left > 0:
            piece = zeros if left >= self.chunk else bytes(left)
            left -= len(piece)
            yield self._hand(piece)
        yield self._hand(self.closing)

    def _hand(self, data: bytes) -> bytes:
        self.handed += len(data)
        return data

    def headers(self, key: str | None = None, chunked: bool = False) -> dict[str, str]:
        """Headers for this body: chunked (no Content-Length) or with its length declared."""
        headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        if not chunked:
            headers["Content-Length"] = str(len(self))
        if key is not None:
            headers["X-API-Key"] = key
        return headers


class HeldBytes:
    """The most bytes the server held in files at once while the ``with`` block ran, in all
    and outside its media store, polled every millisecond or so."""

    def __init__(self, settings: Settings, spool: Path):
        self.data_dir, self.media_dir = settings.data_dir, settings.media_dir
        self.roots = (str(settings.data_dir), str(spool))
        self.most = self.most_outside_media = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> HeldBytes:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(0.001)

    def _sample(self) -> None:
        files: dict[tuple[int, int], tuple[str, int]] = {}
        for path in self.data_dir.rglob("*"):
            if path.name.startswith("v2m.sqlite3"):
                continue
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode):
                files[(info.st_dev, info.st_ino)] = (str(path), info.st_size)
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
                info = os.stat(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if (
                stat.S_ISREG(info.st_mode)
                and target.startswith(self.roots)
                and "v2m.sqlite3" not in target
            ):
                files[(info.st_dev, info.st_ino)] = (target, info.st_size)
        total = sum(size for _, size in files.values())
        outside = sum(
            size for path, size in files.values() if not path.startswith(str(self.media_dir))
        )
        self.most = max(self.most, total)
        self.most_outside_media = max(self.most_outside_media, outside)


class Service:
    """One API process on a migrated database with an active (file-less) model row: enough
    for the catalog route to accept an upload; its ingest job then fails on the missing
    model files, which these tests never wait for."""

    def __init__(self, root: Path, **overrides):
        self.settings = Settings(data_dir=root / "var", api_keys=KEYS, **overrides)
        upgrade(self.settings.sqlalchemy_url)
        with session_scope(self.settings.sqlalchemy_url) as db:
            db.add(
                Model(
                    name="upload-test",
                    kind="segvmnet",
                    dim=8,
                    active=True,
                    path="upload-test/model.json",
                    checksum="0" * 64,
                )
            )
        self.spool = root / "spool"
        self.spool.mkdir()
        self.server = LocalServer(self.settings)
        self.client = self.server.__enter__()

    def post(
        self, path: str, body: LazyBody, key: str | None = None, chunked: bool = False, **params
    ) -> tuple[httpx.Response, HeldBytes]:
        with HeldBytes(self.settings, self.spool) as held:
            response = self.client.post(
                path, content=iter(body), params=params, headers=body.headers(key, chunked)
            )
        return response, held

    def media_entries(self) -> list[str]:
        media = self.settings.media_dir
        return sorted(p.relative_to(media).as_posix() for p in media.rglob("*"))


@pytest.fixture
def service(tmp_path, monkeypatch) -> Iterator[Service]:
    service = Service(tmp_path)
    # Where the server's temporary files go, so that a spooled form can be seen there.
    monkeypatch.setattr(tempfile, "tempdir", str(service.spool))
    yield service
    service.server.__exit__(None, None, None)


def error_of(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/json", response.text
    body = response.json()
    assert set(body) == {"error", "detail"} and body["detail"], body
    return body["error"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "path, key, status, error",
    [
        ("/catalog/tracks", None, 401, "unauthorized"),
        ("/catalog/tracks", "unknown-key", 401, "unauthorized"),
        ("/catalog/tracks", "r-secret", 403, "forbidden"),
        ("/recommend/video", None, 401, "unauthorized"),
        ("/similar/track", "w-secret", 403, "forbidden"),
    ],
)
def test_a_refused_key_is_answered_before_the_body_is_read(
    service, path, key, status, error
) -> None:
    body = LazyBody(160 * MiB)
    response, held = service.post(path, body, key)
    assert response.status_code == status and error_of(response) == error
    assert held.most <= MiB, f"the server held {held.most} bytes of a refused upload"
    assert body.handed < 64 * MiB, f"the server read on: {body.handed} bytes sent"
    assert service.media_entries() == []


@pytest.mark.slow
def test_a_chunked_upload_over_the_limit_stops_at_the_limit(tmp_path, monkeypatch) -> None:
    service = Service(tmp_path, max_upload_bytes=4 * MiB)
    monkeypatch.setattr(tempfile, "tempdir", str(service.spool))
    try:
        body = LazyBody(160 * MiB, wav_header(160 * MiB))
        response, held = service.post("/catalog/tracks", body, "w-secret", chunked=True)
        assert response.status_code == 413 and error_of(response) == "too_large"
        assert held.most <= 5 * MiB, f"the server held {held.most} bytes"
        assert body.handed < 4 * MiB + 60 * MiB, f"the server read on: {body.handed} bytes"
        assert service.media_entries() == []
    finally:
        service.server.__exit__(None, None, None)


@pytest.mark.slow
def test_an_accepted_upload_is_written_once_into_the_store(service) -> None:
    size = 48 * MiB  # 9.5 minutes of 16-bit mono silence at 44.1 kHz
    body = LazyBody(size, wav_header(size - 44), json.dumps({"title": "long silence"}))
    response, held = service.post("/catalog/tracks", body, "w-secret", chunked=True)
    assert response.status_code == 202, response.text
    assert held.most_outside_media <= MiB, "the upload was spooled outside the media store"
    assert held.most <= size + MiB, f"the server held {held.most} bytes of a {size}-byte upload"
    digest = hashlib.sha256(body.content()).hexdigest()
    assert service.media_entries() == [
        digest[:2],
        f"{digest[:2]}/{digest[2:4]}",
        f"{digest[:2]}/{digest[2:4]}/{digest}",
    ]
    track = service.client.get(
        f"/catalog/tracks/{response.json()['track_id']}", headers={"X-API-Key": "w-secret"}
    ).json()
    assert track["title"] == "long silence"


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, body, status, error",
    [
        (
            "not media",
            LazyBody(40_000, b"these are not the sounds you are looking for\n" * 8),
            415,
            "not_media",
        ),
        ("empty", LazyBody(0), 422, "empty_file"),
        (
            "invalid metadata",
            LazyBody(400_000, wav_header(400_000 - 44), "{title:"),
            422,
            "invalid_metadata",
        ),
    ],
)
def test_a_rejected_upload_leaves_nothing_in_the_store(service, name, body, status, error) -> None:
    response, _ = service.post("/catalog/tracks", body, "w-secret")
    assert response.status_code == status and error_of(response) == error
    assert service.media_entries() == [], f"{name}: the store kept files or directories"


@pytest.mark.slow
def test_a_metadata_field_over_its_limit_gets_413(service) -> None:
    body = LazyBody(400_000, wav_header(400_000 - 44), json.dumps({"title": "x" * (10 * MiB)}))
    response, held = service.post("/catalog/tracks", body, "w-secret")
    assert response.status_code == 413 and error_of(response) == "too_large"
    assert "metadata" in response.json()["detail"]
    assert service.media_entries() == []


@pytest.mark.slow
def test_no_database_connection_is_held_while_an_upload_arrives(service) -> None:
    # The key and the model are looked up before the body is read: the session's
    # connection must go back to the pool before a slow client's upload, or a few
    # of them would hold every connection.
    size = 4 * MiB
    body = b"".join(LazyBody(size, wav_header(size - 44)))
    head = (
        f"POST /catalog/tracks HTTP/1.1\r\nHost: x\r\nX-API-Key: w-secret\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    engine = get_engine(service.settings.sqlalchemy_url)
    with socket.create_connection(("127.0.0.1", service.server.port), timeout=60) as sock:
        sock.sendall(head + body[: len(body) // 2])
        deadline = time.monotonic() + 30
        while not list(service.settings.media_dir.glob(".upload-*")):  # being written
            assert time.monotonic() < deadline, "the upload never reached the store"
            time.sleep(0.01)
        assert engine.pool.checkedout() == 0
        sock.sendall(body[len(body) // 2 :])
        answer = sock.recv(1 << 16)
    assert answer.startswith(b"HTTP/1.1 202"), answer[:200]


def test_a_body_that_is_not_multipart_is_refused(service) -> None:
    response = service.client.post(
        "/catalog/tracks",
        content=b'{"file": "x"}',
        headers={"X-API-Key": "w-secret", "Content-Type": "application/json"},
    )
    assert response.status_code == 422 and error_of(response) == "invalid_request"
    assert "multipart" in response.json()["detail"]


def test_partial_uploads_of_a_killed_process_are_swept_at_start(tmp_path) -> None:
    data_dir = tmp_path / "var"
    stale = [data_dir / "media" / ".upload-k9dead", data_dir / "queries" / ".upload-q9dead"]
    for path in stale:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"\0" * 4096)
    service = Service(tmp_path)
    try:
        assert [p for p in stale if p.exists()] == []
    finally:
        service.server.__exit__(None, None, None)
