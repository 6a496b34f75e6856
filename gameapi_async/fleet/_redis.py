"""``RedisGameListStore``: the fleet-shared game list on Redis (the only module importing redis).

Keys of one namespace (a hash of base URL and agent id, never the token) share the hash tag
``{<namespace>}``, so they live in one slot and every script runs whole on the node owning
that slot of a Redis Cluster (a ``RedisCluster`` client, or a URL with ``cluster=True``)::

    gameapi:{ns}:value    zlib-compressed JSON of the list and its fetched_at (never pickle)
    gameapi:{ns}:version  "<fence>-<token>-<Redis TIME in ms>", new on every write (the list's
                          age, by one clock for the fleet); "x..." after a drop
    gameapi:{ns}:lock     the fetch lock: a random token, SET NX PX lease, renewed by its holder
    gameapi:{ns}:fence    INCR on every lock acquisition (the fencing token); kept 7 days
    gameapi:{ns}:gen      INCR on every fleet-wide drop (invalidate, definite error); 7 days
    gameapi:{ns}:backoff  present while the fleet backs off after a failed refresh
    gameapi:{ns}:changed  pub/sub channel: a version was written or dropped

Every command waits for one of ``max_connections`` slots, then runs under a short timeout
behind a circuit breaker: after a failure the store answers :class:`StoreUnavailable` at once
for a second, then tries again; one WARNING per outage, one INFO when sharing resumes. An
answer no retry changes (READONLY, NOPERM, OOM, scripts refused) is one WARNING naming the
fix, never an outage. A lock command whose answer was lost is given back as soon as Redis
answers again. Pub/sub has its own connection, and stops for good (poll-only, said once)
when the user may not use the channel.
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
    from redis.exceptions import (
        MaxConnectionsError,
        NoPermissionError,
        OutOfMemoryError,
        ReadOnlyError,
        RedisClusterException,
        RedisError,
        ResponseError,
    )
except ImportError as error:  # pragma: no cover - exercised in a subprocess without redis
    raise ImportError(
        "RedisGameListStore needs the redis client: pip install 'gameapi-async[redis]'"
    ) from error

from .._config import check_seconds
from .._errors import InvalidParameterError
from ._store import (
    TOMBSTONE_PREFIX,
    Lease,
    Peek,
    Stored,
    StoreSettings,
    StoreUnavailable,
    raise_if_cancelling,
)

__all__ = ["RedisGameListStore"]

logger = logging.getLogger("gameapi_async.store")

T = TypeVar("T")

RESTING: Final = 1.0  # seconds the breaker answers "unavailable" after a failure
GIVE_BACK_STEP: Final = 0.1  # seconds between tries to give back a lock a lost answer held
MAX_CONNECTIONS: Final = 50  # commands at once per store; more wait for a free connection
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

# A lock answer lost on the way (a timeout, a stall) must never leave a lock nobody owns:
# asking again with the same token finds the lock ours and answers as the first time.
# KEYS: lock fence gen version; ARGV: token lease_ms counter_keep_ms
_ACQUIRE: Final = _BUMP + """
local held = redis.call('GET', KEYS[1])
local fence
if held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  fence = redis.call('GET', KEYS[2]) or bump(KEYS[2], ARGV[3])
elseif held then
  return false
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  fence = bump(KEYS[2], ARGV[3])
end
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return {fence, redis.call('GET', KEYS[3]) or '0', redis.call('GET', KEYS[4])}
"""

# One atomic look at both keys and the server's clock, so a version never comes with another
# version's value, and every process ages a list by the same clock (Redis').
_READ: Final = """
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('TIME')}
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

# PUBLISH under pcall: a user without the channel's permission gets the list stored and the
# refusal back, never a script stopped half-way. An empty channel: the store polls only.
_ANNOUNCE: Final = """
local function announce(channel, version)
  if channel == '' then return {version} end
  local published = redis.pcall('PUBLISH', channel, version)
  if type(published) == 'table' and published.err then return {version, published.err} end
  return {version}
end
"""

