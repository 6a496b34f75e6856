"""``RedisGameListStore``: the fleet-shared game list on Redis (the only module importing redis).

Keys of one namespace (a hash of base URL and agent id, never the token) share the hash tag
``{<namespace>}``, so they live in one slot and every script runs whole on the node owning
that slot of a Redis Cluster (a ``RedisCluster`` client, or a URL with ``cluster=True``)::

    gameapi:{ns}:value    zlib-compressed JSON of the list and its fetched_at (never pickle)
    gameapi:{ns}:version  a short tag, changed on every write; "x..." after a drop
    gameapi:{ns}:lock     the fetch lock: a random token, SET NX PX lease, renewed by its holder
    gameapi:{ns}:fence    INCR on every lock acquisition (the fencing token); kept 7 days
    gameapi:{ns}:gen      INCR on every fleet-wide drop (invalidate, definite error); 7 days
    gameapi:{ns}:backoff  present while the fleet backs off after a failed refresh
    gameapi:{ns}:changed  pub/sub channel: a version was written or dropped

Every command runs under a short timeout behind a circuit breaker: after a failure the store
answers :class:`StoreUnavailable` at once for a second, then tries again; one WARNING per
outage, one INFO when sharing resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final, Self, TypeVar

try:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisClusterException, RedisError
except ImportError as error:  # pragma: no cover - exercised in a subprocess without redis
    raise ImportError(
        "RedisGameListStore needs the redis client: pip install 'gameapi-async[redis]'"
    ) from error

from .._errors import InvalidParameterError
from ._store import Lease, Peek, StoreSettings, StoreUnavailable

__all__ = ["RedisGameListStore"]

logger = logging.getLogger("gameapi_async.store")

T = TypeVar("T")

RESTING: Final = 1.0  # seconds the breaker answers "unavailable" after a failure
COUNTER_KEEP_MS: Final = 7 * 24 * 3600 * 1000  # fence and generation: kept after last use
# RedisClusterException is no RedisError: a cluster client raises it when no node answers.
_STORE_ERRORS: Final = (RedisError, RedisClusterException, OSError, TimeoutError)

# The fence and generation counters expire like every other key, yet must never repeat a
# value a holder in flight may still carry: a counter that is missing restarts from the
# server's clock in microseconds, beyond anything it counted before (one step per
# acquisition or drop, far fewer than one per microsecond).
_BUMP: Final = """
local function bump(key, keep_ms)
  if redis.call('EXISTS', key) == 0 then
    local now = redis.call('TIME')
    redis.call('SET', key, now[1] .. string.format('%06d', now[2]))
  end
  local value = redis.call('INCR', key)
  redis.call('PEXPIRE', key, keep_ms)
  return value
end
"""

# KEYS: lock fence gen version; ARGV: token lease_ms counter_keep_ms
_ACQUIRE: Final = _BUMP + """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local fence = bump(KEYS[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
  local gen = redis.call('GET', KEYS[3]) or '0'
  return {fence, gen, redis.call('GET', KEYS[4])}
end
return false
"""

# One atomic look at both keys, so a version never comes with another version's value.
_READ: Final = """
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}
"""

_RENEW: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: value version fence gen lock backoff; ARGV: fence gen token blob version keep_ms channel
_WRITE: Final = """
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[4]) or '0') ~= ARGV[2] then
  if redis.call('GET', KEYS[5]) == ARGV[3] then redis.call('DEL', KEYS[5]) end
  return 0
