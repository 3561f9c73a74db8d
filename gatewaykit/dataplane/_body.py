"""Request bodies as Envoy streams them: read on demand, never buffered whole.

Envoy routes a request as soon as its headers are decoded, and the router passes body data to
the upstream as it arrives; nothing waits for the whole body. What Envoy does buffer is bounded
by ``per_connection_buffer_limit_bytes`` (listener and cluster; Istio 1.27 leaves it unset, so
Envoy's default of 1 MiB applies -- ``pilot/pkg/networking/core`` never sets it): above that
watermark the connection stops reading (TCP/HTTP/2 flow control pushes back on the client).

The router keeps a copy of the body for retries and mirrors (``retryShadowBufferLimit()``, the
same 1 MiB); when the body outgrows it, Envoy logs "exceeded buffer limit ... Give up on the
retry/shadow", counts ``retry_or_shadow_abandoned`` and streams on without retries or mirrors
(``Filter::decodeData`` in ``source/common/router/router.cc``). :class:`RequestBody` does the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol

__all__ = ["BUFFER_LIMIT", "NO_BODY", "BodySource", "RequestBody"]

#: Envoy's default ``per_connection_buffer_limit_bytes`` (1 MiB), which Istio does not change.
BUFFER_LIMIT = 1024 * 1024


class BodySource(Protocol):
    """Where a codec delivers a request's body from (the downstream connection)."""

    @property
    def complete(self) -> bool:
        """The end of the body was read (END_STREAM / the last chunk)."""
        ...

    @property
    def received(self) -> int:
        """Body bytes read from the client so far (the access log's %BYTES_RECEIVED%)."""
        ...

    async def read(self) -> bytes:
        """The next chunk; ``b""`` at the end of the body.

        Raises:
            ConnectionError: the client went away before the body ended.
        """
        ...


class _NoBody:
    complete = True
    received = 0

    async def read(self) -> bytes:
        return b""


#: The body of a request without one (``GET``, HTTP/2 HEADERS with END_STREAM).
NO_BODY: BodySource = _NoBody()


class RequestBody:
    """The downstream body as the router consumes it, with Envoy's bounded retry/shadow copy.

    Each upstream try iterates :meth:`chunks`: the chunks kept so far, then new ones from the
    client. While the body fits the buffer limit every chunk is kept, so a retry or a mirror
    can send it again; past the limit nothing more is kept (:attr:`replayable` turns False).
    """

    def __init__(self, source: BodySource, *, limit: int = BUFFER_LIMIT) -> None:
        self.source = source
        self.limit = limit
        self._kept: list[bytes] = []
        self._kept_bytes = 0
        self._overflowed = False
        self._copy_wanted = False
        self._copy: bytes | None = None
        self._lock = asyncio.Lock()
        # Set when the body is complete or can no longer be replayed (mirrors wait on it).
        self.settled = asyncio.Event()
        # Set (at loop time ended_at) when the client finished the request: the route timeout
        # starts then.
        self.ended = asyncio.Event()
        self.ended_at = 0.0
        if source.complete:
            self._end()

    @property
    def complete(self) -> bool:
        """The client sent the whole body."""
        return self.source.complete

    @property
    def received(self) -> int:
        """Body bytes read from the client so far."""
        return self.source.received

    @property
    def replayable(self) -> bool:
        """Everything read so far is still kept: another try (or a mirror) can send it."""
        return not self._overflowed

    def want_copy(self) -> None:
        """A mirror will want the whole body: keep a copy of it when it completes (if it fits)."""
        self._copy_wanted = True
        if self.source.complete and not self._overflowed:
            self._copy = b"".join(self._kept)

    async def copy(self) -> bytes | None:
        """Wait for the body to settle; the whole body, or None when it outgrew the buffer."""
        await self.settled.wait()
        copy, self._copy = self._copy, None
        return copy

    def stop_keeping(self) -> None:
        """No further try will send the body again: stop keeping (and free) the retry copy."""
        self._overflowed = True
        self._kept.clear()
        self._kept_bytes = 0
        self.settled.set()

    async def _pull(self) -> bytes:
        async with self._lock:
            chunk = await self.source.read()
        if chunk and not self._overflowed:
            if self._kept_bytes + len(chunk) > self.limit:
                # "The request payload has at least N bytes data which exceeds buffer limit":
                # retries and shadows are given up; the body streams on (router.cc).
                self.stop_keeping()
            else:
                self._kept.append(chunk)
                self._kept_bytes += len(chunk)
        if not chunk:
            self._end()
        return chunk

    def _end(self) -> None:
        if self._copy_wanted and not self._overflowed:
            self._copy = b"".join(self._kept)
        self.ended_at = asyncio.get_running_loop().time()
        self.ended.set()
        self.settled.set()

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the body for one upstream try: what is kept, then the rest as it arrives.

        A second try is only made while :attr:`replayable` (the router checks).
        """
        for chunk in list(self._kept):
            yield chunk
        while not self.source.complete:
            chunk = await self._pull()
            if not chunk:
                break
            yield chunk
