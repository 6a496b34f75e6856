"""The SDK's built-in middlewares; each one job, composed by the client in this order:

your middlewares -> ``ClockSkewMiddleware`` -> ``RetryMiddleware`` ->
``AttemptObserver`` -> one signed attempt.
"""

from .clock import ClockSkewMiddleware
from .observe import AttemptObserver
from .retry import RetryMiddleware

__all__ = ["AttemptObserver", "ClockSkewMiddleware", "RetryMiddleware"]
