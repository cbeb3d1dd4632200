"""Content-addressed media store.

Files are named by the SHA-256 of their bytes (``ab/cd/abcd....``). A file is written
once: into a staging file (``.upload-*`` at the store's root), counted and hashed as it
is written, then renamed into place, so a reader never sees a partial file. A user-supplied
name never becomes a path.

A staging file is locked (``flock``) for as long as its writer has it open; a process
killed mid-write leaves an unlocked one, which :meth:`MediaStore.sweep_partial` removes
(the API does at start-up), whatever else shares the store. Removing a file removes the
hash directories it leaves empty.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_KEY = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1024 * 1024
_STAGING_PREFIX = ".upload-"


class UploadTooLargeError(ValueError):
    """The upload exceeds the configured size limit."""

    def __init__(self, limit_bytes: int):
        super().__init__(f"upload exceeds the limit of {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


class EmptyUploadError(ValueError):
    """The upload has no bytes."""

    def __init__(self) -> None:
        super().__init__("the uploaded file is empty")


@dataclass(frozen=True)
class StoredFile:
    key: str  # the SHA-256 hex digest
    path: Path
    size: int


class StagedFile:
    """A file being written into a store: counted, hashed and locked as it is written.

    :meth:`write` refuses bytes past ``max_bytes`` (:class:`UploadTooLargeError`, nothing
    of them written); :meth:`finish` makes the bytes readable at :attr:`path` (to check
    them before keeping them); :meth:`commit` moves the file into place under its hash;
    :meth:`discard`, or leaving a ``with`` block uncommitted, removes it.
    """

    def __init__(self, store: MediaStore, max_bytes: int | None = None):
        self.store, self.max_bytes = store, max_bytes
        self.size = 0
        self._digest = hashlib.sha256()
        self._file, self.path = store._open_staging()
        self._done = False

    def write(self, data: bytes) -> None:
        if self.max_bytes is not None and self.size + len(data) > self.max_bytes:
            raise UploadTooLargeError(self.max_bytes)
        self.size += len(data)
        self._digest.update(data)
        self._file.write(data)

    @property
    def key(self) -> str:
        """The SHA-256 hex digest of the bytes written so far."""
        return self._digest.hexdigest()

    def finish(self) -> Path:
        """The complete file's path, its bytes flushed; :class:`EmptyUploadError` if none."""
        if self.size == 0:
            raise EmptyUploadError()
        self._file.flush()
        return self.path

    def commit(self) -> StoredFile:
        """Keep the file under its hash (an identical stored file is simply replaced)."""
        self.finish()
        os.fsync(self._file.fileno())
        final = self.store.path_for(self.key)
        self.store._move_into_place(self.path, final)
        self._close()  # after the rename: the lock keeps the sweep away until then
        return StoredFile(self.key, final, self.size)

    def discard(self) -> None:
        """Remove the file if it was not committed (a no-op afterwards)."""
        if not self._done:
            self.path.unlink(missing_ok=True)
            self._close()

    def _close(self) -> None:
        self._done = True
        self._file.close()  # releases the lock

    def __enter__(self) -> StagedFile:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()


class MediaStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"not a media key: {key!r}")
        return self.root / key[:2] / key[2:4] / key

    def stage(self, max_bytes: int | None = None) -> StagedFile:
        """A new staging file to write into (see :class:`StagedFile`)."""
        return StagedFile(self, max_bytes)

    def put(self, stream: BinaryIO, max_bytes: int | None = None) -> StoredFile:
        """Copy ``stream`` into the store; an existing identical file is reused."""
        with self.stage(max_bytes) as staged:
            while chunk := stream.read(_CHUNK):
                staged.write(chunk)
            return staged.commit()

    def put_path(self, path: Path, max_bytes: int | None = None) -> StoredFile:
        with open(path, "rb") as stream:
            return self.put(stream, max_bytes)

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def delete(self, key: str) -> None:
        """Remove the file and the hash directories it leaves empty."""
        remove_stored_file(self.path_for(key))

    def sweep_partial(self) -> int:
        """Remove the staging files no live writer holds (what a killed process left
        half-written); a file being written now is locked and stays. Returns how many."""
        removed = 0
        for path in self.root.glob(f"{_STAGING_PREFIX}*"):
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:  # committed or discarded meanwhile
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _same_file(path, fd):  # still the staging file that was locked
                    path.unlink()
                    removed += 1
            except OSError:  # locked by its writer (or gone): not ours to remove
                pass
            finally:
                os.close(fd)
        return removed

    def _open_staging(self) -> tuple[BinaryIO, Path]:
        """A new staging file, open for writing and locked. A sweep that removed it between
        its creation and the lock is noticed (the name no longer leads to it): try again."""
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            fd, name = tempfile.mkstemp(dir=self.root, prefix=_STAGING_PREFIX)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(Path(name), fd):
                return os.fdopen(fd, "wb"), Path(name)
            os.close(fd)

    def _move_into_place(self, staged: Path, final: Path) -> None:
        """Rename ``staged`` to ``final``; a concurrent :meth:`delete` may remove the
        (empty) hash directories between their creation and the rename: create again."""
        for attempt in range(10):
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(staged, final)  # atomic; identical content makes it idempotent
                return
            except FileNotFoundError:
                if not staged.exists() or attempt == 9:
                    raise


def _same_file(path: Path, fd: int) -> bool:
    """``path`` names the file open as ``fd``."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (info.st_dev, info.st_ino) == (opened.st_dev, opened.st_ino)


def remove_stored_file(path: Path) -> None:
    """Remove a stored file (``root/ab/cd/abcd...``) and the hash directories it leaves
    empty."""
    path = Path(path)
    path.unlink(missing_ok=True)
    for folder in (path.parent, path.parent.parent):
        try:
            folder.rmdir()
        except OSError:  # not empty (another file lives there), or already gone
            break
