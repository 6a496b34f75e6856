"""``GameApiClient``: the facade that wires config, transport, pipeline and models together."""

from __future__ import annotations

import asyncio
import inspect
import random
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, Self, cast

import aiohttp
import attrs

from ._binding import LoopBinding
from ._breaker import Circuit, CircuitBreaker, CircuitBreakerMiddleware
from ._cache import CacheStats, GameListCache
from ._clock import Clock, SystemClock
from ._config import (
    DEFAULT_MAX_RESPONSE_BYTES,
    check_api_token,
    check_base_url,
    check_seconds,
    read_env,
)
from ._errors import ClientClosedError, InvalidParameterError
from ._events import EventHook
from ._fastnew import builder
from ._models import Game, GameLink, GameList
from ._pipeline import Call, CallOptions, Handler, Middleware, Reply, compose
from ._policy import RetryPolicy
from ._protocol import (
    GET_GAME_LINK,
    GET_GAME_LINK_DEMO,
    LIST_GAMES,
    Endpoint,
    parse_game_link,
    parse_game_list,
)
from ._sender import Sender
from ._signing import Signer
from ._telemetry import GamesGetter, bind_telemetry
from ._transport import AiohttpTransport, Transport
from ._validation import validate_params, validate_positive_int
from .fleet._resilience import fleet_resilience
from .fleet._shared_list import SharedGameList, namespace_for
from .fleet._store import GameListStore, StoreSettings
from .middleware import AttemptObserver, ClockSkewMiddleware, RetryMiddleware

if TYPE_CHECKING:
    from .otel import Telemetry  # imported only by callers who pass one

__all__ = ["GameApiClient"]

_UNSET: Any = object()
_new_call = builder(Call)  # Call(endpoint, params, options) with its defaults spelled out


DEFAULT_GAMES_TTL = 3 * 3600.0
DEFAULT_GAMES_MAX_STALE = 24 * 3600.0


