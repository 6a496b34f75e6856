"""``FakePlatform``: a faithful local stand-in for the games platform, on a real socket.

It answers as the platform's API reference says, envelope and HTTP status for every error
code, and checks signatures the strict way a PHP platform does: it decodes the body, re-encodes
it PHP-canonically and verifies the HMAC over *those* bytes. A client that signs anything else
(say, ``/`` unescaped) is refused here exactly as it would be in production.

Checks run in this order, the first failure answering:

1. the path is a platform method (else 404 ``not_found``, whatever the method: the reference
   documents no code for it) and the method is POST (else 405 ``method_not_allowed`` with
   ``Allow: POST``);
2. ``X-Signature`` present (else 401 ``signature_required``);
3. body is a JSON object with an integer ``agent_id`` (else 422 ``validation_error``);
4. the agent exists (404 ``agent_not_found``) and has a token (404 ``api_token_not_found``);
5. the signature matches the canonical re-encoding (403 ``invalid_signature``);
6. ``timestamp`` is an integer within 300 s of the fake's clock (422, or 400 ``request_expired``);
7. the endpoint's parameters are present and well-formed (422 ``validation_error`` naming one);
8. the game exists (404 ``game_not_found``), is enabled for the agent (403
   ``game_not_available``) and, for a demo link, has a demo (404 ``game_provider_not_found``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import formatdate
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self
from urllib.parse import quote

import attrs
from aiohttp import web

from .._canonical import encode_object
from .._errors import InvalidParameterError
from .._models import Game
from .._protocol import ENDPOINTS, GET_GAME_LINK_DEMO, LIST_GAMES, Endpoint
from .._signing import verify
from .._validation import RULES
from ._catalogue import DEFAULT_GAMES
from ._faults import (
    ERRORS,
    INJECTED_ERRORS,
    Faults,
    ScriptedResponse,
    error_message,
    injected_error,
)

if TYPE_CHECKING:
    from ._callbacks import CallbackSender

__all__ = ["FakePlatform", "RecordedRequest"]

MAX_SKEW: Final = 300  # seconds, as the platform enforces
_LINK_HOST: Final = "https://games.fake-platform.test"


@attrs.frozen
class RecordedRequest:
    """One request as the fake received it, and how it answered.

    Attributes:
        method: the HTTP method.
        path: the request path, such as ``/api/games/list``.
        headers: the request headers.
        body: the raw body bytes, as the client sent them.
        json: the decoded body, or ``None`` when it was not JSON.
        status: the HTTP status answered (``0`` when the connection was dropped).
        outcome: ``"success"``, the error code answered, ``"injected"``, ``"dropped"`` or
            ``"scripted"``.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    json: Any  # the decoded body, or None when it was not JSON
    status: int  # HTTP status answered (0 when the connection was dropped)
    outcome: str  # "success", an error code, "injected", "dropped" or "scripted"


class _Answer(Exception):
    """Internal: stop checking and answer with this error envelope."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        status_, default_message = ERRORS.get(code, (404, "Not found"))
        super().__init__(message or default_message)
        self.status = status if status is not None else status_
        self.code = code
        self.message = message or default_message
        self.headers = dict(headers or {})


def _invalid(field: str, problem: str) -> _Answer:
    return _Answer("validation_error", f"{field}: {problem}")


def _reachable(host: str) -> str:
    """The address a client on this machine dials: loopback for "every address"."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:  # 0.0.0.0 or ::, which accept but cannot be dialled
        return "127.0.0.1" if address.version == 4 else "::1"
    return host


