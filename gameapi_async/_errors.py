"""Every exception the SDK raises, in one tree.

::

    GameApiError                        catch this to catch everything the SDK raises
    ├── InvalidParameterError           bad input, refused before any I/O (also ValueError)
    ├── ClientClosedError               the client was used after close() (also RuntimeError)
    ├── WrongEventLoopError             used on another event loop or in a forked child
    │                                   (also RuntimeError); never retried
    ├── MiddlewareError                 a user middleware broke the contract (also TypeError)
    ├── TransportError                  no complete answer came back
    │   ├── NetworkError                connect refused/reset, connection dropped mid-answer
    │   ├── RequestTimeoutError         an attempt ran out of time (also TimeoutError)
    │   └── CircuitOpenError            not sent: the circuit breaker is open; never retried
    ├── ResponseError                   an answer came back but is not a platform envelope
    │   ├── MalformedResponseError      not JSON, wrong shape, status and HTTP code disagree
    │   └── ResponseTooLargeError       larger than ``max_response_bytes``; not read in full
    └── ApiError                        the platform's error envelope; ``.code`` says which
        ├── SignatureRequiredError      signature_required   401
        ├── InvalidSignatureError       invalid_signature    403
        ├── AgentNotFoundError          agent_not_found      404
        ├── ApiTokenNotFoundError       api_token_not_found  404
        ├── GameNotFoundError           game_not_found       404
        ├── GameNotAvailableError       game_not_available   403
        ├── GameProviderNotFoundError   game_provider_not_found 404
        ├── MethodNotAllowedError       method_not_allowed   405
        ├── ValidationError             validation_error     422
        └── RequestExpiredError         request_expired      400

An error code the SDK does not know raises the base :class:`ApiError` with the code kept,
so a new platform code never turns into a crash.

Every error carries ``http_status`` and ``request_id`` (``None`` when there was no answer) and
``attempts`` (how many attempts the call made). Nothing here ever holds the API token.

Every error pickles and copies with all its fields (they cross process pools and
``copy.copy``), whatever its constructor's signature.

Text that may come from the platform (messages, request ids, error codes) is clipped to a
bounded length and stripped of control characters, so a hostile or broken answer can neither
make megabyte exceptions nor forge log lines.
"""

from __future__ import annotations

from typing import ClassVar, Final

__all__ = [
    "ERROR_CLASSES",
    "TRANSIENT_HTTP_STATUSES",
    "AgentNotFoundError",
    "ApiError",
    "ApiTokenNotFoundError",
    "CircuitOpenError",
    "ClientClosedError",
    "GameApiError",
    "GameNotAvailableError",
    "GameNotFoundError",
    "GameProviderNotFoundError",
    "InvalidParameterError",
    "InvalidSignatureError",
    "MalformedResponseError",
    "MethodNotAllowedError",
    "MiddlewareError",
    "NetworkError",
    "RequestExpiredError",
    "RequestTimeoutError",
    "ResponseError",
    "ResponseTooLargeError",
    "SignatureRequiredError",
    "TransportError",
    "ValidationError",
    "WrongEventLoopError",
    "api_error_for",
    "clip",
    "is_transient",
]

MAX_MESSAGE: Final = 1000  # characters of an exception message
MAX_REQUEST_ID: Final = 128
MAX_CODE: Final = 128


def clip(text: str, limit: int) -> str:
    """``text`` without control characters, cut to ``limit`` characters (``...`` marks a cut).

    For text an answer supplies: it ends up in exceptions and log lines.
    """
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if not text.isprintable():
        text = "".join(c if c.isprintable() else "\ufffd" for c in text)
    return text


