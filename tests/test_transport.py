"""The aiohttp transport: lifetime, redirects and closed sessions over real loopback sockets;
TLS, the response-size cap and the mapping of every failure to a typed error."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import ssl
import subprocess
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryPolicy
from gameapi_async._errors import is_transient
from gameapi_async._pipeline import CallOptions
from gameapi_async._transport import AiohttpTransport

from .support import API_TOKEN, BASE_URL, FakeClock, serve, success

STALL = web.AppKey("stall", asyncio.Event)
ARRIVED = web.AppKey("arrived", asyncio.Event)
HITS = web.AppKey("hits", list[str])
SUCCESS = {"status": "success", "timestamp": "2024-01-01T00:00:00.000Z", "request_id": "r",
           "content": {"games": [], "total": 0}}


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, web.Application]]:
    app = web.Application()
    app[STALL] = asyncio.Event()
    app[ARRIVED] = asyncio.Event()
    app[HITS] = []

    async def stall(request: web.Request) -> web.Response:
        app[HITS].append(request.path)
        app[ARRIVED].set()
        await app[STALL].wait()
        if request.path.endswith("/get_game_link"):
            return web.json_response({**SUCCESS, "content": {"url": "https://g.example/play"}})
        return web.json_response(SUCCESS)

    async def ok(request: web.Request) -> web.Response:
        app[HITS].append(request.path)
        return web.json_response(SUCCESS)

    async def redirect(request: web.Request) -> web.Response:
        app[HITS].append(request.path)
        raise web.HTTPTemporaryRedirect("/elsewhere/api/games/list")

    app.router.add_post("/stall/api/games/list", stall)
    app.router.add_post("/stall/api/games/get_game_link", stall)
    app.router.add_post("/ok/api/games/list", ok)
    app.router.add_post("/elsewhere/api/games/list", ok)
    app.router.add_post("/redirect/api/games/list", redirect)
    async with serve(app) as url:
        try:
            yield url, app
        finally:
            app[STALL].set()


async def test_real_round_trip(server: tuple[str, web.Application]) -> None:
    url, _ = server
    async with GameApiClient(base_url=f"{url}/ok", agent_id=1, api_token="t") as client:
        games = await client.list_games()
    assert games.total == 0
    assert games.request_id == "r"


async def test_close_during_a_request_fails_it_cleanly(
    server: tuple[str, web.Application],
) -> None:
    url, app = server
    client = GameApiClient(base_url=f"{url}/stall", agent_id=1, api_token="t")
    call = asyncio.create_task(client.list_games())
    await app[ARRIVED].wait()
    await client.close()
    with pytest.raises(ga.ClientClosedError):
        await call


async def test_close_leaves_a_link_call_in_flight_on_a_callers_session_to_finish(
    server: tuple[str, web.Application],
) -> None:
    url, app = server
    async with aiohttp.ClientSession() as session:
        client = GameApiClient(base_url=f"{url}/stall", agent_id=1, api_token="t",
                               session=session)
        call = asyncio.create_task(client.get_game_link(
            game_id=1, player_id="p", player_username="u", language="en", currency="USD",
            home_url="https://c.example", agent_session_id="s", ip="203.0.113.1"))
        await app[ARRIVED].wait()
        await client.close()
        assert not session.closed  # the caller's session, and its connections, are the caller's
        app[STALL].set()
        assert (await call).url == "https://g.example/play"
        with pytest.raises(ga.ClientClosedError):
            await client.list_games()


async def test_redirects_are_not_followed(server: tuple[str, web.Application]) -> None:
    url, app = server
    async with GameApiClient(base_url=f"{url}/redirect", agent_id=1, api_token="t") as client:
        with pytest.raises(ga.MalformedResponseError) as caught:
            await client.list_games()
    assert caught.value.http_status == 307
    assert app[HITS] == ["/redirect/api/games/list"]


async def test_a_closed_session_passed_in_is_a_typed_error(
    server: tuple[str, web.Application],
) -> None:
    url, _ = server
    session = aiohttp.ClientSession()
    await session.close()
    client = GameApiClient(base_url=f"{url}/ok", agent_id=1, api_token="t", session=session)
    with pytest.raises(ga.ClientClosedError, match="session"):
        await client.list_games()
    await client.close()


async def test_connection_refused_is_a_network_error() -> None:
    # Bind a port, then free it, so nothing listens there.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    async with GameApiClient(base_url=f"http://127.0.0.1:{port}", agent_id=1,
                             api_token="t") as client:
        with pytest.raises(ga.NetworkError):
            await client.with_options(retry=ga.RetryPolicy.disabled()).list_games()




def test_client_timeouts_are_reused_and_their_cache_stays_bounded() -> None:
    transport = AiohttpTransport(BASE_URL, max_response_bytes=1024)
    usual = CallOptions(timeout=10.0, connect_timeout=5.0)
    assert transport._client_timeout(usual) is transport._client_timeout(usual)
    # Deadline-capped attempts get timeouts like 3.71828 s: one new key each.
    for i in range(10_000):
        transport._client_timeout(CallOptions(timeout=1 + i / 7919, connect_timeout=5.0))
    assert len(transport._timeouts) <= 64
    made = transport._client_timeout(usual)
    assert (made.total, made.sock_connect) == (10.0, 5.0)


# -- TLS: verification on by default; a private CA through an ssl context ----------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    assert shutil.which("openssl"), "install openssl (apt-get install openssl); .ci/run does"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


@pytest.fixture
async def https_url(certificate: tuple[Path, Path]) -> AsyncIterator[str]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def handle(request: web.Request) -> web.Response:
        return web.json_response({"status": "success", "request_id": "r",
                                  "content": {"games": [], "total": 0}})

    app = web.Application()
    app.router.add_post("/api/games/list", handle)
    async with serve(app, ssl_context=context) as url:
        yield url


async def test_an_untrusted_certificate_is_refused_by_default(https_url: str) -> None:
    async with GameApiClient(base_url=https_url, agent_id=1, api_token="t",
                             retry=RetryPolicy.disabled()) as client:
        with pytest.raises(ga.TransportError) as caught:
            await client.list_games()
    assert "certificate" in str(caught.value).lower() or "ssl" in str(caught.value).lower()


async def test_a_private_ca_is_trusted_through_an_ssl_context(
    https_url: str, certificate: tuple[Path, Path]
) -> None:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    async with GameApiClient(base_url=https_url, agent_id=1, api_token="t", ssl=context) as c:
        assert (await c.list_games()).total == 0


# -- the response-size cap: an oversized answer is refused unread ------------------------

SENT = web.AppKey("sent", list[int])
CAP = 64 * 1024
TOTAL = 64 * 1024 * 1024  # what the server would send if the client read it all


@pytest.fixture
async def streaming_server() -> AsyncIterator[tuple[str, web.Application]]:
    app = web.Application()
    app[SENT] = []

    async def stream(request: web.Request, *, declare_length: bool) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if declare_length:
            response.content_length = TOTAL
        await response.prepare(request)
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < TOTAL:
                await response.write(chunk)
                sent += len(chunk)
                await asyncio.sleep(0)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should
        finally:
            app[SENT].append(sent)
        return response

    async def declared(request: web.Request) -> web.StreamResponse:
        return await stream(request, declare_length=True)

    async def chunked(request: web.Request) -> web.StreamResponse:
        return await stream(request, declare_length=False)

    async def small(request: web.Request) -> web.Response:
        return web.json_response({"status": "success", "request_id": "r",
                                  "content": {"games": [], "total": 0}})

    app.router.add_post("/declared/api/games/list", declared)
    app.router.add_post("/chunked/api/games/list", chunked)
    app.router.add_post("/small/api/games/list", small)
    async with serve(app) as url:
        yield url, app


@pytest.mark.parametrize("kind", ["declared", "chunked"])
async def test_oversized_answers_are_refused_early(
    streaming_server: tuple[str, web.Application], kind: str
) -> None:
    url, app = streaming_server
    async with GameApiClient(base_url=f"{url}/{kind}", agent_id=1, api_token="t",
                             max_response_bytes=CAP, retry=RetryPolicy.disabled()) as client:
        with pytest.raises(ga.ResponseTooLargeError) as caught:
            await client.list_games()
        assert caught.value.http_status == 200
        assert str(CAP) in str(caught.value)
        ok = GameApiClient(base_url=f"{url}/small", agent_id=1, api_token="t")
        assert (await ok.list_games()).total == 0  # the same machinery still works
        await ok.close()
    for _ in range(100):
        if app[SENT]:
            break
        await asyncio.sleep(0.02)
    (sent,) = app[SENT]
    assert sent < TOTAL // 4  # the client hung up long before the end


async def test_answers_under_the_cap_are_read_whole(
    streaming_server: tuple[str, web.Application]
) -> None:
    url, _ = streaming_server
    async with GameApiClient(base_url=f"{url}/small", agent_id=1, api_token="t",
                             max_response_bytes=200) as client:
        assert (await client.list_games()).total == 0


async def test_too_large_is_not_retried(streaming_server: tuple[str, web.Application]) -> None:
    url, _ = streaming_server
    async with GameApiClient(base_url=f"{url}/declared", agent_id=1, api_token="t",
                             max_response_bytes=CAP) as client:
        with pytest.raises(ga.ResponseTooLargeError) as caught:
            await client.list_games()
    assert caught.value.attempts == 1


# -- hostile transport: decoded size, raw socket/TLS/short-read errors -------------------

BASE = "https://api.example.test"
LIST = BASE + "/api/games/list"
BOMB = 64 * 1024 * 1024  # decoded size of the compressed answers below


def client(**overrides: Any) -> GameApiClient:
    settings: dict[str, Any] = {"base_url": BASE, "agent_id": 1, "api_token": API_TOKEN,
                                "retry": RetryPolicy.disabled(), "games_ttl": 0}
    settings.update(overrides)
    return GameApiClient(**settings)


# -- the size cap counts decoded bytes ---------------------------------------------------

def _bomb(encoding: str) -> bytes:
    plain = b" " * BOMB
    if encoding == "gzip":
        return gzip.compress(plain, compresslevel=9)
    return zlib.compress(plain, 9)


@pytest.fixture
async def bomb_server() -> AsyncIterator[str]:
    bombs = {name: _bomb(name) for name in ("gzip", "deflate")}

    async def answer(request: web.Request) -> web.StreamResponse:
        encoding = request.match_info["encoding"]
        body = bombs[encoding]
        declared = request.match_info["framing"] == "declared"
        response = web.StreamResponse(headers={"Content-Type": "application/json",
                                               "Content-Encoding": encoding})
        if declared:
            response.content_length = len(body)
        await response.prepare(request)
        try:
            for start in range(0, len(body), 16384):
                await response.write(body[start:start + 16384])
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client hung up
        return response

    app = web.Application()
    app.router.add_post("/{encoding}/{framing}/api/games/list", answer)
    async with serve(app) as url:
        yield url


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("framing", ["declared", "chunked"])
async def test_compressed_answer_inflating_past_the_cap_is_refused(
    bomb_server: str, encoding: str, framing: str
) -> None:
    assert len(_bomb(encoding)) < CAP  # small on the wire, huge once decoded
    async with client(base_url=f"{bomb_server}/{encoding}/{framing}",
                      max_response_bytes=CAP) as c:
        with pytest.raises(ga.ResponseTooLargeError) as caught:
            await c.list_games()
    assert caught.value.http_status == 200
    assert str(CAP) in str(caught.value)


async def test_compressed_answer_under_the_cap_is_decoded() -> None:
    body = gzip.compress(json.dumps(success({"games": [], "total": 0})).encode())

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": "application/json",
                                                "Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_post("/api/games/list", answer)
    async with serve(app) as url, client(base_url=url, max_response_bytes=CAP) as c:
        assert (await c.list_games()).total == 0


# -- transport-level exceptions become NetworkError --------------------------------------

@pytest.mark.parametrize("raised", [
    OSError("No route to host"),
    ConnectionResetError("reset"),
    ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] bad record mac"),
    asyncio.IncompleteReadError(b"partial", 100),
    aiohttp.ClientPayloadError("Response payload is not completed"),
    EOFError("eof"),
], ids=lambda e: type(e).__name__)
async def test_raw_transport_exceptions_become_network_errors(
    mock: aioresponses, raised: BaseException
) -> None:
    mock.post(LIST, exception=raised)
    async with client() as c:
        with pytest.raises(ga.NetworkError) as caught:
            await c.list_games()
    assert caught.value.__cause__ is raised
    assert "list_games" in str(caught.value)
    assert is_transient(caught.value)


async def test_a_raw_oserror_is_retried_then_succeeds(mock: aioresponses) -> None:
    mock.post(LIST, exception=OSError("reset"))
    mock.post(LIST, payload=success({"games": [], "total": 0}))
    async with client(retry=RetryPolicy(attempts=2), clock=FakeClock()) as c:
        assert (await c.list_games()).total == 0


async def test_unexpected_exceptions_inside_the_transport_are_typed(mock: aioresponses) -> None:
    mock.post(LIST, exception=RuntimeError("aiohttp internal surprise"))
    async with client() as c:
        with pytest.raises(ga.TransportError):
            await c.list_games()


async def test_cancellation_still_propagates_untouched(mock: aioresponses) -> None:
    mock.post(LIST, exception=asyncio.CancelledError())
    async with client() as c:
        with pytest.raises(asyncio.CancelledError):
            await c.list_games()
