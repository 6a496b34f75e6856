"""The retry budget and the circuit shared by every process of a fleet, on the store's Redis.

One process in an outage knows what all of them will learn; this module lets them learn it once.
State lives beside the game list, under the same hash tag (one slot of a cluster)::

    gameapi:{ns}:budget:<share>:<per_second>:<max>   the bucket: tokens and when last filled
    gameapi:{ns}:circuit   present while the circuit is open; its PTTL is the cool-down left
    gameapi:{ns}:probe     the one probe of the fleet: SET NX PX, by the process sending it
    gameapi:{ns:circuit}:changed   pub/sub: the circuit opened or closed somewhere

What it costs: a call that succeeds sends Redis nothing. Deposits (``share`` a call) and the
refunds of answered retries are kept in the process and handed over with the next withdrawal,
so the only budget command is one script per retry. The circuit costs one script per change of
state, one per probe claim, and one read per change announced by another process.

While Redis is unreachable (``StoreUnavailable``: the store classifies and logs its errors)
each process falls back to its own bucket and circuit, which it keeps up to date all along.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

from .._breaker import CLOSED, HALF_OPEN, OPEN, Circuit, CircuitBreaker
from .._budget import LocalBudgetAccount, RetryBudget, RetryBudgets
from .._clock import Clock
from .._events import EventHook
from ._store import StoreUnavailable

__all__ = ["FleetResilience", "fleet_resilience"]

KEEP_MS: Final = 3600 * 1000  # an idle bucket is forgotten after an hour (it refills by then)

# KEYS: bucket; ARGV: deposits max_tokens per_second keep_ms.
# Time is Redis' own, so the processes' clocks never matter.
_WITHDRAW: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local max = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or max
local at = tonumber(state[2]) or now
if now > at then tokens = tokens + (now - at) * tonumber(ARGV[3]) end
tokens = math.min(max, tokens + tonumber(ARGV[1]))
local granted = 0
if tokens >= 1 then
  tokens = tokens - 1
  granted = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at',
           string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {granted, string.format('%.6f', tokens)}
"""

# KEYS: circuit probe; ARGV: cool_down_ms channel
_OPEN: Final = """
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[2], 'open')
return 1
"""

# KEYS: circuit probe; ARGV: channel. Published whether or not the circuit key was still
# there: after the cool-down it has expired, yet the others wait for this word.
_CLOSE: Final = """
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[1], 'closed')
return 1
"""

# KEYS: circuit probe; ARGV: token lease_ms.
# -> the cool-down left (ms) while open; -1: this process probes; -2: another one does.
_CLAIM: Final = """
local left = redis.call('PTTL', KEYS[1])
if left > 0 then return left end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return -1 end
return -2
"""

# KEYS: circuit -> the cool-down left (ms), or <= 0 when closed.
_STATE: Final = """
return redis.call('PTTL', KEYS[1])
"""


class FleetResilience:
    """What one client gets from its store: the fleet's budget accounts and circuit."""

    def __init__(self, store: Any, namespace: str, clock: Clock) -> None:
        from ._redis import _keys  # the store's key layout: one hash tag per namespace

        self._redis, self._run = store._commands()
        self._store = store
        self._clock = clock
        self._namespace = namespace
        self._prefix = _keys(namespace)["value"].removesuffix("value")
        self._channel_namespace = f"{namespace}:circuit"
        self._channel = _keys(self._channel_namespace)["changed"]
        self._withdraw = self._redis.register_script(_WITHDRAW)
        self._open = self._redis.register_script(_OPEN)
        self._close = self._redis.register_script(_CLOSE)
        self._claim = self._redis.register_script(_CLAIM)
        self._state = self._redis.register_script(_STATE)

    def budgets(self) -> RetryBudgets:
        """The client's budget accounts, each one bucket of the fleet."""
        return RetryBudgets(lambda budget: FleetBudgetAccount(self, budget))

    def circuit(self, breaker: CircuitBreaker, hooks: Sequence[EventHook]) -> Circuit:
        """The client's circuit, kept in step with the fleet's."""
        return FleetCircuit(self, breaker, hooks)

    def key(self, name: str) -> str:
        """A key of this namespace."""
        return self._prefix + name

    async def run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """One script through the store's timeout and error classification."""
        return await self._run(lambda: script(keys=keys, args=args))