class FakePlatform:
    """A local platform: ``async with FakePlatform(agent_id=1, api_token="t") as fake:``.

    Every parameter is keyword-only.

    Parameters:
        agent_id: the one agent of the common case.
        api_token: that agent's token.
        agents: more agents, ``{agent_id: token}``; a ``None`` token is an agent with no token
            configured (``api_token_not_found``).
        games: the catalogue (default: 24 plausible games, demo and non-demo).
        unavailable_games: game ids disabled for every agent (``game_not_available``); see
            also ``set_unavailable()`` for one agent.
        faults: a ``Faults`` (also reachable, and changeable, as ``fake.faults``).
        seed: seeds the RNG behind fault injection and links, for repeatable runs.
        host: the address to listen on (default loopback).
        port: the port to listen on (default ``0``: a free port).
        clock: the fake's wall clock (default ``time.time``); ``faults.clock_offset`` is added.

    Attributes:
        agents: ``{agent_id: token}``, changeable between requests.
        games: the catalogue, ``{game_id: Game}``, changeable between requests.
        faults: the faults in force, changeable while running.
        requests: every request received, in order, as ``RecordedRequest``.
    """

    def __init__(
        self,
        *,
        agent_id: int | None = 1,
        api_token: str | None = "test-token",
        agents: Mapping[int, str | None] | None = None,
        games: Iterable[Game] | None = None,
        unavailable_games: Collection[int] = (),
        faults: Faults | None = None,
        seed: int | None = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.agents: dict[int, str | None] = {}
        if agent_id is not None:
            self.agents[agent_id] = api_token
        self.agents.update(agents or {})
        self.games: dict[int, Game] = {g.id: g for g in (DEFAULT_GAMES if games is None else games)}
        self._unavailable_everywhere = set(unavailable_games)
        self._unavailable: dict[int, set[int]] = {}
        self.faults = faults if faults is not None else Faults()
        self.faults.validate()
        self.requests: list[RecordedRequest] = []
        self._scripted: deque[ScriptedResponse] = deque()
        self._rng = random.Random(seed)
        self._clock = clock
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._stalls: set[asyncio.Future[None]] = set()
        self._outage: tuple[int, float] | None = None  # (status, monotonic end) while down

    # -- lifetime -------------------------------------------------------------------------

    async def start(self) -> Self:
        """Start serving; returns the fake, so ``fake = await FakePlatform().start()`` works."""
        if self._runner is not None:
            raise RuntimeError("the fake platform is already running")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:  # say, the port is taken: leave nothing half-open behind
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        host = _reachable(host)
        host = f"[{host}]" if ":" in host else host
        self._base_url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        """Stop serving and close every connection. Idempotent."""
        runner, self._runner = self._runner, None
        for stall in self._stalls:
            stall.cancel()
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: pass it as the client's ``base_url``.

        Served on every address (``host="0.0.0.0"`` or ``"::"``), it names loopback, which is
        what a client on this machine can dial (and the SDK accepts over plain http).
        """
        if self._base_url is None:
            raise RuntimeError("the fake platform is not running; start() it first")
        return self._base_url

    def __repr__(self) -> str:
        where = self._base_url or "not running"
        return f"<FakePlatform {where} agents={sorted(self.agents)} games={len(self.games)}>"

    # -- configuration --------------------------------------------------------------------

    def now(self) -> float:
        """The fake's clock: its wall clock plus ``faults.clock_offset``."""
        return self._clock() + self.faults.clock_offset

    def set_unavailable(self, agent_id: int, game_ids: Iterable[int]) -> None:
        """Disable these games for one agent."""
        self._unavailable[agent_id] = set(game_ids)

    def script(self, *responses: ScriptedResponse) -> None:
        """Queue canned answers; each is used once, by the next request it matches."""
        self._scripted.extend(responses)

    def callback_sender(self, url: str, *, agent_id: int | None = None) -> CallbackSender:
        """The platform's other side: signed callbacks to an agent's wallet ``url``.

        Signs with the token of ``agent_id`` (default: the first agent). Close it with
        ``async with`` or ``aclose()``. See docs/callbacks.md.
        """
        from ._callbacks import CallbackSender

        agent = next(iter(self.agents)) if agent_id is None else agent_id
        token = self.agents.get(agent)
        if token is None:
            raise ValueError(f"agent {agent} is not known to this fake or has no token")
        return CallbackSender(url, agent_id=agent, api_token=token)

    # -- an outage, then a recovery -------------------------------------------------------

    def go_down(self, *, seconds: float | None = None, status: int = 503) -> None:
        """Play an outage: every request is answered ``status`` (recorded with the outcome
        ``"outage"``) until :meth:`come_back`, or for ``seconds`` if given, after which the
        platform answers normally again by itself. Scripted answers still come first."""
        if status not in INJECTED_ERRORS:
            raise ValueError(f"status must be one of {sorted(INJECTED_ERRORS)}, got {status!r}")
        if seconds is not None and not seconds >= 0:
            raise ValueError(f"seconds must be >= 0 or None, got {seconds!r}")
        end = float("inf") if seconds is None else time.monotonic() + seconds
        self._outage = (status, end)

    def come_back(self) -> None:
        """End an outage played by :meth:`go_down`: answer normally again."""
        self._outage = None

    @property
    def down(self) -> bool:
        """Whether an outage is being played now."""
        return self._outage is not None and time.monotonic() < self._outage[1]

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests to one path, in arrival order."""
        return [r for r in self.requests if r.path == path]

    # -- the handler ----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        decoded = _decode(body)

        def record(status: int, outcome: str) -> None:
            self.requests.append(
                RecordedRequest(
                    request.method, request.path, dict(request.headers), body, decoded,
                    status, outcome,
                )
            )

        scripted = self._next_scripted(request.path)
        if scripted is not None:
            return await self._serve_scripted(request, scripted, record)

        if self._outage is not None:
            status, end = self._outage
            if time.monotonic() < end:
                record(status, "outage")
                return self._injected_error(status)
            self._outage = None

        faults = self.faults
        if faults.latency:
            await asyncio.sleep(faults.latency)
        if faults.drop_rate and self._rng.random() < faults.drop_rate:
            record(0, "dropped")
            return _drop(request)
        if faults.stall_rate and self._rng.random() < faults.stall_rate:
            await self._stall(faults.stall_seconds)
        if faults.error_rate and self._rng.random() < faults.error_rate:
            status = self._rng.choice(faults.error_statuses)
            record(status, "injected")
            return self._injected_error(status)

        try:
            endpoint, params, agent_id = self._check(request, body, decoded)
            content = self._content(endpoint, params, agent_id)
        except _Answer as answer:
            record(answer.status, answer.code)
            response = self._error(answer.status, answer.code, answer.message)
            response.headers.update(answer.headers)
            return response
        record(200, "success")
        return self._json(200, self._envelope(content))

    def _check(
        self, request: web.Request, body: bytes, decoded: Any
    ) -> tuple[Endpoint, dict[str, object], int]:
        endpoint = ENDPOINTS.get(request.path)
        if endpoint is None:
            raise _Answer("not_found", "Unknown API method", status=404)
        if request.method != "POST":
            raise _Answer("method_not_allowed", headers={"Allow": "POST"})
        signature = request.headers.get("X-Signature")
        if not signature:
            raise _Answer("signature_required")
        if not isinstance(decoded, dict):
            raise _invalid("body", "must be a JSON object")
        agent_id = _integer(decoded, "agent_id")
        if agent_id not in self.agents:
            raise _Answer("agent_not_found")
        token = self.agents[agent_id]
        if token is None:
            raise _Answer("api_token_not_found")
        try:
            canonical = encode_object(decoded)
        except (TypeError, ValueError):
            canonical = b""
        if not canonical or not verify(token, canonical, signature):
            raise _Answer("invalid_signature")
        timestamp = _integer(decoded, "timestamp")
        if abs(timestamp - int(self.now())) > MAX_SKEW:  # PHP compares with time()
            raise _Answer("request_expired")
        params: dict[str, object] = {}
        for name in endpoint.params:
            if name not in decoded:
                raise _invalid(name, "is required")
            try:
                params[name] = RULES[name](name, decoded[name])
            except InvalidParameterError as exc:
                raise _Answer("validation_error", str(exc)) from None
        return endpoint, params, agent_id

    def _content(
        self, endpoint: Endpoint, params: Mapping[str, object], agent_id: int
    ) -> dict[str, Any]:
        unavailable = self._unavailable_everywhere | self._unavailable.get(agent_id, set())
        if endpoint is LIST_GAMES:
            games = [attrs.asdict(g) for g in self.games.values() if g.id not in unavailable]
            return {"games": games, "total": len(games)}
        game_id = params["game_id"]
        game = self.games.get(game_id)  # type: ignore[call-overload]
        if game is None:
            raise _Answer("game_not_found")
        if game.id in unavailable:
            raise _Answer("game_not_available")
        demo = endpoint is GET_GAME_LINK_DEMO
        if demo and not game.demo:
            raise _Answer("game_provider_not_found")
        token = uuid.UUID(int=self._rng.getrandbits(128), version=4).hex
        player = quote(str(params["player_id"]), safe="")
        kind = "demo" if demo else "play"
        return {"url": f"{_LINK_HOST}/{kind}?token={token}&gameId={game.id}&playerId={player}"}

    # -- answers --------------------------------------------------------------------------

    def _envelope(self, content: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": "success",
            "timestamp": self._iso_now(),
            "request_id": str(uuid.uuid4()),
            "content": content,
        }

    def _error(self, status: int, code: str, message: str) -> web.Response:
        return self._json(
            status,
            {
                "status": "error",
                "error": code,
                "message": message,
                "timestamp": self._iso_now(),
                "request_id": str(uuid.uuid4()),
            },
        )

    def _injected_error(self, status: int) -> web.Response:
        headers = {"Date": self._http_date()}
        if self.faults.retry_after is not None:
            headers["Retry-After"] = self.faults.retry_after
        if self.faults.error_html:  # what a proxy in front of the platform tends to send
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            html = (f"<html><head><title>{status} {phrase}</title></head>"
                    f"<body><center><h1>{status} {phrase}</h1></center></body></html>")
            return web.Response(status=status, text=html, content_type="text/html",
                                headers=headers)
        code, message = injected_error(status)
        response = self._error(status, code, message)
        response.headers.update(headers)
        return response

    def _json(self, status: int, payload: dict[str, Any]) -> web.Response:
        return web.Response(
            status=status,
            body=json.dumps(payload).encode(),
            content_type="application/json",
            headers={"Date": self._http_date()},
        )

    def _iso_now(self) -> str:
        moment = datetime.fromtimestamp(self.now(), UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def _http_date(self) -> str:
        return formatdate(self.now(), usegmt=True)

    # -- scripted answers and stalls ------------------------------------------------------

    def _next_scripted(self, path: str) -> ScriptedResponse | None:
        for index, scripted in enumerate(self._scripted):
            if scripted.path is None or scripted.path == path:
                del self._scripted[index]
                return scripted
        return None

    async def _serve_scripted(
        self,
        request: web.Request,
        scripted: ScriptedResponse,
        record: Callable[[int, str], None],
    ) -> web.StreamResponse:
        if scripted.delay:
            await asyncio.sleep(scripted.delay)
        if scripted.drop:
            record(0, "dropped")
            return _drop(request)
        status = scripted.status if scripted.status is not None else 200
        record(status, "scripted")
        if scripted.error is not None:
            response = self._error(
                status, scripted.error, scripted.message or error_message(scripted.error)
            )
            response.headers.update(scripted.headers)
            return response
        body = scripted.body if scripted.body is not None else json.dumps(scripted.json).encode()
        headers = {"Date": self._http_date(), **scripted.headers}
        headers.setdefault("Content-Type", "application/json")
        return web.Response(status=status, body=body, headers=headers)

    async def _stall(self, seconds: float) -> None:
        stall = asyncio.get_running_loop().create_future()
        self._stalls.add(stall)
        try:
            await asyncio.wait_for(asyncio.shield(stall), seconds)
        except TimeoutError:
            pass
        finally:
            self._stalls.discard(stall)


def _integer(decoded: Mapping[str, Any], name: str) -> int:
    if name not in decoded:
        raise _invalid(name, "is required")
    value = decoded[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(name, "must be an integer")
    return value


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # PHP's json_decode refuses NaN and Infinity


def _drop(request: web.Request) -> web.StreamResponse:
    transport = request.transport
    if transport is not None:
        transport.abort()
    # Nothing reaches the client; aiohttp discards this answer on the aborted transport.
    return web.Response(status=500)
