"""Racing requests: HTTP/1.1 POSTs that complete at the server within microseconds.

``CallbackSender.concurrently`` needs what an HTTP client library does not offer: every
connection open and every request written but for its last byte, then all the last bytes
written in one synchronous loop. Through aiohttp each request's last write is a task step of
its own (tens of microseconds apiece), which spreads eight requests over a wallet's race
window; here the spread is a few ``send`` calls. So this module speaks just enough HTTP/1.1
itself: one POST per connection with ``Connection: close``, and answers with a length,
chunked or ended by the close.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

__all__ = ["race"]


async def race(url: str, requests: Sequence[tuple[bytes, Mapping[str, str]]],
               seconds: float) -> list[tuple[int, bytes]]:
    """POST each ``(body, headers)`` to ``url`` on its own connection, all completed at once.

    Returns ``(status, body)`` per request, in order. ``seconds`` bounds the whole race;
    every connection is closed on the way out, whatever happened.
    """
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authority = parts.netloc.rpartition("@")[2]
    context = ssl.create_default_context() if secure else None
    streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        async with asyncio.timeout(seconds):
            opened = await asyncio.gather(*(asyncio.open_connection(
                host, port, ssl=context, server_hostname=host if secure else None)
                for _ in requests), return_exceptions=True)
            streams = [stream for stream in opened if not isinstance(stream, BaseException)]
            for failure in opened:
                if isinstance(failure, BaseException):
                    raise failure
            for (_, writer), (body, headers) in zip(streams, requests, strict=True):
                writer.write(_head(target, authority, body, headers) + body[:-1])
            await asyncio.gather(*(writer.drain() for _, writer in streams))
            for (_, writer), (body, _) in zip(streams, requests, strict=True):
                writer.write(body[-1:])  # the race: no await between these writes
            return list(await asyncio.gather(*(_answer(reader) for reader, _ in streams)))
    finally:
        for _, writer in streams:
            writer.close()
        await asyncio.gather(*(writer.wait_closed() for _, writer in streams),
                             return_exceptions=True)


def _head(target: str, authority: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    lines = [f"POST {target} HTTP/1.1", f"Host: {authority}",
             f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    while True:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        if not 100 <= status < 200:  # an interim answer (100 Continue) precedes the real one
            break
    fields = {name.strip().lower(): value.strip()
              for name, _, value in (line.partition(":") for line in head[1:] if line)}
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return status, await _chunked(reader)
    if "content-length" in fields:
        return status, await reader.readexactly(int(fields["content-length"]))
    return status, await reader.read()  # ended by the close we asked for


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        body += await reader.readexactly(size)
        await reader.readexactly(2)  # the CRLF after each chunk
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, up to the empty line
        pass
    return bytes(body)