def _check_max_stale(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InvalidParameterError("games_max_stale", f"must be seconds >= 0, got {value!r}")
    return float(value)


# The methods a games_store must answer, read off the protocol itself so the check follows it.
_STORE_METHODS = tuple(
    name for name, member in vars(GameListStore).items()
    if not name.startswith("_") and callable(member)
)


def _check_store(store: object) -> GameListStore | None:
    """``games_store`` checked by asking it for each method by name (``getattr``), not by
    ``isinstance`` against the runtime-checkable protocol: since Python 3.12 that looks
    attributes up statically and refuses a wrapper that delegates through ``__getattr__``
    (one adding metrics, say), while 3.11 accepted it."""
    if store is None:
        return None
    missing = [name for name in _STORE_METHODS if not callable(getattr(store, name, None))]
    if not isinstance(getattr(store, "settings", None), StoreSettings):
        missing.insert(0, "settings (a StoreSettings)")
    if missing:
        raise InvalidParameterError(
            "games_store",
            f"must be a RedisGameListStore (a GameListStore), got {type(store).__name__}"
            f" without {', '.join(missing)}",
        )
    return cast(GameListStore, store)


def _check_retry(retry: object) -> RetryPolicy:
    if retry is None:
        return RetryPolicy()
    if not isinstance(retry, RetryPolicy):
        raise InvalidParameterError("retry", f"must be a RetryPolicy, got {type(retry).__name__}")
    return retry


def _check_breaker(breaker: object) -> CircuitBreaker | None:
    if breaker is None or isinstance(breaker, CircuitBreaker):
        return breaker
    raise InvalidParameterError(
        "breaker", f"must be a CircuitBreaker or None, got {type(breaker).__name__}"
    )


def _check_hooks(on_event: object) -> tuple[EventHook, ...]:
    """``on_event`` as a tuple of hooks: one callable, or an iterable of callables."""
    if callable(on_event):
        hooks: tuple[EventHook, ...] = (on_event,)
    elif isinstance(on_event, str | bytes) or not isinstance(on_event, Iterable):
        raise InvalidParameterError(
            "on_event",
            f"must be a callable or a sequence of callables, got {type(on_event).__name__}",
        )
    else:
        hooks = tuple(on_event)
    for hook in hooks:
        if not callable(hook):
            raise InvalidParameterError(
                "on_event", f"every hook must be callable, got {type(hook).__name__}"
            )
        if inspect.iscoroutinefunction(hook):
            # Hooks are called, never awaited (they run inside every attempt): an async one
            # would only make coroutines that never run.
            raise InvalidParameterError(
                "on_event", f"hooks must be plain functions, {hook!r} is async"
            )
    return hooks


def _check_middlewares(middlewares: object) -> tuple[Middleware, ...]:
    """``middlewares`` as a tuple: a sequence of callables, never a lone one or a string."""
    if isinstance(middlewares, str | bytes) or not isinstance(middlewares, Sequence):
        raise InvalidParameterError(
            "middlewares",
            f"must be a sequence of middlewares, got {type(middlewares).__name__}",
        )
    for middleware in middlewares:
        if not callable(middleware):
            raise InvalidParameterError(
                "middlewares", f"every middleware must be callable, got {type(middleware).__name__}"
            )
    return tuple(middlewares)


class _Shared:
    """What a client and every view made by ``with_options`` have in common."""

    def __init__(
        self,
        *,
        base_url: str,
        agent_id: int,
        transport: Transport,
        handler: Handler,
        clock: Clock,
        skew: ClockSkewMiddleware,
        games: GameListCache,
    ) -> None:
        self.base_url = base_url
        self.agent_id = agent_id
        self.transport = transport
        self.handler = handler
        self.clock = clock
        self.skew = skew
        self.games = games
        self.get_games: GamesGetter = games.get  # list_games() awaits it; telemetry wraps it
        self.closed = False
        self.binding = LoopBinding(self._release)
        self.closing: asyncio.Task[None] | None = None  # the one task that closes everything
        self.on_close: list[Callable[[], None]] = []  # stop listening to the fleet's circuit

    async def _release(self) -> None:
        for stop in self.on_close:
            stop()
        try:
            await self.games.aclose()
        finally:
            await self.transport.aclose()


async def _close_elsewhere(shared: _Shared) -> None:
    """``close()`` called away from the client's loop: release on that loop while it still
    runs (another thread), else give the resources up (a fork, or a loop closed by hand)."""
    binding = shared.binding
    if binding.released:
        return  # the bound loop ended and released everything already
    bound = binding.loop
    if not binding.forked and bound is not None and bound.is_running():

        async def close_there() -> None:
            if shared.closing is None:
                shared.closing = asyncio.get_running_loop().create_task(binding.finish())
            await asyncio.shield(shared.closing)

        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(close_there(), bound))
        return
    binding.abandon()


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
        breaker: a ``CircuitBreaker``: after a run of transient failures, calls fail at once
            with ``CircuitOpenError`` until a probe gets through (default ``None``: off).
            With ``games_store`` the circuit and the retry budget are shared by the fleet.
    """

    __slots__ = ("_options", "_shared")

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
        base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        agent_id = validate_positive_int("agent_id", agent_id)
        signer = Signer(check_api_token(api_token))
        options = CallOptions(
            timeout=check_seconds("timeout", timeout),
            connect_timeout=check_seconds("connect_timeout", connect_timeout),
            retry=_check_retry(retry),
        )
        if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int):
            raise InvalidParameterError("max_response_bytes", "must be an int")
        if max_response_bytes < 1:
            raise InvalidParameterError("max_response_bytes", "must be positive")
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise InvalidParameterError("session", "must be an aiohttp.ClientSession")
        if ssl is not None and not isinstance(ssl, ssl_module.SSLContext):
            # Not aiohttp's ssl=False: certificate checks are never switched off by a flag.
            raise InvalidParameterError(
                "ssl", f"must be an ssl.SSLContext or None, got {type(ssl).__name__}"
            )
        clock = clock if clock is not None else SystemClock()
        if transport is None:
            transport = AiohttpTransport(
                base_url,
                session=session,
                ssl=ssl if ssl is not None else True,
                max_response_bytes=max_response_bytes,
            )
        sender = Sender(agent_id=agent_id, signer=signer, transport=transport, clock=clock)
        hooks = _check_hooks(on_event)
        call_hooks = hooks
        attempt: Handler = sender
        instruments = None
        if telemetry is not None:
            # Telemetry hears retries and resyncs as events and times attempts itself, so the
            # attempt observer keeps its fast path when no hook of the caller's listens.
            instruments = bind_telemetry(telemetry, base_url=base_url, agent_id=agent_id)
            call_hooks = (*hooks, instruments.on_event)
            attempt = instruments.wrap_attempt(sender)
        store = _check_store(games_store)
        # With a Redis store, the retry budget and the circuit are the fleet's.
        fleet = None if store is None else fleet_resilience(
            store, namespace_for(base_url, agent_id), clock
        )
        skew = ClockSkewMiddleware(clock=clock, hooks=call_hooks)
        # The built-in middlewares are bound directly (no wrapper frame per layer and call);
        # the caller's own go through ``compose``, exactly as documented.
        budgets = None if fleet is None else fleet.budgets()
        retrier = RetryMiddleware(clock=clock, rng=rng, hooks=call_hooks, budgets=budgets)
        observer = AttemptObserver(clock=clock, hooks=hooks)
        observed = observer._bind_next(attempt)
        circuit = None
        if (breaker := _check_breaker(breaker)) is not None:  # refuses attempts while open
            circuit = (Circuit(breaker, clock=clock, hooks=call_hooks) if fleet is None
                       else fleet.circuit(breaker, call_hooks))
            observed = CircuitBreakerMiddleware(circuit)._bind_next(observed)
        builtins = skew._bind_next(retrier._bind_next(observed))
        games_ttl = check_seconds("games_ttl", games_ttl or None)
        max_stale = _check_max_stale(games_max_stale)
        games = GameListCache(
            ttl=games_ttl,
            max_stale=max_stale,
            clock=clock,
            rng=rng,
            shared=None if store is None or not games_ttl else SharedGameList(
                store,
                namespace=namespace_for(base_url, agent_id),
                ttl=games_ttl,
                max_stale=max_stale,
                clock=clock,
                max_response_bytes=max_response_bytes,
            ),
        )
        handler = compose(_check_middlewares(middlewares), builtins)
        if instruments is not None:
            handler = instruments.wrap_handler(handler)  # outermost: the whole logical call
            games.observer = instruments.on_cache_lookup
        self._shared = _Shared(
            base_url=base_url,
            agent_id=agent_id,
            transport=transport,
            handler=handler,
            clock=clock,
            skew=skew,
            games=games,
        )
        if instruments is not None:
            self._shared.get_games = instruments.wrap_games(games.get)
        if circuit is not None:  # releases the calls waiting for a probe
            self._shared.on_close.append(circuit.stop)
        self._options = options

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
        shared = self._shared
        shared.closed = True
        binding = shared.binding
        loop = asyncio.get_running_loop()
        if binding.forked or binding.loop not in (None, loop):
            await _close_elsewhere(shared)
            return
        closing = shared.closing
        if closing is None:
            closing = shared.closing = loop.create_task(binding.finish())
        await asyncio.shield(closing)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called; every call made after it raises ``ClientClosedError``."""
        return self._shared.closed

    @property
    def agent_id(self) -> int:
        """The agent id this client signs its requests for."""
        return self._shared.agent_id

    @property
    def clock_offset(self) -> float:
        """Seconds the platform's clock is ahead of this host's (negative: behind), as learned
        from its answers; requests are stamped with local time plus this."""
        return self._shared.skew.offset

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
            changes["retry"] = _check_retry(retry)
        if timeout is not _UNSET:
            changes["timeout"] = check_seconds("timeout", timeout)
        if connect_timeout is not _UNSET:
            changes["connect_timeout"] = check_seconds("connect_timeout", connect_timeout)
        view = object.__new__(GameApiClient)
        view._shared = self._shared
        view._options = attrs.evolve(self._options, **changes)
        return view

    def __repr__(self) -> str:
        state = " closed" if self._shared.closed else ""
        return (
            f"<GameApiClient base_url={self._shared.base_url!r} "
            f"agent_id={self._shared.agent_id}{state}>"
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
        return await self._shared.get_games(self._fetch_games, refresh=refresh)

    async def get_game(self, game_id: int) -> Game | None:
        """One game by id, from the (cached) game list; ``None`` when the agent has no such
        game. O(1) per call: the index is built once per fetched list."""
        validate_positive_int("game_id", game_id)
        return (await self.list_games()).get(game_id)

    def invalidate_games(self) -> None:
        """Drop the cached game list; the next ``list_games()`` fetches it again. With a
        ``games_store`` the whole fleet drops it (each process within its pick-up interval)."""
        self._shared.games.invalidate()

    def cache_stats(self) -> CacheStats:
        """Counters of the game-list cache: hits, misses, joins, refreshes, stale served,
        errors, the age of the cached list, and the shared store's shared hits, lock waits,
        takeovers and store errors."""
        return self._shared.games.stats()

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
        shared = self._shared
        if shared.closed:
            raise ClientClosedError("the client is closed")
        shared.binding.check()

    def _call(self, endpoint: Endpoint, params: dict[str, object]) -> Awaitable[Reply]:
        # A plain function handing back the pipeline's awaitable: no frame of its own on the
        # hot path. Validation runs here, synchronously, before anything is awaited.
        shared = self._shared
        if shared.closed:
            raise ClientClosedError("the client is closed")
        shared.binding.check()
        # ``params`` is the dict the endpoint method built for this call: checked in place.
        checked = validate_params(endpoint.params, params, reuse=True)
        return shared.handler(_new_call(endpoint, checked, self._options, 1, 0.0))