class FleetBudgetAccount:
    """A ``RetryBudget``'s bucket in Redis, with this process's own bucket as the fallback."""

    __slots__ = ("_fleet", "_key", "_local", "_pending")

    def __init__(self, fleet: FleetResilience, budget: RetryBudget) -> None:
        self._fleet = fleet
        self._local = LocalBudgetAccount(budget, fleet._clock)
        self._key = fleet.key(
            f"budget:{budget.share:g}:{budget.per_second:g}:{budget.max_tokens:g}"
        )
        self._pending = 0.0  # deposits and refunds not yet handed to the fleet

    @property
    def budget(self) -> RetryBudget:
        """The parameters of this account."""
        return self._local.budget

    def deposit(self) -> None:
        """A call started: its share goes to both buckets (the fleet's with the next retry)."""
        self._local.deposit()
        self._pending = min(self._pending + self.budget.share, self.budget.max_tokens)

    def refund(self) -> None:
        """A retry was answered: its token goes back to both buckets."""
        self._local.refund()
        self._pending = min(self._pending + 1.0, self.budget.max_tokens)

    async def withdraw(self) -> float | None:
        """One script: hand over the pending deposits and take a token from the fleet's
        bucket; this process's own bucket when Redis does not answer."""
        budget = self.budget
        pending, self._pending = self._pending, 0.0
        try:
            granted, left = await self._fleet.run(
                self._fleet._withdraw, [self._key],
                [f"{pending:.6f}", budget.max_tokens, budget.per_second, KEEP_MS],
            )
        except StoreUnavailable:
            return self._local.take()
        self._local.take()  # keep the fallback as spent as the fleet is
        return float(left) if int(granted) else None


class FleetCircuit(Circuit):
    """The circuit of this process, opened and closed with the fleet's.

    A process that opens or closes it tells the others through pub/sub; each then reads the
    fleet's state once. After the cool-down one process of the fleet wins the probe; the others
    keep refusing until it reports, and look again after a quarter of the cool-down if no word
    came (pub/sub may drop a message). One process seeing the platform come back closes the
    circuit for all of them.
    """

    def __init__(
        self, fleet: FleetResilience, breaker: CircuitBreaker, hooks: Sequence[EventHook]
    ) -> None:
        super().__init__(breaker, clock=fleet._clock, hooks=hooks)
        self._fleet = fleet
        self._keys = [fleet.key("circuit"), fleet.key("probe")]
        self._token = f"{id(self):x}-{fleet._clock.time():.6f}"
        self._stop: Callable[[], None] | None = None
        # The first attempt (on the client's loop) starts listening and reads the fleet's state.
        self.resync = True
        self.clear = False

    def _nudged(self) -> None:
        """Another process changed the fleet's circuit: read it before the next attempt, and
        wake the attempts waiting for a probe."""
        self.resync = True
        self.clear = False
        self.wake()

    async def refresh(self) -> None:
        """The fleet's word first, if it changed."""
        if self.resync:
            self.resync = False
            if self._stop is None:
                self._stop = self._fleet._store.watch(self._fleet._channel_namespace, self._nudged)
            await self._sync()

    async def _sync(self) -> None:
        try:
            left = await self._fleet.run(self._fleet._state, self._keys[:1], [])
        except StoreUnavailable:
            self.clear = self.state == CLOSED
            return
        if left > 0 and self.state != HALF_OPEN:  # opened, or a probe failed elsewhere
            self.open(left / 1000, "fleet")
        elif left <= 0 and self.state == OPEN:
            self.change(CLOSED, "fleet")
        self.clear = self.state == CLOSED

    async def claim_probe(self) -> bool:
        """The fleet's one probe; this process alone decides while Redis does not answer."""
        lease_ms = int(max(self.breaker.cool_down, 10.0) * 1000)
        try:
            answer = await self._fleet.run(self._fleet._claim, self._keys, [self._token, lease_ms])
        except StoreUnavailable:
            return True
        if answer == -1:
            return True
        now = self.clock.monotonic()
        if answer > 0:  # reopened elsewhere: wait out the fleet's cool-down
            self.open_until = now + answer / 1000
        else:  # another process is probing: its word comes by pub/sub; look again later
            self.open_until = now + self.breaker.cool_down / 4
        self.probe_elsewhere = answer < 0
        return False

    async def opened_by_us(self) -> None:
        """Open the fleet's circuit and say so."""
        cool_down_ms = int(self.breaker.cool_down * 1000)
        await self._tell(self._fleet._open, [cool_down_ms, self._fleet._channel])

    async def closed_by_us(self) -> None:
        """Close the fleet's circuit and say so."""
        await self._tell(self._fleet._close, [self._fleet._channel])

    async def _tell(self, script: Any, args: list[Any]) -> None:
        with contextlib.suppress(StoreUnavailable):  # logged by the store; we go on alone
            await self._fleet.run(script, self._keys, args)

    def stop(self) -> None:
        """The client is closing: release the waiting attempts; stop listening to the fleet."""
        super().stop()
        if self._stop is not None:
            self._stop()


def fleet_resilience(store: object, namespace: str, clock: Clock) -> FleetResilience | None:
    """The fleet's budget and circuit for a client of ``store``, when it is a Redis store;
    ``None`` for any other store (each process then keeps its own)."""
    redis_store = sys.modules.get("gameapi_async.fleet._redis")  # loaded with its class
    if redis_store is None or not isinstance(store, redis_store.RedisGameListStore):
        return None
    return FleetResilience(store, namespace, clock)