# Every path gives the caller's lock back. The version ends with the server's clock in
# milliseconds: the list's age, the same for every reader whatever its own clock says.
# KEYS: value version fence gen lock backoff; ARGV: fence gen token blob tag keep_ms channel
_WRITE: Final = _ANNOUNCE + """
if redis.call('GET', KEYS[5]) == ARGV[3] then redis.call('DEL', KEYS[5]) end
local fence = redis.call('GET', KEYS[3])
if not fence then return -2 end
if fence ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[4]) or '0') ~= ARGV[2] then return -1 end
local now = redis.call('TIME')
local version = ARGV[5] .. '-' .. now[1] .. string.format('%03d', math.floor(now[2] / 1000))
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[6])
redis.call('SET', KEYS[2], version, 'PX', ARGV[6])
redis.call('DEL', KEYS[6])
return announce(ARGV[7], version)
"""

# KEYS: value version gen; ARGV: tag keep_ms channel counter_keep_ms
_DROP: Final = _BUMP + _ANNOUNCE + """
local gen = bump(KEYS[3], ARGV[4])
local version = 'x' .. string.format('%d', gen) .. '-' .. ARGV[1]
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], version, 'PX', ARGV[2])
return announce(ARGV[3], version)
"""

# Why a write was refused, by the script's answer: said in the log as it happened.
_REFUSED: Final = {
    0: "another process took the fetch lock after this one's lease ran out",
    -1: "the game list was dropped fleet-wide (invalidated) during the fetch",
    -2: "the fence counter vanished from Redis (deleted or evicted) during the fetch",
}

# Answers that no retry will change: reported once, as what they are, with the fix.
_ACL_FIX: Final = (
    "the Redis user lacks a permission the store needs: grant the ACL docs/caching.md lists "
    "(keys ~gameapi:*, channel &gameapi:*, its commands)"
)
_READONLY_FIX: Final = "Redis answered as a read-only replica: give the store the primary's URL"
_FULL_FIX: Final = (
    "Redis is full (maxmemory, noeviction): raise maxmemory or choose an eviction policy "
    "such as volatile-lru (every key of the store expires)"
)
# By redis-py's class for a plain command; by Redis' words for one run inside a script.
_MISCONFIGURED: Final = (
    (ReadOnlyError, "READONLY", _READONLY_FIX),
    (NoPermissionError, "NOPERM", _ACL_FIX),
    (NoPermissionError, "user executing the script can't", _ACL_FIX),  # Redis 6.2 scripts
    (OutOfMemoryError, "OOM command not allowed", _FULL_FIX),
    (ResponseError, "unknown command", "Redis refuses a command the store needs (scripts "
     "disabled or renamed?): allow EVALSHA and SCRIPT LOAD"),
)


