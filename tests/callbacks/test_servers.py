"""The handler behind real servers: aiohttp's own, uvicorn and hypercorn, over real sockets.

Slow and vanished clients are the point here: a body that never completes gets 408 in our
shape at ``body_timeout`` and the connection is closed; a client that leaves mid-body costs
one short log line. Deadlines in these tests are generous; only the server's is short.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from gameapi_async.callbacks import CallbackHandler

from .servers import SERVERS, recording_logs, serving
from .support import RecordingWallet, body_of, get_balance_data, make_handler, signed

CAP = 1024
BODY_TIMEOUT = 0.5  # the server's deadline; every wait of the test is far longer
PATIENCE = 60.0

Server = tuple[str, int]


@pytest.fixture(scope="module")
def wallet() -> RecordingWallet:
    return RecordingWallet()


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest, wallet: RecordingWallet) -> Iterator[Server]:
    handler = make_handler(wallet, max_body=CAP, body_timeout=BODY_TIMEOUT)
    with serving(request.param, handler) as address:
        yield address


@pytest.fixture(autouse=True)
def _fresh_wallet(wallet: RecordingWallet) -> None:
    wallet.seen.clear()


def head(length: int | None, signature: str = "00", *, close: bool = False) -> bytes:
    framing = b"Transfer-Encoding: chunked" if length is None else b"Content-Length: %d" % length
    return (b"POST /callback HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            + (b"Connection: close\r\n" if close else b"")
            + b"X-Signature: " + signature.encode() + b"\r\n" + framing + b"\r\n\r\n")


def parse(raw: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """Status, headers (lower-case names) and the body, chunked or not."""
    top, _, rest = raw.partition(b"\r\n\r\n")
    lines = top.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding") == b"chunked":
        body = b""
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if not size:
                break
            body, rest = body + rest[:size], rest[size + 2:]
        return status, headers, body
    return status, headers, rest


@pytest.fixture
async def connection(server: Server) -> AsyncIterator[tuple[asyncio.StreamReader,
                                                             asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(*server)
    try:
        yield reader, writer
    finally:
        writer.close()


async def test_a_signed_callback_is_answered(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], wallet: RecordingWallet
) -> None:
    reader, writer = connection
    body = body_of(get_balance_data())
    writer.write(head(len(body), signed(body)["X-Signature"], close=True) + body)
    status, headers, content = parse(await _answer_then_eof(reader))
    assert (status, content) == (200, b'{"content":{"balance":1000.50}}')
    assert headers[b"content-type"] == b"application/json"
    assert len(wallet.seen) == 1


async def _answer_then_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), PATIENCE)


async def _one_answer(reader: asyncio.StreamReader) -> bytes:
    """One whole answer, whatever its framing, without waiting for the connection to close."""
    top = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"\r\ncontent-length:\s*(\d+)", top, re.IGNORECASE)
    if length:
        return top + await reader.readexactly(int(length.group(1)))
    return top + await reader.readuntil(b"\r\n0\r\n\r\n")


def assert_timed_out(raw: bytes) -> None:
    status, headers, content = parse(raw)
    assert status == 408
    assert headers[b"connection"].lower() == b"close"
    assert headers[b"content-type"] == b"application/json"
    assert json.loads(content) == {"error": "request_timeout",
                                   "message": f"body not received within {BODY_TIMEOUT:g} s"}


async def test_a_body_shorter_than_declared_gets_408_and_the_connection_closes(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], wallet: RecordingWallet
) -> None:
    reader, writer = connection
    writer.write(head(CAP) + b'{"agent_id":')  # and then nothing more
    assert_timed_out(await _answer_then_eof(reader))  # read() returns only at the close
    assert wallet.seen == []


async def test_a_trickled_chunked_body_gets_408_and_the_connection_closes(
    server: Server, wallet: RecordingWallet
) -> None:
    """A raw socket, not a StreamReader: a trickled byte can reach the server after its last
    read, so the server's close resets the connection right behind the answer. A StreamReader
    then raises instead of handing over the answer it holds; the socket gives the answer first."""
    loop = asyncio.get_running_loop()
    with socket.create_connection(server, timeout=PATIENCE) as sock:
        sock.setblocking(False)
        await loop.sock_sendall(sock, head(None))
        received = bytearray()

        async def answer_then_eof() -> None:
            while True:
                try:
                    data = await loop.sock_recv(sock, 65536)
                except ConnectionResetError:
                    return  # behind the answer, if there was one: parsed below
                if not data:
                    return
                received.extend(data)

        answer = asyncio.ensure_future(asyncio.wait_for(answer_then_eof(), PATIENCE))

        async def trickle() -> None:  # one byte at a time, each within any per-read timeout
            while not answer.done():
                await loop.sock_sendall(sock, b"1\r\n \r\n")
                await asyncio.wait({answer}, timeout=BODY_TIMEOUT / 5)

        trickling = asyncio.ensure_future(trickle())
        try:
            await answer
        finally:
            trickling.cancel()
            await asyncio.gather(trickling, return_exceptions=True)  # a reset write is expected
    assert_timed_out(bytes(received))
    assert wallet.seen == []


async def test_a_client_hanging_up_mid_body_costs_one_short_log_line(
    server: Server, wallet: RecordingWallet
) -> None:
    with recording_logs("gameapi_async", "aiohttp", "uvicorn", "hypercorn") as logs:
        reader, writer = await asyncio.open_connection(*server)
        writer.write(head(CAP) + b'{"agent_id":')
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        assert await asyncio.to_thread(logs.arrived.wait, PATIENCE)
        # One full exchange after it: the server is past the abandoned request by then.
        reader, writer = await asyncio.open_connection(*server)
        body = body_of(get_balance_data())
        writer.write(head(len(body), signed(body)["X-Signature"]) + body)
        await asyncio.wait_for(reader.readuntil(b"}}"), PATIENCE)
        writer.close()
    ours = [r for r in logs.records if r.levelno >= logging.INFO]
    assert [r.getMessage() for r in ours] == ["callback body not received: the client hung up"]
    assert all(r.exc_info is None and r.levelno < logging.WARNING for r in logs.records)


async def test_body_timeout_is_validated_naming_the_field() -> None:
    for bad in (0, -1, float("nan"), float("inf"), True, "10"):
        with pytest.raises(ValueError, match="body_timeout"):
            make_handler(RecordingWallet(), body_timeout=bad)
    assert make_handler(RecordingWallet(), body_timeout=2).body_timeout == 2.0


def test_handler_default_body_timeout_is_ten_seconds() -> None:
    handler: CallbackHandler = make_handler(RecordingWallet())
    assert handler.body_timeout == 10.0


async def test_a_declared_oversize_body_is_refused_unread_and_the_connection_closes(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], wallet: RecordingWallet
) -> None:
    reader, writer = connection
    writer.write(head(10_000_000))  # only the head: an answer means the body was not awaited
    # Not read to the close: aiohttp first discards the rest of the body for its lingering time.
    status, headers, content = parse(await asyncio.wait_for(_one_answer(reader), PATIENCE))
    assert (status, json.loads(content)["error"]) == (413, "payload_too_large")
    assert headers[b"connection"].lower() == b"close"
    assert wallet.seen == []


async def test_a_chunked_body_over_the_cap_is_refused(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], wallet: RecordingWallet
) -> None:
    reader, writer = connection
    writer.write(head(None) + (b"%x\r\n" % CAP + b"x" * CAP + b"\r\n") * 2 + b"0\r\n\r\n")
    status, headers, content = parse(await _answer_then_eof(reader))
    assert (status, json.loads(content)["error"]) == (413, "payload_too_large")
    assert headers[b"content-type"] == b"application/json"
    assert wallet.seen == []
