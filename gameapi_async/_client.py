"""``GameApiClient``: a thin facade over the parts ``_assembly`` builds: checks each call,
hands it to the pipeline, types the answer."""

from __future__ import annotations

import asyncio
import random
import ssl as ssl_module
from collections.abc import Awaitable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, Self

import aiohttp
import attrs

from ._assembly import (
    DEFAULT_GAMES_MAX_STALE,
    DEFAULT_GAMES_TTL,
    ClientParts,
    assemble,
    check_retry,
)
from ._breaker import CircuitBreaker
from ._cache import CacheStats
from ._clock import Clock
from ._config import (
    DEFAULT_MAX_RESPONSE_BYTES,
    check_seconds,
    read_env,
)
from ._errors import ClientClosedError
from ._events import EventHook
from ._models import Game, GameLink, GameList
from ._pipeline import Call, CallOptions, Middleware, Reply
from ._policy import RetryPolicy
from ._protocol import (
    GET_GAME_LINK,
    GET_GAME_LINK_DEMO,
    LIST_GAMES,
    Endpoint,
    parse_game_link,
    parse_game_list,
)
from ._transport import Transport
from ._validation import check_params, validate_positive_int
from .fleet._store import GameListStore

if TYPE_CHECKING:
    from .otel import Telemetry  # imported only by callers who pass one

__all__ = ["GameApiClient"]

_UNSET: Any = object()


async def _close_elsewhere(parts: ClientParts) -> None:
    """``close()`` called away from the client's loop: release on that loop while it still
    runs (another thread), else give the resources up (a fork, or a loop closed by hand)."""
    guard = parts.guard
    if guard.released:
        return  # the bound loop ended and released everything already
    bound = guard.loop
    if not guard.forked and bound is not None and bound.is_running():

        async def close_there() -> None:
            if parts.closing is None:
                parts.closing = asyncio.get_running_loop().create_task(guard.finish())
            await asyncio.shield(parts.closing)

        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(close_there(), bound))
        return
    guard.abandon()


