"""The racing POSTs of CallbackSender.concurrently, against raw servers over real sockets:
every answer shape HTTP/1.1 allows is read, order is kept, and nothing outlives a failure."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from gameapi_async.testing import CallbackSender, Player
from gameapi_async.testing._race import race

from ..support import AGENT_ID, API_TOKEN

Answer = Callable[[bytes, bytes], Awaitable[bytes]]  # (request head, body) -> answer bytes


@asynccontextmanager
async def raw_server(answer: Answer) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server that reads one request per connection and writes ``answer``'s bytes."""
    heads: list[bytes] = []
    connections: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        head = await reader.readuntil(b"\r\n\r\n")
        heads.append(head)
        length = re.search(rb"Content-Length: (\d+)", head)
        assert length is not None
        body = await reader.readexactly(int(length.group(1)))
        writer.write(await answer(head, body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/wallet/cb?x=1", heads
    finally:
        server.close()
        for writer in connections:
            writer.close()
        await server.wait_closed()


async def echo_length(head: bytes, body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def test_answers_come_back_in_the_order_of_the_requests() -> None:
    async with raw_server(echo_length) as (url, heads):
        answers = await race(url, [(b"body-%d" % i, {"X-Signature": "s"}) for i in range(6)], 30)
    assert answers == [(200, b"body-%d" % i) for i in range(6)]
    assert all(head.startswith(b"POST /wallet/cb?x=1 HTTP/1.1\r\n") for head in heads)
    assert all(b"\r\nHost: 127.0.0.1:" in head and b"\r\nX-Signature: s\r\n" in head
               for head in heads)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 402 Payment Required\r\nContent-Length: 4\r\n"
        b"\r\nnope",
        b"HTTP/1.1 402 Payment Required\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2;ext=1\r\nno\r\n2\r\npe\r\n0\r\nX-Trailer: t\r\n\r\n",
        b"HTTP/1.1 402 Payment Required\r\nConnection: close\r\n\r\nnope",
    ],
    ids=["interim-then-length", "chunked-with-trailer", "until-close"],
)
async def test_every_answer_shape_is_read(answer: bytes) -> None:
    async def fixed(head: bytes, body: bytes) -> bytes:
        return answer

    async with raw_server(fixed) as (url, _):
        assert await race(url, [(b"{}", {})] * 2, 30) == [(402, b"nope")] * 2


async def test_a_refused_connection_raises_and_leaves_nothing_open() -> None:
    async with raw_server(echo_length) as (url, _):
        pass  # closed: the port now refuses
    before = asyncio.all_tasks()
    with pytest.raises(OSError, match=r"[Cc]onnect"):
        await race(url, [(b"{}", {})] * 3, 30)
    assert asyncio.all_tasks() == before


async def test_a_wallet_that_never_answers_is_given_up_on_time() -> None:
    silent = asyncio.Event()

    async def never(head: bytes, body: bytes) -> bytes:
        await silent.wait()
        return b""

    async with raw_server(never) as (url, _):
        with pytest.raises(TimeoutError):
            await race(url, [(b"{}", {})] * 2, 0.5)
        silent.set()


async def test_the_sender_races_signed_bodies() -> None:
    async with raw_server(echo_length) as (url, heads), CallbackSender(
            url, agent_id=AGENT_ID, api_token=API_TOKEN) as sender:
        bodies = [sender.get_balance_body(Player("p")) for _ in range(3)]
        replies = await sender.concurrently(bodies)
    assert [reply.body for reply in replies] == bodies
    assert all(b"\r\nX-Signature: " in head for head in heads)
    assert all(b"\r\nContent-Type: application/json\r\n" in head for head in heads)
    assert API_TOKEN.encode() not in b"".join(heads)
