"""Content-addressed media store.

Files are named by the SHA-256 of their bytes (``ab/cd/abcd....``), written to a
temporary file in the same directory and renamed into place, so a reader never
sees a partial file and a crash leaves at most an orphaned temporary. A
user-supplied name never becomes a path.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_KEY = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1024 * 1024


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


class MediaStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"not a media key: {key!r}")
        return self.root / key[:2] / key[2:4] / key

    def put(self, stream: BinaryIO, max_bytes: int | None = None) -> StoredFile:
        """Copy ``stream`` into the store; an existing identical file is reused."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise UploadTooLargeError(max_bytes)
                    digest.update(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            if size == 0:
                raise EmptyUploadError()
            key = digest.hexdigest()
            final = self.path_for(key)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)  # atomic; identical content makes it idempotent
            return StoredFile(key, final, size)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def put_path(self, path: Path, max_bytes: int | None = None) -> StoredFile:
        with open(path, "rb") as stream:
            return self.put(stream, max_bytes)

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)
