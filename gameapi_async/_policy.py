"""``RetryPolicy``: how many attempts, how long to wait between them, when to give up."""

from __future__ import annotations

import random
from typing import Any

import attrs

from ._budget import RetryBudget
from ._config import check_seconds
from ._errors import InvalidParameterError

__all__ = ["RetryPolicy"]


def _check_positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    check_seconds(f"retry.{attribute.name}", value, allow_none=False, allow_zero=True)


def _check_attempts(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError("retry.attempts", f"must be an int >= 1, got {value!r}")


def _check_deadline(instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None:
        _check_positive(instance, attribute, value)


def _check_budget(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, RetryBudget):
        raise InvalidParameterError(
            "retry.budget", f"must be a RetryBudget or None, got {type(value).__name__}"
        )


@attrs.frozen
class RetryPolicy:
    """When and how a call is tried again.

    Only transient failures are retried (network errors, timeouts, HTTP 429/500/502/503/504);
    a definite answer (signature, not found, not available, validation, method) never is.

    Attributes:
        attempts: attempts in all, the first included (1 disables retrying).
        wait_initial: the backoff before the second attempt is drawn from ``[0, wait_initial]``.
        wait_max: the cap of the exponential backoff (``wait_initial * 2**n``).
        deadline: seconds from the start of the call after which no new attempt starts and no
            wait may reach; ``None`` for no deadline.
        retry_after_max: the longest ``Retry-After`` the client will honour.
        budget: the ``RetryBudget`` all calls of the client (of the fleet, with a fleet
            store) spend their retries from; ``None`` lets every call retry on its own.
    """

    attempts: int = attrs.field(default=4, validator=_check_attempts)
    wait_initial: float = attrs.field(default=0.25, validator=_check_positive)
    wait_max: float = attrs.field(default=8.0, validator=_check_positive)
    deadline: float | None = attrs.field(default=30.0, validator=_check_deadline)
    retry_after_max: float = attrs.field(default=30.0, validator=_check_positive)
    budget: RetryBudget | None = attrs.field(default=RetryBudget(), validator=_check_budget)

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """One attempt, no retry."""
        return cls(attempts=1)

    def backoff(self, failed_attempts: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff after ``failed_attempts`` failures (1, 2, ...)."""
        ceiling = min(self.wait_max, self.wait_initial * 2 ** (failed_attempts - 1))
        return rng.uniform(0.0, ceiling)

    def wait(self, failed_attempts: int, retry_after: float | None, rng: random.Random) -> float:
        """The wait before the next attempt: the platform's ``Retry-After`` (capped) if it
        asked for one, else the jittered backoff."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        return self.backoff(failed_attempts, rng)
