"""The media store's staging files: written once, swept when their writer died, and
removals that leave no empty hash directories behind."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from app.media_store import EmptyUploadError, MediaStore, UploadTooLargeError

ROOT = Path(__file__).resolve().parents[3]


def entries(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_a_staged_file_is_renamed_into_place_not_copied(tmp_path) -> None:
    store = MediaStore(tmp_path)
    payload = bytes(range(256)) * 4096
    with store.stage() as staged:
        for start in range(0, len(payload), 100_000):
            staged.write(payload[start : start + 100_000])
        assert staged.path.parent == tmp_path and staged.path.name.startswith(".upload-")
        assert staged.finish().read_bytes() == payload  # readable before it is kept
        inode = staged.path.stat().st_ino
        stored = staged.commit()
    assert stored.key == hashlib.sha256(payload).hexdigest() and stored.size == len(payload)
    assert stored.path.stat().st_ino == inode
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [stored.path]


def test_an_uncommitted_stage_leaves_nothing(tmp_path) -> None:
    store = MediaStore(tmp_path)
    with pytest.raises(UploadTooLargeError), store.stage(max_bytes=10) as staged:
        staged.write(b"0123456789")
        staged.write(b"!")
    with pytest.raises(EmptyUploadError), store.stage() as staged:
        staged.commit()
    with store.stage() as staged:
        staged.write(b"checked, then refused")
    assert entries(tmp_path) == []


def test_the_sweep_removes_what_a_killed_writer_left_and_spares_live_ones(tmp_path) -> None:
    store = MediaStore(tmp_path)
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal, sys\n"
            "from app.media_store import MediaStore\n"
            "staged = MediaStore(sys.argv[1]).stage()\n"
            "staged.write(b'half a file' * 1000)\n"
            "staged.finish()\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
            str(tmp_path),
        ],
        cwd=ROOT,
        check=False,
    )
    assert killed.returncode == -9
    leftover = list(tmp_path.glob(".upload-*"))
    assert len(leftover) == 1
    with store.stage() as live:
        live.write(b"arriving")
        assert store.sweep_partial() == 1
        assert not leftover[0].exists() and live.path.exists()
        stored = live.commit()
    assert store.sweep_partial() == 0 and stored.path.read_bytes() == b"arriving"


def test_delete_removes_the_hash_directories_it_empties(tmp_path) -> None:
    store = MediaStore(tmp_path)
    first = store.put_path(_write(tmp_path.parent / "a.bin", b"first"))
    assert entries(tmp_path) == [
        first.key[:2],
        f"{first.key[:2]}/{first.key[2:4]}",
        f"{first.key[:2]}/{first.key[2:4]}/{first.key}",
    ]
    neighbour = store.path_for(first.key[:4] + "0" * 60)  # same ab/cd directory
    neighbour.write_bytes(b"another file")
    store.delete(first.key)
    assert neighbour.exists()  # a directory still in use stays
    store.delete(neighbour.name)
    assert entries(tmp_path) == []
    store.delete(first.key)  # deleting twice is harmless
    again = store.put_path(tmp_path.parent / "a.bin")  # and the store still takes files
    assert again.path.read_bytes() == b"first"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
