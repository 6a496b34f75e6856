"""``RetryMiddleware``: try transient failures again, with backoff, within a deadline.

Each retry goes down the pipeline again, so it is stamped and signed afresh: a retry after a
long wait is never refused as expired. Definite answers are raised at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence

import attrs

from .._budget import LocalBudgetAccount, RetryBudgets
from .._clock import Clock, SystemClock
from .._errors import CircuitOpenError, GameApiError, is_transient
from .._events import EventHook, RetryRefused, RetryScheduled, emit
from .._pipeline import Call, Handler, Reply

__all__ = ["RetryMiddleware"]

logger = logging.getLogger("gameapi_async")


class RetryMiddleware:
    """Applies ``call.options.retry``; sleeps through the client's clock."""

    __slots__ = ("_budgets", "_clock", "_hooks", "_monotonic", "_rng")

    def __init__(
        self,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        hooks: Sequence[EventHook] = (),
        budgets: RetryBudgets | None = None,
    ) -> None:
        self._clock = clock
        # The tokens of the policy's RetryBudget: this client's, or the fleet's.
        self._budgets = budgets or RetryBudgets(lambda budget: LocalBudgetAccount(budget, clock))
        # Read once per call for the deadline: the system clock directly, one call fewer.
        self._monotonic = time.monotonic if type(clock) is SystemClock else clock.monotonic
        self._rng = rng if rng is not None else random.Random()
        self._hooks = tuple(hooks)

    async def __call__(self, call: Call, call_next: Handler) -> Reply:
        policy = call.options.retry
        if policy.attempts == 1:
            return await call_next(call)
        clock = self._clock
        deadline = call.deadline
        if deadline is None and policy.deadline is not None:
            # A call made by hand, without the client: its deadline starts here.
            deadline = self._monotonic() + policy.deadline
            call = attrs.evolve(call, deadline=deadline)
        attempt_call = call
        # Attempts made before this one (a clock-resync re-send continues a call: its policy
        # then carries the budget and deadline left, see ClockSkewMiddleware).
        before = call.attempt - 1
        failed = 0
        account = self._budgets.account(policy.budget)
        if account is not None and before == 0:
            account.deposit()
        while True:
            try:
                reply = await call_next(attempt_call)
            except GameApiError as error:
                failed += 1
                error.attempts = before + failed
                if failed >= policy.attempts or not is_transient(error):
                    raise
                if isinstance(error, CircuitOpenError) or error._failed_probe:
                    # The breaker refused the attempt, or it was the probe and the circuit has
                    # just reopened: a retry could only wait a cool-down for the next probe.
                    raise
                wait = policy.wait(failed, getattr(error, "retry_after", None), self._rng)
                if deadline is not None and clock.monotonic() + wait >= deadline:
                    raise  # the next attempt could not start before the deadline
                if account is not None and not await self._budgets.withdraw(
                    account, call.endpoint.name
                ):
                    if self._hooks:
                        emit(self._hooks, RetryRefused(call.endpoint.name, before + failed, error))
                    raise
                self._announce(call, before + failed, wait, error)
                await clock.sleep(wait)
                attempt_call = self._next_attempt(call, before + failed + 1, deadline)
            else:
                if failed and account is not None:
                    account.refund()  # the retry was answered: it cost no amplification
                return reply

    def _next_attempt(self, call: Call, attempt: int, deadline: float | None) -> Call:
        options = call.options
        if deadline is not None:
            remaining = deadline - self._clock.monotonic()
            if options.timeout is None or remaining < options.timeout:
                # No attempt may outlive the call's deadline.
                options = attrs.evolve(options, timeout=max(remaining, 0.001))
        return attrs.evolve(call, attempt=attempt, options=options)

    def _announce(self, call: Call, failed: int, wait: float, error: GameApiError) -> None:
        if logger.isEnabledFor(logging.WARNING):
            what = getattr(error, "code", None) or type(error).__name__
            logger.warning(
                "%s attempt %d failed (%s, http_status=%s, request_id=%s); retrying in %.2f s",
                call.endpoint.name, failed, what, error.http_status, error.request_id, wait,
            )
        if self._hooks:
            emit(self._hooks, RetryScheduled(call.endpoint.name, failed, wait, error))
