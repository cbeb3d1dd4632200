"""Limits on what one API process takes on: request bodies and concurrent analyses.

Body size: a declared ``Content-Length`` over the limit is refused before a byte is
read; a chunked body is counted as it arrives and cut off at the limit. Either way
the client gets a JSON 413 and nothing is written.

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


class _TooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, slack_bytes: int = 1 << 20):
        # The slack covers multipart framing and the metadata field around the file.
        self.app, self.limit = app, max_bytes + slack_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0
        exceeded = responded = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise _TooLarge()
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
            responded = responded or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            pass
        if exceeded and not responded:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"error": "too_large",
                           "detail": f"the request body exceeds {self.limit} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class ServiceBusy(Exception):
    """No analysis slot freed up within the allowed wait."""

    def __init__(self, waited_s: float):
        super().__init__(f"the service is analysing other uploads; nothing freed up in "
                         f"{waited_s:g} s, try again shortly")
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