def _keys(namespace: str) -> dict[str, str]:
    base = f"gameapi:{{{namespace}}}:"
    return {
        name: base + name
        for name in ("value", "version", "lock", "fence", "gen", "backoff", "changed")
    }


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
            for a second (default 0.5). Waiting for a free connection does not count.
        max_connections: the most commands the store runs at once, and the size of the
            pool it makes from a URL (default 50); more wait their turn. Pub/sub has a
            connection of its own beside them.

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
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.settings = StoreSettings(
            lease=check_seconds("lease", lease, allow_none=False),
            poll_interval=check_seconds("poll_interval", poll_interval, allow_none=False),
            lock_wait=check_seconds("lock_wait", lock_wait, allow_none=False),
            wait_step=min(0.1, lease / 4),
        )
        self._timeout = check_seconds("timeout", timeout, allow_none=False)
        if (isinstance(max_connections, bool) or not isinstance(max_connections, int)
                or max_connections < 1):
            raise InvalidParameterError(
                "max_connections", f"must be a whole number >= 1, got {max_connections!r}"
            )
        self._max_connections = max_connections
        if not isinstance(cluster, bool):
            raise InvalidParameterError("cluster", f"must be True or False, got {cluster!r}")
        if cluster and not isinstance(redis, str):
            raise InvalidParameterError(
                "cluster", "applies to a URL only; a client given is used as it is"
            )
        self._redis: aioredis.Redis | aioredis.RedisCluster
        if isinstance(redis, str):
            self._redis = _from_url(redis, cluster, self._timeout, max_connections)
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
        self._told: set[str] = set()  # misconfigurations already reported (once each)
        self._slots: asyncio.Semaphore | None = None  # bound to the loop that made it
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        # Locks a command whose answer was lost may have left held: (namespace, token) ->
        # when the lease would have freed it anyway, and how many releases answered.
        self._unsure: dict[tuple[str, str], tuple[float, int]] = {}
        self._giving_back: asyncio.Task[None] | None = None
        self._poll_only = False  # the user may not use the channel: no pub/sub at all
        self._listeners: dict[str, set[Callable[[], None]]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._closed = False
        self._in_flight = 0  # commands sent and not yet answered (aclose waits for them)
        self._drained: asyncio.Event | None = None  # set when the last of them ends

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
        """Stop listening, give back locks a lost answer may have left held (one try each),
        and close the connection pool if this store made it. Idempotent."""
        if self._closed:
            return
        for task in (self._listener, self._giving_back):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._listener = self._giving_back = None
        for namespace, token in list(self._unsure):
            with contextlib.suppress(StoreUnavailable):
                await self._give_back_one(namespace, token)
        self._unsure.clear()
        self._closed = True
        # A command of another task still running would give its connection back to the
        # pool after the pool was closed, leaving it open. Each is bounded by the timeout.
        if self._in_flight:
            self._drained = asyncio.Event()
            await self._drained.wait()
        if self._owned:
            self._slot()  # closed on another loop than the last command's: that loop's pool
            await self._redis.aclose()
            if isinstance(self._redis, aioredis.Redis):
                await self._redis.connection_pool.disconnect()

    def __repr__(self) -> str:
        owned = "owned" if self._owned else "shared"
        return f"<RedisGameListStore {owned} connection lease={self.settings.lease}>"

    # -- the breaker ----------------------------------------------------------------------

    def _slot(self) -> asyncio.Semaphore:
        """The store's connection budget on the running loop (a store may outlive a loop)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            if self._slots_loop is not None and self._owned and isinstance(
                    self._redis, aioredis.Redis):
                # The pool's connections belong to the loop that ended: used from this one
                # they raise RuntimeError, and they can no longer be closed. Start afresh.
                self._redis.connection_pool.reset()  # type: ignore[no-untyped-call]
            self._slots = asyncio.Semaphore(self._max_connections)
            self._slots_loop = loop
        return self._slots

    async def _run(
        self,
        command: Callable[[], Awaitable[T]],
        *,
        lost: Callable[[], None] | None = None,
        probe: bool = False,
    ) -> T:
        """One command under the timeout and the breaker. ``lost`` is called when the
        command was sent and its answer never came (it may still run); a ``probe`` tries
        even while the breaker rests, and its answer ends the rest."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        async with self._slot():  # waiting for a connection is not Redis being slow
            if self._closed:  # closed while this command waited its turn
                raise StoreUnavailable("the store is closed")
            self._in_flight += 1
            try:
                return await self._guarded(command, lost, probe)
            finally:
                self._in_flight -= 1
                if not self._in_flight and self._drained is not None:
                    self._drained.set()

    async def _guarded(
        self, command: Callable[[], Awaitable[T]], lost: Callable[[], None] | None, probe: bool
    ) -> T:
        """The command under the timeout, its failure classified (see :meth:`_run`)."""
        if not probe and time.monotonic() < self._resting_until:
            raise StoreUnavailable("Redis failed a moment ago; resting")
        try:
            async with asyncio.timeout(self._timeout):
                result = await command()
        except _STORE_ERRORS as error:
            raise_if_cancelling()  # a client closing, not Redis failing: no WARNING, no rest
            fix = _misconfiguration(error)
            if fix is not None:
                self._misconfigured(error, fix)
                raise StoreUnavailable(str(error)) from error
            if lost is not None:
                lost()
            self._resting_until = time.monotonic() + RESTING
            if not self._outage:
                self._outage = True
                logger.warning(
                    "the shared game-list store is unavailable (%s: %s); each process "
                    "serves and fetches its own list until it returns",
                    type(error).__name__, error,
                )
            raise StoreUnavailable(str(error) or type(error).__name__) from error
        if probe:
            self._resting_until = float("-inf")  # Redis answers: no need to rest any longer
        if self._outage:
            self._outage = False
            logger.info("the shared game-list store is back; sharing the game list again")
        return result

    def _misconfigured(self, error: Exception, fix: str) -> None:
        """Say once what is wrong and how to fix it: retrying will not change the answer,
        so it is neither an outage nor a reason to rest."""
        if fix in self._told:
            return
        self._told.add(fix)
        logger.warning(
            "the shared game-list store cannot work with this Redis (%s: %s): %s. Each "
            "process fetches its own list until then", type(error).__name__, error, fix,
        )

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

    async def read(self, namespace: str) -> Stored | None:
        """The stored version and encoded list, read together atomically, aged by Redis'
        clock; ``None`` if absent or dated in the future (by that same clock)."""
        keys = _keys(namespace)
        answer: Any = await self._run(
            lambda: self._read(keys=[keys["version"], keys["value"]])
        )
        version, value, now = answer
        if version is None or not isinstance(value, bytes):
            return None
        tag = _text(version) or ""
        if tag.startswith(TOMBSTONE_PREFIX):
            return Stored(tag, value, 0.0)
        age = _age(tag, now)
        if age is None:
            logger.warning("ignoring a game list in the shared store whose version %r is not "
                           "one this SDK writes; it will be overwritten", tag)
            return None
        if age < 0:
            logger.warning("ignoring a game list in the shared store dated %.1f s in the "
                           "future by Redis' clock; it will be overwritten", -age)
            return None
        return Stored(tag, value, age)

    async def acquire(self, namespace: str, token: str) -> Lease | None:
        """Take the fetch lock for one lease with a new fencing token; ``None`` if held.
        Asking again with the same token is safe: a held lock that is ours is answered
        as ours, and a lost answer leaves the lock to be given back when Redis answers."""
        keys = _keys(namespace)
        lease_ms = int(self.settings.lease * 1000)
        answer: Any = await self._run(
            lambda: self._acquire(
                keys=[keys["lock"], keys["fence"], keys["gen"], keys["version"]],
                args=[token, lease_ms, COUNTER_KEEP_MS],
            ),
            lost=lambda: self._lost_lock(namespace, token),
        )
        if not answer:
            return None
        fence, generation, version = answer
        return Lease(token, int(fence), int(generation), _text(version))

    async def renew(self, namespace: str, lease: Lease) -> bool:
        """Extend a held lock by one lease; ``False`` when it is no longer ours."""
        keys = _keys(namespace)
        lease_ms = int(self.settings.lease * 1000)
        answer = await self._run(
            lambda: self._renew(keys=[keys["lock"]], args=[lease.token, lease_ms])
        )
        return bool(answer)

    async def release(self, namespace: str, lease: Lease) -> None:
        """Give the lock back, only if it is still ours (again later if it failed)."""
        keys = _keys(namespace)
        try:
            await self._run(lambda: self._release(keys=[keys["lock"]], args=[lease.token]))
        except StoreUnavailable:
            self._lost_lock(namespace, lease.token)
            raise

    async def write(
        self, namespace: str, lease: Lease, value: bytes, keep_for: float
    ) -> str | None:
        """Store a fetched list unless a newer fence or invalidation came first (checked
        atomically in one script, which gives the lock back on every path); the new
        version, or ``None`` when fenced out (logged with the reason)."""
        keys = _keys(namespace)
        try:
            answer: Any = await self._run(
                lambda: self._write(
                    keys=[keys[k] for k in ("value", "version", "fence", "gen", "lock", "backoff")],
                    args=[
                        lease.fence, lease.generation, lease.token, value,
                        f"{lease.fence}-{lease.token[:8]}", max(1, int(keep_for * 1000)),
                        self._channel(namespace),
                    ],
                )
            )
        except StoreUnavailable:  # sent or not, the lock may still be ours: give it back
            self._lost_lock(namespace, lease.token)
            raise
        if isinstance(answer, int):
            logger.info("not storing this fetch's game list: %s", _REFUSED.get(answer, answer))
            return None
        return self._announced(answer)

    async def drop(self, namespace: str, keep_for: float) -> str:
        """Drop the list fleet-wide (a tombstone version and a new generation); the tombstone."""
        keys = _keys(namespace)
        tag = f"{time.time_ns() & 0xFFFFFF:x}"
        answer: Any = await self._run(
            lambda: self._drop(
                keys=[keys["value"], keys["version"], keys["gen"]],
                args=[tag, max(1, int(keep_for * 1000)), self._channel(namespace),
                      COUNTER_KEEP_MS],
            )
        )
        return self._announced(answer)

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
        without pub/sub (redis-py before 8.0), or a user without the channel's permission,
        leaves the poll interval alone to do it."""
        channel = _keys(namespace)["changed"]
        if not hasattr(self._redis, "pubsub") or self._poll_only:
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

    # -- locks a lost answer may have left held -------------------------------------------

    def _lost_lock(self, namespace: str, token: str) -> None:
        """A lock command failed or lost its answer, and Redis may still run it late (after
        a stall): give the lock back as soon as Redis answers, not a lease later."""
        self._unsure[(namespace, token)] = (time.monotonic() + self.settings.lease, 0)
        if (self._giving_back is None or self._giving_back.done()) and not self._closed:
            self._giving_back = asyncio.get_running_loop().create_task(self._give_back())

    async def _give_back(self) -> None:
        """Release every unsure lock, trying through the breaker's rest (each try is one
        command under the timeout), so the fleet's next fetch waits for Redis, not a lease.
        A lock is forgotten once a release took it, or two releases answered a step apart
        (a command Redis held through a stall runs as it wakes, before the second), or
        once its lease would have freed it anyway."""
        while self._unsure and not self._closed:
            try:
                for (namespace, token), (expires, answered) in list(self._unsure.items()):
                    done = (time.monotonic() > expires
                            or await self._give_back_one(namespace, token) or answered > 0)
                    if done:
                        del self._unsure[(namespace, token)]
                    else:
                        self._unsure[(namespace, token)] = (expires, answered + 1)
            except StoreUnavailable:
                pass
            await asyncio.sleep(GIVE_BACK_STEP)

    async def _give_back_one(self, namespace: str, token: str) -> bool:
        """Release the lock if it is ours; whether it was."""
        lock = _keys(namespace)["lock"]
        released = await self._run(
            lambda: self._release(keys=[lock], args=[token]), probe=True
        )
        return bool(released)

    # -- pub/sub --------------------------------------------------------------------------

    def _channel(self, namespace: str) -> str:
        """The channel a script announces on; empty once the user may not use it."""
        return "" if self._poll_only else _keys(namespace)["changed"]

    def _announced(self, answer: Any) -> str:
        """The version from a script's ``{version[, publish error]}``."""
        version, *refused = answer
        if refused:
            self._no_channel(ResponseError(_text(refused[0]) or "PUBLISH refused"))
        return _text(version) or ""

    def _no_channel(self, error: Exception) -> None:
        """The user may not publish or subscribe: poll only, said once; not an outage."""
        if self._poll_only:
            return
        self._poll_only = True
        self._listeners.clear()
        logger.warning(
            "Redis refused the store's pub/sub channel (%s); processes now learn of changes "
            "by polling every %g s. Grant the channel to the store's Redis user "
            "(ACL SETUSER <user> &gameapi:*) for prompt pick-up", error,
            self.settings.poll_interval,
        )

    async def _listen(self) -> None:
        """One subscriber connection per store, its own (outside the command budget),
        following the channels being watched. Best effort: on any failure it reconnects a
        second later; the poll interval still bounds how stale a process can be. A refused
        channel permission ends it for good (poll-only)."""
        subscriber: aioredis.Redis | aioredis.RedisCluster | None = None
        pubsub: Any = None
        subscribed: set[str] = set()
        try:
            # ``_closed`` too, not only the cancellation: redis-py may turn a cancellation
            # during a read into a connection error, which this loop survives by design.
            while not self._closed and not self._poll_only:
                wanted = set(self._listeners)
                if not wanted:
                    if pubsub is not None:  # nobody watches: stop receiving, free the connection
                        await _quietly_close(pubsub, subscriber)
                        pubsub = subscriber = None
                    await asyncio.sleep(RESTING)
                    continue
                try:
                    if pubsub is None:
                        subscriber = await self._subscriber()
                        pubsub = subscriber.pubsub()
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
                    await _quietly_close(pubsub, subscriber)
                    pubsub = subscriber = None
                    if _misconfiguration(error) == _ACL_FIX:
                        self._no_channel(error)
                        return
                    logger.debug("pub/sub listener failed (%s); reconnecting", error)
                    await asyncio.sleep(RESTING)
                    continue
                if message and message.get("type") == "message":
                    channel = _text(message.get("channel")) or ""
                    for nudge in tuple(self._listeners.get(channel, ())):
                        nudge()
        finally:
            await _quietly_close(pubsub, subscriber)

    async def _subscriber(self) -> aioredis.Redis | aioredis.RedisCluster:
        """The client pub/sub runs on: a one-connection pool of its own for a single server
        (so it never takes a connection from the commands' budget); on a cluster, the
        cluster client, whose pub/sub finds the channel's node in the slot map."""
        if isinstance(self._redis, aioredis.RedisCluster):
            await self._redis.initialize()  # done once
            return self._redis
        pool = self._redis.connection_pool
        return aioredis.Redis(connection_pool=aioredis.ConnectionPool(
            connection_class=pool.connection_class, max_connections=1,
            **pool.connection_kwargs,
        ))