end
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[6])
redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[6])
redis.call('DEL', KEYS[6])
if redis.call('GET', KEYS[5]) == ARGV[3] then redis.call('DEL', KEYS[5]) end
redis.call('PUBLISH', ARGV[7], ARGV[5])
return 1
"""

# KEYS: value version gen; ARGV: tag keep_ms channel counter_keep_ms
_DROP: Final = _BUMP + """
local gen = bump(KEYS[3], ARGV[4])
local version = 'x' .. string.format('%d', gen) .. '-' .. ARGV[1]
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], version, 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], version)
return version
"""


def _keys(namespace: str) -> dict[str, str]:
    base = f"gameapi:{{{namespace}}}:"
    return {
        name: base + name
        for name in ("value", "version", "lock", "fence", "gen", "backoff", "changed")
    }


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidParameterError(name, f"must be seconds > 0, got {value!r}")
    if value != value or value == float("inf"):
        raise InvalidParameterError(name, f"must be finite seconds, got {value!r}")
    return float(value)


class RedisGameListStore:
    """A game list shared by every process of a fleet, kept in Redis.

    ``RedisGameListStore("redis://host:6379/0")`` owns its connection pool (close it with
    :meth:`aclose` or ``async with``); ``RedisGameListStore(redis.asyncio.Redis(...))`` or
    ``RedisGameListStore(redis.asyncio.RedisCluster(...))`` uses yours and never closes it.
    ``RedisGameListStore("redis://node:7000", cluster=True)`` makes (and owns) a cluster
    client from the URL of any one node. One store serves any number of clients (agents).

    Parameters (after the connection, keyword-only):
        cluster: the URL names a node of a Redis Cluster (default False). Only with a URL:
            a client given is used as it is.
        lease: seconds a fetch lock lives unless renewed: how long the fleet waits before
            another process takes over from a holder that died (default 10).
        poll_interval: seconds between a process's checks for a list another process wrote
            (default 10; pub/sub usually tells sooner).
        lock_wait: the longest a caller waits for another process's fetch before fetching
            itself (default 40).
        timeout: seconds any one Redis command may take before the store is treated as down
            for a second (default 0.5).

    Attributes:
        settings: the lease, poll interval and waits every client of this store follows.

    The other methods are the store seam the client's cache drives (one fenced fetch lock,
    versioned reads and writes, fleet-wide drops and back-off, change notification); an
    application calls none of them.
    """

    def __init__(
        self,
        redis: str | aioredis.Redis | aioredis.RedisCluster,
        *,
        cluster: bool = False,
        lease: float = 10.0,
        poll_interval: float = 10.0,
        lock_wait: float = 40.0,
        timeout: float = 0.5,
    ) -> None:
        self.settings = StoreSettings(
            lease=_positive("lease", lease),
            poll_interval=_positive("poll_interval", poll_interval),
            lock_wait=_positive("lock_wait", lock_wait),
            wait_step=min(0.1, lease / 4),
        )
        self._timeout = _positive("timeout", timeout)
        if not isinstance(cluster, bool):
            raise InvalidParameterError("cluster", f"must be True or False, got {cluster!r}")
        if cluster and not isinstance(redis, str):
            raise InvalidParameterError(
                "cluster", "applies to a URL only; a client given is used as it is"
            )
        self._redis: aioredis.Redis | aioredis.RedisCluster
        if isinstance(redis, str):
            self._redis = _from_url(redis, cluster, self._timeout)
            self._owned = True
        elif isinstance(redis, aioredis.Redis | aioredis.RedisCluster):
            self._redis = redis
            self._owned = False
        else:
            raise InvalidParameterError(
                "redis",
                "must be a redis:// URL, a redis.asyncio.Redis or a redis.asyncio.RedisCluster,"
                f" got {type(redis).__name__}",
            )
        # A URL may ask for it too (``?decode_responses=true``): redis-py would then decode the
        # compressed value as UTF-8 and fail inside list_games() instead of in the store.
        if _connection_kwargs(self._redis).get("decode_responses"):
            raise InvalidParameterError(
                "redis", "the stored value is compressed bytes: use decode_responses=False"
            )
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._read = self._redis.register_script(_READ)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._write = self._redis.register_script(_WRITE)
        self._drop = self._redis.register_script(_DROP)
        self._resting_until = float("-inf")
        self._outage = False
        self._listeners: dict[str, set[Callable[[], None]]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._closed = False

    # -- lifetime -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening; close the connection pool if this store made it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        if self._owned:
            await self._redis.aclose()

    def __repr__(self) -> str:
        owned = "owned" if self._owned else "shared"
        return f"<RedisGameListStore {owned} connection lease={self.settings.lease}>"

    # -- the breaker ----------------------------------------------------------------------

    async def _run(self, command: Callable[[], Awaitable[T]]) -> T:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if time.monotonic() < self._resting_until:
            raise StoreUnavailable("Redis failed a moment ago; resting")
        try:
            async with asyncio.timeout(self._timeout):
                result = await command()
        except _STORE_ERRORS as error:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # redis-py turned our cancellation into a connection error: a client
                # closing, not Redis failing (no WARNING, no rest for the other clients).
                raise asyncio.CancelledError from None
            self._resting_until = time.monotonic() + RESTING
            if not self._outage:
                self._outage = True
                logger.warning(
                    "the shared game-list store is unavailable (%s: %s); each process "
                    "serves and fetches its own list until it returns",
                    type(error).__name__, error,
                )
            raise StoreUnavailable(str(error) or type(error).__name__) from error
        if self._outage:
            self._outage = False
            logger.info("the shared game-list store is back; sharing the game list again")
        return result

    # -- for the fleet's retry budget and circuit (fleet/_resilience.py) -------------------

    def _commands(self) -> tuple[Any, Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]]:
        """The Redis client and the guarded runner (timeout, rest, error classification)."""
        return self._redis, self._run

    # -- the primitives (see GameListStore) -----------------------------------------------

    async def peek(self, namespace: str) -> Peek:
        """The stored version tag and whether a fetch lock is held: one MGET, no value."""
        keys = _keys(namespace)
        version, lock = await self._run(lambda: self._redis.mget(keys["version"], keys["lock"]))
        return Peek(_text(version), lock is not None)

    async def read(self, namespace: str) -> tuple[str, bytes] | None:
        """The stored version and encoded list, read together atomically; ``None`` if absent."""
        keys = _keys(namespace)
        answer: Any = await self._run(
            lambda: self._read(keys=[keys["version"], keys["value"]])
        )
        version, value = ([*list(answer), None, None])[:2]
        if version is None or not isinstance(value, bytes):
            return None
        return _text(version) or "", value

    async def acquire(self, namespace: str, token: str) -> Lease | None:
        """Take the fetch lock for one lease with a new fencing token; ``None`` if held."""
        keys = _keys(namespace)
        lease_ms = int(self.settings.lease * 1000)
        answer: Any = await self._run(
            lambda: self._acquire(
                keys=[keys["lock"], keys["fence"], keys["gen"], keys["version"]],
                args=[token, lease_ms, COUNTER_KEEP_MS],
            )
        )
        if not answer:
            return None
        fence, generation, *version = answer
        return Lease(token, int(fence), int(generation), _text(version[0] if version else None))

    async def renew(self, namespace: str, lease: Lease) -> bool:
        """Extend a held lock by one lease; ``False`` when it is no longer ours."""
        keys = _keys(namespace)
        lease_ms = int(self.settings.lease * 1000)
        answer = await self._run(
            lambda: self._renew(keys=[keys["lock"]], args=[lease.token, lease_ms])
        )
        return bool(answer)

    async def release(self, namespace: str, lease: Lease) -> None:
        """Give the lock back, only if it is still ours."""
        keys = _keys(namespace)
        await self._run(lambda: self._release(keys=[keys["lock"]], args=[lease.token]))

    async def write(
        self, namespace: str, lease: Lease, value: bytes, keep_for: float
    ) -> str | None:
        """Store a fetched list unless a newer fence or invalidation came first (checked
        atomically in one script); the new version, or ``None`` when fenced out."""
        keys = _keys(namespace)
        version = f"{lease.fence}-{lease.token[:8]}"
        written = await self._run(
            lambda: self._write(
                keys=[keys[k] for k in ("value", "version", "fence", "gen", "lock", "backoff")],
                args=[
                    lease.fence, lease.generation, lease.token, value, version,
                    max(1, int(keep_for * 1000)), keys["changed"],
                ],
            )
        )
        return version if written else None

    async def drop(self, namespace: str, keep_for: float) -> str:
        """Drop the list fleet-wide (a tombstone version and a new generation); the tombstone."""
        keys = _keys(namespace)
        tag = f"{time.time_ns() & 0xFFFFFF:x}"
        version = await self._run(
            lambda: self._drop(
                keys=[keys["value"], keys["version"], keys["gen"]],
                args=[tag, max(1, int(keep_for * 1000)), keys["changed"], COUNTER_KEEP_MS],
            )
        )
        return _text(version) or ""

    async def back_off(self, namespace: str, seconds: float) -> None:
        """Tell the whole fleet not to refresh for ``seconds`` (after a failed refresh)."""
        key = _keys(namespace)["backoff"]
        await self._run(lambda: self._redis.set(key, b"1", px=max(1, int(seconds * 1000))))

    async def backing_off(self, namespace: str) -> float:
        """Seconds left of the fleet's refresh back-off; ``0.0`` when there is none."""
        key = _keys(namespace)["backoff"]
        left: int = await self._run(lambda: self._redis.pttl(key))
        return left / 1000 if left > 0 else 0.0

    def watch(self, namespace: str, nudge: Callable[[], None]) -> Callable[[], None]:
        """Call ``nudge`` when another process announces a change; returns the way to stop.

        Pub/sub may drop messages: the poll interval still bounds staleness. A cluster client
        without pub/sub (redis-py before 8.0) leaves the poll interval alone to do it."""
        channel = _keys(namespace)["changed"]
        if not hasattr(self._redis, "pubsub"):
            return _nothing_to_stop
        self._listeners.setdefault(channel, set()).add(nudge)
        # A finished listener belonged to a loop that ended (``asyncio.run()`` cancels it):
        # listen again on this one.
        if (self._listener is None or self._listener.done()) and not self._closed:
            self._listener = asyncio.get_running_loop().create_task(self._listen())

        def stop() -> None:
            nudges = self._listeners.get(channel)
            if nudges is not None:
                nudges.discard(nudge)
                if not nudges:
                    del self._listeners[channel]

        return stop

    # -- pub/sub --------------------------------------------------------------------------

    async def _listen(self) -> None:
        """One subscriber connection per store, following the channels being watched.
        Best effort: on any failure it reconnects a second later; the poll interval still
        bounds how stale a process can be."""
        pubsub: Any = None
        subscribed: set[str] = set()
        try:
            # ``_closed`` too, not only the cancellation: redis-py may turn a cancellation
            # during a read into a connection error, which this loop survives by design.
            while not self._closed:
                wanted = set(self._listeners)
                if not wanted:
                    if pubsub is not None:  # nobody watches: stop receiving, free the connection
                        with contextlib.suppress(*_STORE_ERRORS):
                            await pubsub.aclose()
                        pubsub = None
                    await asyncio.sleep(RESTING)
                    continue
                try:
                    if pubsub is None:
                        if isinstance(self._redis, aioredis.RedisCluster):
                            # its pub/sub finds the channel's node in the slot map (done once)
                            await self._redis.initialize()
                        pubsub = self._redis.pubsub()
                        subscribed = set()
                    if wanted - subscribed:
                        await pubsub.subscribe(*(wanted - subscribed))
                        subscribed |= wanted
                    if subscribed - wanted:
                        await pubsub.unsubscribe(*(subscribed - wanted))
                        subscribed &= wanted
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=RESTING
                    )
                except _STORE_ERRORS as error:
                    logger.debug("pub/sub listener failed (%s); reconnecting", error)
                    if pubsub is not None:
                        with contextlib.suppress(*_STORE_ERRORS):
                            await pubsub.aclose()
                    pubsub = None
                    await asyncio.sleep(RESTING)
                    continue
                if message and message.get("type") == "message":
                    channel = _text(message.get("channel")) or ""
                    for nudge in tuple(self._listeners.get(channel, ())):
                        nudge()
        finally:
            if pubsub is not None:
                with contextlib.suppress(*_STORE_ERRORS):
                    await pubsub.aclose()


def _from_url(
    url: str, cluster: bool, timeout: float
) -> aioredis.Redis | aioredis.RedisCluster:
    """A client of its own for ``url``; connecting waits for the first command."""
    kind = aioredis.RedisCluster if cluster else aioredis.Redis
    try:
        return kind.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    except (ValueError, RedisClusterException) as error:  # not a URL this client can use
        raise InvalidParameterError("redis", str(error)) from None


def _connection_kwargs(redis: aioredis.Redis | aioredis.RedisCluster) -> dict[str, Any]:
    """The options every connection is made with (a cluster client keeps them itself)."""
    if isinstance(redis, aioredis.RedisCluster):
        return dict(redis.get_connection_kwargs())
    return dict(redis.connection_pool.connection_kwargs)


def _nothing_to_stop() -> None:
    """What :meth:`RedisGameListStore.watch` returns when it cannot listen."""


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