class GameApiError(Exception):
    """Base class of every exception the SDK raises.

    ``str(error)`` shows the message with the HTTP status, request id and attempt count, so a
    log line of it is enough to ask the platform's support about a call.

    Attributes:
        message: what went wrong, clipped to 1000 characters and free of control characters.
        http_status: the HTTP status of the answer; ``None`` when no answer came back.
        request_id: the platform's id for the answer (quote it to its support); ``None`` when
            there was none.
        attempts: how many attempts the call made before it gave up (1 without retries).
    """

    http_status: int | None
    request_id: str | None
    attempts: int
    # Set by the circuit breaker on the error of a probe that failed: the circuit has just
    # reopened, so the call is not retried (a retry could only wait for the next probe). Internal.
    _failed_probe: bool = False

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        message = clip(message, MAX_MESSAGE)
        if request_id is not None:
            request_id = clip(request_id, MAX_REQUEST_ID)
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.request_id = request_id
        self.attempts = 1

    def __str__(self) -> str:
        parts = [self.message]
        if self.http_status is not None:
            parts.append(f"http_status={self.http_status}")
        if self.request_id is not None:
            parts.append(f"request_id={self.request_id}")
        if self.attempts > 1:
            parts.append(f"attempts={self.attempts}")
        return parts[0] if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[object, ...]:
        # The default (``cls(*self.args)`` then the instance dict) calls ``__init__`` with the
        # formatted message alone, which fails for every subclass whose constructor takes other
        # arguments (``field``, ``code``...). Rebuilt without ``__init__``, then given back its
        # fields, an error crosses a process pool or ``copy.copy`` whole.
        return (_rebuild, (type(self), self.args), dict(vars(self)))


def _rebuild(cls: type[GameApiError], args: tuple[object, ...]) -> GameApiError:
    """An unpickled error before its fields are restored: ``args`` set, ``__init__`` not run."""
    error = cls.__new__(cls, *args)
    error.args = args  # OSError's __new__ (TimeoutError) leaves args to an __init__ we skip
    return error


class InvalidParameterError(GameApiError, ValueError):
    """A parameter failed validation; raised before anything is signed or sent.

    Also a ``ValueError``, so code that already catches bad values catches it.

    Attributes:
        field: the parameter (or the environment variable) that was refused.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class ClientClosedError(GameApiError, RuntimeError):
    """The client was used after ``close()``."""


class WrongEventLoopError(GameApiError, RuntimeError):
    """The client was used on an event loop other than the one it first ran on, or in a
    process forked after it was created (used before the fork or not).

    A client's connections belong to one loop in one process. Create one client per event loop
    (inside the coroutine given to ``asyncio.run``, in an async fixture, in a post-fork hook).
    Never retried: trying again cannot help.
    """


class MiddlewareError(GameApiError, TypeError):
    """A middleware given in ``middlewares=`` broke the contract: it is not async (returned no
    awaitable) or its awaitable gave something other than a ``Reply``.

    Not retried: it is a bug, not an outage.

    Attributes:
        middleware: the qualified name of the middleware that broke the contract.
    """

    def __init__(self, middleware: str, problem: str) -> None:
        super().__init__(f"middleware {middleware}: {problem}")
        self.middleware = middleware


class TransportError(GameApiError):
    """The request did not produce a complete HTTP answer."""


class NetworkError(TransportError):
    """Connecting failed, or the connection broke before the answer was complete."""


class RequestTimeoutError(TransportError, TimeoutError):
    """One attempt exceeded its timeout (connect or total)."""


class CircuitOpenError(TransportError):
    """Not sent: the circuit breaker is open after a run of transient failures.

    Transient (the platform is taken to be down, not the request wrong), so a cached game list
    is served through it, but never retried by the call itself, which sends nothing more. It is
    raised when the next probe is further away than the breaker's ``hold``, or when the probe
    the attempt waited for failed or outlasted the attempt's timeout. ``attempts`` counts the
    attempts the call made before it was refused.

    Attributes:
        next_probe_in: seconds until the breaker lets the next probe call through (``0.0``
            while a probe is on its way).
    """

    def __init__(self, message: str, *, next_probe_in: float) -> None:
        super().__init__(message)
        self.next_probe_in = next_probe_in


class ResponseError(GameApiError):
    """An HTTP answer arrived but is not a platform envelope the SDK can trust.

    Attributes:
        body_excerpt: the first few hundred characters of the body, for diagnosis.
        retry_after: the wait in seconds a ``Retry-After`` header asked for, or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        request_id: str | None = None,
        body_excerpt: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, request_id=request_id)
        self.body_excerpt = body_excerpt
        self.retry_after = retry_after

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}: {self.body_excerpt!r}" if self.body_excerpt else base