async def _quietly_close(
    pubsub: Any, subscriber: aioredis.Redis | aioredis.RedisCluster | None
) -> None:
    """Close a subscription and, for a single server, its own connection pool."""
    with contextlib.suppress(*_STORE_ERRORS):
        if pubsub is not None:
            await pubsub.aclose()
        if isinstance(subscriber, aioredis.Redis):
            await subscriber.connection_pool.disconnect()


def _misconfiguration(error: BaseException) -> str | None:
    """The fix for an error no retry will change, or ``None`` for an outage."""
    if isinstance(error, MaxConnectionsError):
        return ("the Redis client given to the store has no free connection: give it a "
                "BlockingConnectionPool, or more connections than the store's max_connections")
    if isinstance(error, ResponseError):
        text = str(error)
        for kind, marker, fix in _MISCONFIGURED:
            if isinstance(error, kind) or marker in text:
                return fix
    return None


def _age(version: str, now: Any) -> float | None:
    """Seconds since the write that made ``version``, by Redis' ``TIME`` reading ``now``;
    ``None`` when the version carries no time (not written by this SDK)."""
    stamp = version.rpartition("-")[2]
    if not stamp.isdigit():
        return None
    seconds, micros = (int(part) for part in now)
    return (seconds * 1000 + micros // 1000 - int(stamp)) / 1000


def _from_url(
    url: str, cluster: bool, timeout: float, max_connections: int
) -> aioredis.Redis | aioredis.RedisCluster:
    """A client of its own for ``url``: a bounded pool whose callers wait for a free
    connection (the store's budget keeps them few); connecting waits for the first command."""
    try:
        if cluster:
            return aioredis.RedisCluster.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout,
                max_connections=max_connections,
            )
        pool = aioredis.BlockingConnectionPool.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout,
            max_connections=max_connections, timeout=None,
        )
    except (ValueError, RedisClusterException) as error:  # not a URL this client can use
        raise InvalidParameterError("redis", str(error)) from None
    return aioredis.Redis(connection_pool=pool)


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
