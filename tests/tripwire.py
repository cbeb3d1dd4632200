"""A named pipe that proves a local file is never opened: shared by the media tests
and the HTTP tests of the FFmpeg protocol whitelist."""

from __future__ import annotations

import os
import threading
from pathlib import Path

BINARY_TAIL = b"\n\x00\x01\x02\xff binary bytes, so that the list does not pass for text\n"


class Tripwire:
    """A named pipe standing in for a local file that must never be read.

    A writer waits on it in a thread: its blocking ``open`` returns only when
    some process opens the pipe for reading, which is then recorded (and handed
    ``payload``, the bytes the real file would hold).
    """

    def __init__(self, path: Path, payload: bytes) -> None:
        self.path, self.payload = path, payload
        self.opened = False
        self._released = False
        os.mkfifo(path)
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # returns once a reader opens the pipe
        if self._released:
            os.close(fd)
            return
        self.opened = True
        try:
            with os.fdopen(fd, "wb") as pipe:
                pipe.write(self.payload)
        except BrokenPipeError:
            pass  # the reader stopped early

    def release(self) -> bool:
        """Unblock the waiting writer; return whether anything opened the pipe."""
        if self._thread.is_alive():
            self._released = True
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            self._thread.join(10)
            os.close(fd)
        return self.opened
