"""The middleware pipeline every platform call goes through.

A middleware is ``async (call, call_next) -> Reply``: it may change the call, call
``call_next`` zero or more times, and inspect or replace the reply or the error. The innermost
handler stamps, signs, sends and parses exactly one attempt, so a middleware that calls
``call_next`` again (retry, clock resync) always sends a freshly stamped and signed request.

This is the SDK's own chain rather than aiohttp's client middlewares: those sit below signing
(they would see bytes already signed) and are bypassed by aioresponses in tests.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import CoroutineType
from typing import Protocol

import attrs

from ._errors import MiddlewareError
from ._policy import RetryPolicy
from ._protocol import Endpoint, Envelope

__all__ = ["Call", "CallOptions", "Handler", "Middleware", "Reply", "compose"]


@attrs.frozen
class CallOptions:
    """Per-call settings; ``client.with_options(...)`` makes a client with other defaults.

    Attributes:
        timeout: seconds one attempt may take, connect to last byte (``None``: no limit).
        connect_timeout: seconds to open a TCP (and TLS) connection (``None``: no limit).
        retry: the retry policy of the call.
    """

    timeout: float | None = 10.0  # seconds for one attempt, connect to last byte
    connect_timeout: float | None = 5.0  # seconds to open a TCP (and TLS) connection
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)


@attrs.define
class Call:
    """One logical call to the platform, as it travels down the pipeline.

    Treat it as read-only: a middleware that wants to change it passes
    ``attrs.evolve(call, ...)`` on. (A plain slotted class, made once per call: a frozen one
    sets each field through ``object.__setattr__``, several times the cost of making it.)

    Attributes:
        endpoint: which platform endpoint is called.
        params: the endpoint's parameters, validated and ready to sign.
        options: the timeouts and retry policy in force for this call.
        attempt: 1 for the first attempt; retry middlewares count up.
        clock_offset: seconds added to the local clock when stamping ``timestamp``.
        deadline: when the whole call must be over, on the client clock's ``monotonic()``
            (``None``: no deadline); fixed once when the call starts, so a retry and a
            clock-resync re-send stay within the same deadline.
    """

    endpoint: Endpoint
    params: Mapping[str, object]  # validated, ready to sign
    options: CallOptions
    attempt: int = 1  # 1 for the first attempt; retry middlewares count up
    clock_offset: float = 0.0  # seconds added to the local clock when stamping ``timestamp``
    deadline: float | None = None  # monotonic time the call must be over by


@attrs.define
class Reply:
    """A successful attempt: the checked envelope and when it was sent and answered.

    A plain slotted class, made once per attempt: treat it as read-only.

    Attributes:
        envelope: the platform's success envelope, checked (content, timestamp, request id).
        sent_at: when the attempt was sent, local wall clock in Unix seconds.
        received_at: when its answer arrived, same clock.
        attempt: the number of the attempt that succeeded.
    """

    envelope: Envelope
    sent_at: float  # local wall clock, Unix seconds
    received_at: float
    attempt: int = 1


Handler = Callable[[Call], Awaitable[Reply]]
"""The rest of the pipeline as seen by a middleware: ``await call_next(call)`` sends the call
through the inner middlewares and the transport and returns its ``Reply``."""


class Middleware(Protocol):
    """``async def middleware(call, call_next) -> Reply``, given to the client as
    ``middlewares=[...]``, outermost first.

    A middleware may change the call (``attrs.evolve``), await ``call_next`` zero or more
    times, and inspect or replace the reply or the error. Every ``call_next`` sends a freshly
    stamped and signed attempt, so calling it again is a safe retry. Your middlewares run
    outside the built-in ones: they see one logical call, not each attempt.
    """

    def __call__(self, call: Call, call_next: Handler, /) -> Awaitable[Reply]: ...


def compose(middlewares: Sequence[Middleware], innermost: Handler) -> Handler:
    """One handler running ``middlewares`` first to last (outermost first), then ``innermost``."""
    handler = innermost
    for middleware in reversed(middlewares):
        handler = _bind(middleware, handler)
    return handler


def _bind(middleware: Middleware, call_next: Handler) -> Handler:
    # A caller's middleware is checked on every call: one that is not async, or whose awaitable
    # gives something other than a Reply, would otherwise surface far away as a raw TypeError
    # (awaiting a non-awaitable) or AttributeError (``.envelope`` of the wrong object).
    async def handler(call: Call) -> Reply:
        pending = middleware(call, call_next)
        # An ``async def`` gives a coroutine: known at once, without inspect's longer look.
        if type(pending) is not CoroutineType and not inspect.isawaitable(pending):
            raise MiddlewareError(
                _name(middleware),
                f"is not async: it returned {type(pending).__name__}, not an awaitable "
                "(write it as `async def middleware(call, call_next)`)",
            )
        reply = await pending
        if not isinstance(reply, Reply):
            raise MiddlewareError(
                _name(middleware),
                f"returned {type(reply).__name__}, not a Reply (return what call_next gave, "
                "or a Reply of your own)",
            )
        return reply

    return handler


def _name(middleware: object) -> str:
    """How a middleware is named in an error: its qualified name, or its class's."""
    name = getattr(middleware, "__qualname__", None)
    if not isinstance(name, str):
        name = type(middleware).__qualname__
    module = getattr(middleware, "__module__", None) or type(middleware).__module__
    return f"{module}.{name}" if isinstance(module, str) and module else name
