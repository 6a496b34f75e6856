"""``MockTransport``: the client driven by a function instead of the network.

The client's transport is its one seam to the outside (``gameapi_async.Transport``). Swapping
it for a function that reads the request the SDK built and returns the answer keeps
everything above it real (validation, signing, retries, clock skew, the cache, parsing) and
takes sockets, ports and HTTP mocking libraries out of the test. What it cannot test is the
HTTP stack itself: for that, run the client against ``FakePlatform``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from .._errors import ClientClosedError
from .._protocol import RawResponse, SignedRequest
from .._transport import Timeouts

__all__ = ["MockHandler", "MockTransport"]

MockHandler: TypeAlias = Callable[[SignedRequest], RawResponse | Awaitable[RawResponse]]
"""What ``MockTransport`` calls for each request: a plain or an ``async`` function."""


class MockTransport:
    """A transport whose answers come from ``handler`` instead of the network.

    ``handler`` is called once per attempt with the ``SignedRequest`` the client built (the
    exact body bytes, their signature, the endpoint) and returns the ``RawResponse`` the
    platform would have sent; an ``async`` handler is awaited. Pass it as
    ``GameApiClient(..., transport=MockTransport(handler))``.

    To simulate a failure on the way, the handler raises the error the real transport would
    (``NetworkError``, ``RequestTimeoutError``); any other exception (a failed ``assert``
    inside the handler) propagates untouched, so it fails the test instead of being retried.
    A handler that is not callable, or returns anything but a ``RawResponse``, raises
    ``TypeError``.

    Every request is kept in :attr:`requests`, in the order sent, before the handler runs
    (a handler that waits still shows the request). After :meth:`aclose` (the client's
    ``close()``) ``send`` raises ``ClientClosedError``, as the real transport does.

    Attributes:
        requests: every request sent, oldest first.
    """

    def __init__(self, handler: MockHandler) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__name__}")
        self._handler = handler
        self.requests: list[SignedRequest] = []
        self._closed = False

    def __repr__(self) -> str:
        name = getattr(self._handler, "__qualname__", type(self._handler).__qualname__)
        return f"MockTransport(handler={name}, requests={len(self.requests)})"

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has run."""
        return self._closed

    async def send(self, request: SignedRequest, timeouts: Timeouts) -> RawResponse:
        """Record ``request`` and return the handler's answer (``timeouts`` are not used)."""
        if self._closed:
            raise ClientClosedError("the client is closed")
        self.requests.append(request)
        answer = self._handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, RawResponse):
            raise TypeError(
                f"a MockTransport handler must return a RawResponse, not {type(answer).__name__}"
            )
        return answer

    async def aclose(self) -> None:
        """Mark the transport closed; later sends raise ``ClientClosedError``."""
        self._closed = True