class GameApiClient:
    """An asyncio client for the games platform.

    Use it as ``async with GameApiClient(...) as client:`` or call ``close()`` when done.
    One client is safe to share between any number of concurrent tasks on one event loop: the
    loop of its first call. From another loop, or in a forked child process, every call raises
    ``WrongEventLoopError`` at once (make one client per loop and per process). Every parameter
    is keyword-only; bad values raise ``InvalidParameterError`` naming the parameter, before any
    I/O.

    Parameters:
        base_url: the platform's base URL (https; plain http only to loopback, or with
            ``allow_insecure_http=True``).
        agent_id: your agent id.
        api_token: your API token; it signs requests and is never logged or shown in a repr.
        session: an ``aiohttp.ClientSession`` to use; the client then never closes it.
        timeout: seconds one attempt may take end to end (``None``: no limit).
        connect_timeout: seconds to open a connection (``None``: no limit).
        retry: the ``RetryPolicy`` (default: 4 attempts, full-jitter backoff from 0.25 s to
            8 s, 30 s deadline); ``RetryPolicy.disabled()`` for a single attempt.
        middlewares: a sequence of your own middlewares, outermost first (see ``Middleware``).
        on_event: a callable, or a sequence of callables, receiving ``AttemptFinished``,
            ``RetryScheduled`` and ``ClockResynced`` events, for metrics; anything else is
            refused with ``InvalidParameterError`` naming ``on_event``.
        games_ttl: seconds a fetched game list is served from the cache (default 3 hours);
            ``0`` or ``None`` fetches on every call.
        games_max_stale: the oldest a cached game list may be and still be served while the
            platform is failing transiently (default 24 hours).
        games_store: a shared store (``RedisGameListStore``) the game list is kept in for the
            whole fleet; this client's cache stays in front of it. Never closed by the client.
        max_response_bytes: larger answers are refused with ``ResponseTooLargeError``
            (default 8 MiB, counted after decompression).
        allow_insecure_http: allow a plain-http ``base_url`` to a host other than loopback
            (a signed request can then be read and replayed on the path).
        ssl: an ``ssl.SSLContext`` for a private CA; verification is always on by default
            (anything else, aiohttp's ``ssl=False`` included, is refused).
        clock: an injectable clock (time, monotonic, sleep), for tests.
        rng: the random source of backoff jitter, for repeatable tests.
        transport: a custom transport (tests, other HTTP stacks); replaces ``session``.
        telemetry: a ``gameapi_async.otel.Telemetry`` for OpenTelemetry spans and metrics
            (the ``otel`` extra); without it nothing of OpenTelemetry is imported.
        breaker: a ``CircuitBreaker``: after a run of transient failures the circuit opens;
            calls then wait for the next probe (up to ``hold``) or fail with
            ``CircuitOpenError`` (default ``None``: off). With ``games_store`` the circuit and
            the retry budget are shared by the fleet.
    """

    __slots__ = ("_options", "_parts")

    def __init__(
        self,
        *,
        base_url: str,
        agent_id: int,
        api_token: str,
        session: aiohttp.ClientSession | None = None,
        timeout: float | None = 10.0,
        connect_timeout: float | None = 5.0,
        retry: RetryPolicy | None = None,
        middlewares: Sequence[Middleware] = (),
        on_event: EventHook | Iterable[EventHook] = (),
        games_ttl: float | None = DEFAULT_GAMES_TTL,
        games_max_stale: float = DEFAULT_GAMES_MAX_STALE,
        games_store: GameListStore | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        allow_insecure_http: bool = False,
        ssl: ssl_module.SSLContext | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        transport: Transport | None = None,
        telemetry: Telemetry | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._parts, self._options = assemble(
            base_url=base_url, agent_id=agent_id, api_token=api_token, session=session,
            timeout=timeout, connect_timeout=connect_timeout, retry=retry,
            middlewares=middlewares, on_event=on_event, games_ttl=games_ttl,
            games_max_stale=games_max_stale, games_store=games_store,
            max_response_bytes=max_response_bytes, allow_insecure_http=allow_insecure_http,
            ssl=ssl, clock=clock, rng=rng, transport=transport, telemetry=telemetry,
            breaker=breaker,
        )

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """A client from ``GAMEAPI_BASE_URL``, ``GAMEAPI_AGENT_ID`` and ``GAMEAPI_API_TOKEN``.

        Keyword arguments are passed to the constructor and win over the environment; a
        setting given as a keyword needs no variable (its variable is not even read).
        """
        settings = read_env(skip=overrides) | overrides
        return cls(**settings)

    # -- lifetime -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the connection pool (unless the session was passed in). Idempotent.

        Every call, concurrent ones included, returns only once everything is closed; a
        cancelled ``close()`` does not stop the closing. Closing a view made by
        ``with_options()`` closes the client it shares state with. In a forked child the
        inherited client is only marked closed: its connections are the parent's.
        """
        parts = self._parts
        parts.closed = True
        guard = parts.guard
        loop = asyncio.get_running_loop()
        if guard.forked or guard.loop not in (None, loop):
            await _close_elsewhere(parts)
            return
        closing = parts.closing
        if closing is None:
            closing = parts.closing = loop.create_task(guard.finish())
        await asyncio.shield(closing)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called; every call made after it raises ``ClientClosedError``."""
        return self._parts.closed

    @property
    def agent_id(self) -> int:
        """The agent id this client signs its requests for."""
        return self._parts.agent_id

    @property
    def clock_offset(self) -> float:
        """Seconds the platform's clock is ahead of this host's (negative: behind), as learned
        from its answers; requests are stamped with local time plus this."""
        return self._parts.skew.offset

    @property
    def options(self) -> CallOptions:
        """The defaults this client applies to each call."""
        return self._options

    def with_options(
        self,
        *,
        timeout: float | None = _UNSET,
        connect_timeout: float | None = _UNSET,
        retry: RetryPolicy = _UNSET,
    ) -> GameApiClient:
        """The same client (connections, clock, cache) with other per-call defaults.

        Cheap enough to use per call: ``await client.with_options(timeout=2).list_games()``.
        """
        changes: dict[str, Any] = {}
        if retry is not _UNSET:
            changes["retry"] = check_retry(retry)
        if timeout is not _UNSET:
            changes["timeout"] = check_seconds("timeout", timeout)
        if connect_timeout is not _UNSET:
            changes["connect_timeout"] = check_seconds("connect_timeout", connect_timeout)
        view = object.__new__(GameApiClient)
        view._parts = self._parts
        view._options = attrs.evolve(self._options, **changes)
        return view

    def __repr__(self) -> str:
        state = " closed" if self._parts.closed else ""
        return (
            f"<GameApiClient base_url={self._parts.base_url!r} "
            f"agent_id={self._parts.agent_id}{state}>"
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError("a GameApiClient holds a secret and live connections; not picklable")

    # -- endpoints ------------------------------------------------------------------------

    async def list_games(self, *, refresh: bool = False) -> GameList:
        """All games available to the agent, from the cache when it is fresh.

        Concurrent calls share one request. Past the TTL the cached list is returned at once
        and refreshed in the background. ``refresh=True`` fetches now (joining a fetch already
        running) and raises if that fails, cached list or not.
        """
        self._check_open()
        return await self._parts.get_games(self._fetch_games, refresh=refresh)

    async def get_game(self, game_id: int) -> Game | None:
        """One game by id, from the (cached) game list; ``None`` when the agent has no such
        game. O(1) per call: the index is built once per fetched list."""
        validate_positive_int("game_id", game_id)
        return (await self.list_games()).get(game_id)

    def invalidate_games(self) -> None:
        """Drop the cached game list; the next ``list_games()`` fetches it again. With a
        ``games_store`` the whole fleet drops it (each process within its pick-up interval)."""
        self._parts.games.invalidate()

    def cache_stats(self) -> CacheStats:
        """Counters of the game-list cache: hits, misses, joins, refreshes, stale served,
        errors, the age of the cached list, and the shared store's shared hits, lock waits,
        takeovers and store errors."""
        return self._parts.games.stats()

    async def _fetch_games(self) -> GameList:
        return parse_game_list((await self._call(LIST_GAMES, {})).envelope)

    async def get_game_link(
        self,
        *,
        game_id: int,
        player_id: str,
        player_username: str,
        language: str,
        currency: str,
        home_url: str,
        agent_session_id: str,
        ip: str,
    ) -> GameLink:
        """A real-money launch link for one player; the platform opens a game session."""
        params = {
            "game_id": game_id,
            "player_id": player_id,
            "player_username": player_username,
            "language": language,
            "currency": currency,
            "home_url": home_url,
            "agent_session_id": agent_session_id,
            "ip": ip,
        }
        return parse_game_link((await self._call(GET_GAME_LINK, params)).envelope)

    async def get_game_link_demo(
        self,
        *,
        game_id: int,
        player_id: str,
        player_username: str,
        language: str,
        currency: str,
        home_url: str,
        ip: str,
    ) -> GameLink:
        """A demo launch link: virtual balance, nothing saved, no game session."""
        params = {
            "game_id": game_id,
            "player_id": player_id,
            "player_username": player_username,
            "language": language,
            "currency": currency,
            "home_url": home_url,
            "ip": ip,
        }
        return parse_game_link((await self._call(GET_GAME_LINK_DEMO, params)).envelope)

    # -- plumbing -------------------------------------------------------------------------

    def _check_open(self) -> None:
        parts = self._parts
        if parts.closed:
            raise ClientClosedError("the client is closed")
        parts.guard.check()

    def _call(self, endpoint: Endpoint, params: dict[str, object]) -> Awaitable[Reply]:
        # A plain function handing back the pipeline's awaitable: no frame of its own on the
        # hot path. Validation runs here, synchronously, before anything is awaited.
        parts = self._parts
        if parts.closed:
            raise ClientClosedError("the client is closed")
        parts.guard.check()
        checked = check_params(endpoint.rules, params)
        options = self._options
        seconds = options.retry.deadline
        deadline = None if seconds is None else parts.monotonic() + seconds
        return parts.handler(Call(endpoint, checked, options, 1, 0.0, deadline))
