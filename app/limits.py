"""Limits on what one API process takes on: request bodies and concurrent analyses.

Body size: a declared ``Content-Length`` over the limit is refused before a byte is
read; a chunked body is counted as it arrives and cut off at the limit. Either way
the client gets a JSON 413 and nothing is written. (The upload routes stop sooner: at
the limit on the file itself, see :mod:`app.api.uploads`.)

An answer given before the request's body was read to its end (a refused key, a body
over the limit) closes the connection (``Connection: close``): the client stops
sending, and the server does not read and throw away the rest, however large.

Analyses: decoding, shot detection and feature extraction of an uploaded file each
use every core already, so twenty of them side by side only multiply memory and make
every answer late. :class:`AnalysisSlots` lets a few run and queues the rest, for at
most a configured wait, after which the client is told the service is busy (503).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.media_store import UploadTooLargeError


class _TooLarge(UploadTooLargeError):
    """The body passed the limit while it was read (answered 413 whoever catches it)."""


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, slack_bytes: int = 1 << 20):
        # The slack covers multipart framing and the metadata field around the file.
        self.app, self.limit = app, max_bytes + slack_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0
        exceeded = responded = False
        body_read = not has_body(headers)

        async def counting_receive() -> Message:
            nonlocal received, exceeded, body_read
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise _TooLarge(self.limit)
                body_read = body_read or not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app answers once the body was cut off (FastAPI turns a
            # failed body read into a 400), the client is told the real reason.
            nonlocal responded
            if exceeded:
                if not responded:
                    responded = True
                    await self._refuse(send)
                return
            if message["type"] == "http.response.start":
                responded = True
                if not body_read:
                    message = closing(message)
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            pass
        if exceeded and not responded:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"error": "too_large", "detail": f"the request body exceeds {self.limit} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def has_body(headers: dict[bytes, bytes]) -> bool:
    """The request (its lower-case header names and values) announces a body."""
    length = headers.get(b"content-length", b"0").strip()
    return b"transfer-encoding" in headers or not (length.isdigit() and int(length) == 0)


def closing(start: Message) -> Message:
    """An ``http.response.start`` message that also closes the connection."""
    kept = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"connection"]
    return {**start, "headers": [*kept, (b"connection", b"close")]}


class ServiceBusy(Exception):
    """No analysis slot freed up within the allowed wait."""

    def __init__(self, waited_s: float):
        super().__init__(
            f"the service is analysing other uploads; nothing freed up in "
            f"{waited_s:g} s, try again shortly"
        )
        self.waited_s = waited_s


class AnalysisSlots:
    """At most ``slots`` analyses at once; a caller waits up to ``wait_s`` for its turn."""

    def __init__(self, slots: int, wait_s: float):
        if slots < 1:
            raise ValueError(f"need at least one analysis slot, got {slots}")
        self._free = threading.BoundedSemaphore(slots)
        self.slots, self.wait_s = slots, wait_s

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the ``with`` block; raise :class:`ServiceBusy` after the wait."""
        if not self._free.acquire(timeout=self.wait_s):
            raise ServiceBusy(self.wait_s)
        try:
            yield
        finally:
            self._free.release()

    def close(self) -> None:
        """Stop the child process that analyses run in (madmom's downbeat worker, spawned on
        first use), after the analysis in progress. Called when the API shuts down: uvicorn
        then ends the process with the very signal that stopped it (SIGTERM, re-raised),
        which skips ``atexit``, so a worker not stopped here would outlive the server."""
        from ml.pipeline.analysis import shutdown_worker

        shutdown_worker()
