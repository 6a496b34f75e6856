"""How a ``GameApiClient`` is put together: every part checked, built and wired once, here.

The order, inside out: the transport; the sender (stamp, sign, send, parse one attempt),
wrapped by telemetry's attempt layer when there is one; the built-in middlewares, composed
exactly like the caller's own: your middlewares -> clock skew -> retry -> attempt observer ->
the sender; telemetry's call layer around all of it; the game-list cache (and the fleet's
shared list below it) with telemetry's observer and lookup span. ``GameApiClient`` itself only
holds the result and its per-call options.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import ssl as ssl_module
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, cast

import aiohttp

from ._breaker import Circuit, CircuitBreaker, CircuitBreakerMiddleware
from ._cache import GameListCache
from ._clock import Clock, SystemClock
from ._config import check_api_token, check_base_url, check_seconds
from ._errors import InvalidParameterError
from ._events import EventHook
from ._loop_guard import LoopGuard
from ._pipeline import CallOptions, Handler, Middleware, compose
from ._policy import RetryPolicy
from ._sender import Sender
from ._signing import Signer
from ._telemetry import GamesGetter, bind_telemetry
from ._transport import AiohttpTransport, Transport
from ._validation import validate_positive_int
from .fleet._resilience import fleet_resilience
from .fleet._shared_list import FleetGames, namespace_for
from .fleet._store import GameListStore, StoreSettings
from .middleware import AttemptObserver, ClockSkewMiddleware, RetryMiddleware

if TYPE_CHECKING:
    from .otel import Telemetry

__all__ = ["DEFAULT_GAMES_MAX_STALE", "DEFAULT_GAMES_TTL", "ClientParts", "assemble",
           "check_retry"]

DEFAULT_GAMES_TTL = 3 * 3600.0
DEFAULT_GAMES_MAX_STALE = 24 * 3600.0


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


def check_retry(retry: object) -> RetryPolicy:
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


class ClientParts:
    """What a client and every view made by ``with_options`` share: the assembled parts and
    the client's lifetime state."""

    def __init__(
        self,
        *,
        base_url: str,
        agent_id: int,
        transport: Transport,
        handler: Handler,
        clock: Clock,
        skew: ClockSkewMiddleware,
        games: GameListCache | FleetGames,
        get_games: GamesGetter,
    ) -> None:
        self.base_url = base_url
        self.agent_id = agent_id
        self.transport = transport
        self.handler = handler
        self.clock = clock
        self.skew = skew
        self.games = games
        self.get_games = get_games  # what list_games() awaits: the cache, or telemetry's span
        # The call deadline is read on every call: the system clock directly, one call fewer.
        self.monotonic = time.monotonic if type(clock) is SystemClock else clock.monotonic
        self.closed = False
        self.guard = LoopGuard(self._release)
        self.closing: asyncio.Task[None] | None = None  # the one task that closes everything
        self.on_close: list[Callable[[], None]] = []  # e.g. release calls held for a probe

    async def _release(self) -> None:
        for stop in self.on_close:
            stop()
        try:
            await self.games.aclose()
        finally:
            await self.transport.aclose()


def assemble(
    *,
    base_url: str,
    agent_id: int,
    api_token: str,
    session: aiohttp.ClientSession | None,
    timeout: float | None,
    connect_timeout: float | None,
    retry: RetryPolicy | None,
    middlewares: Sequence[Middleware],
    on_event: EventHook | Iterable[EventHook],
    games_ttl: float | None,
    games_max_stale: float,
    games_store: GameListStore | None,
    max_response_bytes: int,
    allow_insecure_http: bool,
    ssl: ssl_module.SSLContext | None,
    clock: Clock | None,
    rng: random.Random | None,
    transport: Transport | None,
    telemetry: Telemetry | None,
    breaker: CircuitBreaker | None = None,
) -> tuple[ClientParts, CallOptions]:
    """The parts of one client and its default call options, from the constructor's
    arguments, each checked (``InvalidParameterError`` naming it) before anything is built."""
    base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
    agent_id = validate_positive_int("agent_id", agent_id)
    signer = Signer(check_api_token(api_token))
    options = CallOptions(
        timeout=check_seconds("timeout", timeout),
        connect_timeout=check_seconds("connect_timeout", connect_timeout),
        retry=check_retry(retry),
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
    # With a store, the retry budget and the circuit are the fleet's.
    fleet = None if store is None else fleet_resilience(
        store, namespace_for(base_url, agent_id), clock
    )
    skew = ClockSkewMiddleware(clock=clock, hooks=call_hooks)
    retrier = RetryMiddleware(clock=clock, rng=rng, hooks=call_hooks,
                              budgets=None if fleet is None else fleet.budgets())
    observer = AttemptObserver(clock=clock, hooks=hooks)
    builtins: list[Middleware] = [skew, retrier, observer]
    circuit = None
    if (breaker := _check_breaker(breaker)) is not None:
        circuit = (Circuit(breaker, clock=clock, hooks=call_hooks) if fleet is None
                   else fleet.circuit(breaker, call_hooks))
        # Between retry and the attempt: holds or refuses attempts while the circuit is open.
        builtins.insert(2, CircuitBreakerMiddleware(circuit))
    games_ttl = check_seconds("games_ttl", games_ttl or None)
    max_stale = check_seconds("games_max_stale", games_max_stale, allow_none=False,
                              allow_zero=True)
    games: GameListCache | FleetGames = (
        GameListCache(ttl=games_ttl, max_stale=max_stale, clock=clock, rng=rng)
        if store is None or not games_ttl  # no TTL: nothing kept, so nothing shared
        else FleetGames.build(
            store,
            namespace=namespace_for(base_url, agent_id),
            ttl=games_ttl,
            max_stale=max_stale,
            clock=clock,
            rng=rng,
            max_response_bytes=max_response_bytes,
        )
    )
    if instruments is not None:
        games.observer = instruments.on_cache_lookup
    handler = compose((*_check_middlewares(middlewares), *builtins), attempt)
    if instruments is not None:
        handler = instruments.wrap_handler(handler)  # outermost: the whole logical call
    parts = ClientParts(
        base_url=base_url,
        agent_id=agent_id,
        transport=transport,
        handler=handler,
        clock=clock,
        skew=skew,
        games=games,
        get_games=games.get if instruments is None else instruments.wrap_games(games.get),
    )
    if circuit is not None:  # releases the calls waiting for a probe
        parts.on_close.append(circuit.stop)
    return parts, options
