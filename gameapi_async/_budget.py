"""``RetryBudget``: retries may spend only a share of recent calls, so an outage is not multiplied.

Without a budget every call retries on its own: in an outage a service with 1,000 calls in flight
sends 4,000 requests to a platform that is trying to recover. The budget is a token bucket that
all the calls of one client (or, with a fleet store, of the whole fleet) draw from:

- every call deposits ``share`` tokens (0.2: one retry for every five calls);
- the bucket also fills by ``per_second`` tokens a second, so a quiet service can still retry;
- it holds at most ``max_tokens`` and starts full;
- a retry takes one token, and is refused (the call raises its last error) when none is left;
- a retry that gets an answer gives its token back: it cost the platform nothing it would not
  have spent anyway, and only retries that fail again are amplification.

So in an outage, where no retry is answered, the upstream attempts of ``N`` calls over ``T``
seconds stay within ``(1 + share) * N + max_tokens + per_second * T``; in normal weather (a
quarter of attempts failing) the retries that fail again cost far less than ``share`` a call and
nothing changes. The model is Finagle's retry budget (a share of calls plus a floor per second),
with botocore's refund of a retry that succeeds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from ._clock import Clock
from ._errors import InvalidParameterError

__all__ = ["BudgetAccount", "LocalBudgetAccount", "RetryBudget", "RetryBudgets"]

logger = logging.getLogger("gameapi_async")


def _check_number(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e12:
        raise InvalidParameterError(
            f"budget.{attribute.name}", f"must be a number >= 0, got {value!r}"
        )


@attrs.frozen(cache_hash=True)
class RetryBudget:
    """How many retries the calls of a client (or a fleet) may spend together.

    A token bucket: each call deposits ``share`` tokens, the bucket fills by ``per_second``
    tokens a second up to ``max_tokens`` (it starts full), each retry takes one token and a
    retry that is answered gives it back. With no token left a retry is refused and the call
    raises its last error at once. Give ``RetryPolicy(budget=None)`` to retry without a budget.

    Attributes:
        share: tokens each call deposits: the share of calls that may be retried in an
            outage (0.2: at most one retry for five calls).
        per_second: tokens added each second whatever the traffic, so a service making a call
            a minute can still retry.
        max_tokens: the most the bucket holds (and what it starts with): the retries a burst
            of failures may spend before the share limits them.
    """

    share: float = attrs.field(default=0.2, validator=_check_number)
    per_second: float = attrs.field(default=10.0, validator=_check_number)
    max_tokens: float = attrs.field(default=100.0, validator=_check_number)


class BudgetAccount(Protocol):
    """The tokens of one ``RetryBudget`` as a client spends them (in process or fleet-wide)."""

    @property
    def budget(self) -> RetryBudget:
        """The parameters of this account."""

    def deposit(self) -> None:
        """A call started: add ``share`` tokens (never a round trip to anything)."""

    async def withdraw(self) -> float | None:
        """Take a token for a retry: the tokens left, or ``None`` when the budget is spent."""

    def refund(self) -> None:
        """A retry was answered: give its token back."""


class LocalBudgetAccount:
    """The bucket kept in this process, on the client's monotonic clock."""

    __slots__ = ("_budget", "_clock", "_tokens", "_updated")

    def __init__(self, budget: RetryBudget, clock: Clock) -> None:
        self._budget = budget
        self._clock = clock
        self._tokens = float(budget.max_tokens)
        self._updated = clock.monotonic()

    @property
    def budget(self) -> RetryBudget:
        """The parameters of this account."""
        return self._budget

    @property
    def tokens(self) -> float:
        """The tokens in the bucket now (time's refill included)."""
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = now - self._updated
        self._updated = now
        if elapsed > 0:
            budget = self._budget
            self._tokens = min(budget.max_tokens, self._tokens + elapsed * budget.per_second)

    def deposit(self) -> None:
        """Add ``share`` tokens, up to ``max_tokens``."""
        tokens = self._tokens + self._budget.share
        self._tokens = tokens if tokens < self._budget.max_tokens else self._budget.max_tokens

    def take(self) -> float | None:
        """Take one token if there is one: the tokens left, else ``None``."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return self._tokens
        return None

    async def withdraw(self) -> float | None:
        """Take one token if there is one: the tokens left, else ``None``."""
        return self.take()

    def refund(self) -> None:
        """Give a token back, up to ``max_tokens``."""
        self._tokens = min(self._budget.max_tokens, self._tokens + 1.0)


AccountFactory = Callable[[RetryBudget], BudgetAccount]


class RetryBudgets:
    """The accounts of one client, one per ``RetryBudget`` its views use, and the one log line
    per change of state (spent, available again), never one per call."""

    __slots__ = ("_accounts", "_make", "_spent")

    def __init__(self, make: AccountFactory) -> None:
        self._make = make
        self._accounts: dict[RetryBudget, BudgetAccount] = {}
        self._spent = False

    def account(self, budget: RetryBudget | None) -> BudgetAccount | None:
        """The account of ``budget`` (made on first use); ``None`` for no budget."""
        if budget is None:
            return None
        account = self._accounts.get(budget)
        if account is None:
            account = self._accounts[budget] = self._make(budget)
        return account

    async def withdraw(self, account: BudgetAccount, endpoint: str) -> bool:
        """Take a token from ``account`` for a retry of ``endpoint``.

        Logs when the budget runs out, and when it is half full again after that: the tokens
        a trickle of calls deposits in an outage are spent at once and never flip the state.
        """
        left = await account.withdraw()
        if left is None:
            if not self._spent:
                self._spent = True
                logger.warning(
                    "retry budget spent; transient failures are raised without retrying "
                    "until calls refill it (first refused: %s)", endpoint,
                )
            return False
        if self._spent and left >= account.budget.max_tokens / 2:
            self._spent = False
            logger.info("retry budget available again; retries resume (%s)", endpoint)
        return True