class MalformedResponseError(ResponseError):
    """The body is not JSON, not an envelope, has the wrong shape, or contradicts the status."""


class ResponseTooLargeError(ResponseError):
    """The body exceeds ``max_response_bytes``; it was refused without being read in full."""


class ApiError(GameApiError):
    """The platform answered with an error envelope.

    Each documented error code has its own subclass; a code the SDK does not know raises this
    class itself, with the code kept. An unreasonably long message, request id or code is
    clipped.

    Attributes:
        code: the platform's error code, kept verbatim even when the SDK does not know it.
        code_name: the error code a subclass stands for (class attribute; ``None`` here).
        server_time: the platform's clock (Unix seconds) read from the answer, when present.
        retry_after: the wait the platform asked for, in seconds, when it asked.
        body_excerpt: the start of the answer's body (a few hundred characters), for
            diagnosis.
    """

    code_name: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        code: str,
        http_status: int | None = None,
        request_id: str | None = None,
        server_time: float | None = None,
        retry_after: float | None = None,
        body_excerpt: str = "",
    ) -> None:
        super().__init__(message, http_status=http_status, request_id=request_id)
        self.code = clip(code, MAX_CODE)
        self.body_excerpt = body_excerpt
        self.server_time = server_time
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"[{self.code}] {super().__str__()}"


class SignatureRequiredError(ApiError):
    """The ``X-Signature`` header was missing (401)."""

    code_name = "signature_required"


class InvalidSignatureError(ApiError):
    """The signature did not match: wrong token, or bytes signed differently from sent (403)."""

    code_name = "invalid_signature"


class AgentNotFoundError(ApiError):
    """No agent with this ``agent_id`` (404)."""

    code_name = "agent_not_found"


class ApiTokenNotFoundError(ApiError):
    """The agent exists but has no API token configured on the platform (404)."""

    code_name = "api_token_not_found"


class GameNotFoundError(ApiError):
    """No game with this ``game_id`` (404)."""

    code_name = "game_not_found"


class GameNotAvailableError(ApiError):
    """The game exists but is not enabled for this agent (403)."""

    code_name = "game_not_available"


class GameProviderNotFoundError(ApiError):
    """No provider offers a demo of this game (404)."""

    code_name = "game_provider_not_found"


class MethodNotAllowedError(ApiError):
    """The platform refused the HTTP method (405)."""

    code_name = "method_not_allowed"


class ValidationError(ApiError):
    """The platform refused a parameter (422); the SDK validates first, so this is rare."""

    code_name = "validation_error"


class RequestExpiredError(ApiError):
    """The signed ``timestamp`` was more than 300 s from the platform's clock (400)."""

    code_name = "request_expired"


ERROR_CLASSES: dict[str, type[ApiError]] = {
    cls.code_name: cls
    for cls in (
        SignatureRequiredError,
        InvalidSignatureError,
        AgentNotFoundError,
        ApiTokenNotFoundError,
        GameNotFoundError,
        GameNotAvailableError,
        GameProviderNotFoundError,
        MethodNotAllowedError,
        ValidationError,
        RequestExpiredError,
    )
    if cls.code_name is not None
}


def api_error_for(code: str) -> type[ApiError]:
    """The exception class for a platform error code; the base class for unknown codes."""
    return ERROR_CLASSES.get(code, ApiError)


#: HTTP statuses that mean "try again later" rather than "this request is wrong".
TRANSIENT_HTTP_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})


def is_transient(error: BaseException) -> bool:
    """True when ``error`` may go away if the same call is made again later.

    Network failures and timeouts are transient, and so is any answer whose HTTP status is
    429/500/502/503/504, whatever its body. Definite answers (signature, not-found,
    not-available, validation, method errors), oversized answers and bad input are not.
    Retry and stale-if-error both decide with this one function.
    """
    if isinstance(error, TransportError):
        return True
    if isinstance(error, ResponseTooLargeError | InvalidParameterError | ClientClosedError
                  | WrongEventLoopError | MiddlewareError):
        return False
    if isinstance(error, ApiError | ResponseError):
        return error.http_status in TRANSIENT_HTTP_STATUSES
    return False
