"""The platform protocol without I/O: build signed requests, parse answers, read times.

Every decision about bytes on the wire and meaning of an answer lives here, as pure functions
of their inputs (the gidgethub "sans-I/O" shape), so it is tested without sockets or mocks and
shared by the client and the fake platform.
"""

from __future__ import annotations

import json
import json.scanner
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import attrs
import cattrs

from ._canonical import encode_object
from ._errors import MAX_REQUEST_ID, MalformedResponseError, api_error_for, clip
from ._httpdate import parse_http_date
from ._models import GameLink, GameList, link_of, structure
from ._signing import Signer
from ._validation import Rule, rules_for, unsafe_url_char

__all__ = [
    "ENDPOINTS",
    "GET_GAME_LINK",
    "GET_GAME_LINK_DEMO",
    "LIST_GAMES",
    "Endpoint",
    "Envelope",
    "RawResponse",
    "SignedRequest",
    "build_request",
    "excerpt",
    "parse_game_link",
    "parse_game_list",
    "parse_http_date",
    "parse_iso_timestamp",
    "parse_response",
    "parse_retry_after",
]

T = TypeVar("T")

# The C scanner json.loads itself uses (typeshed mistypes make_scanner's argument).
_scan_json: Final[Callable[[str, int], tuple[Any, int]]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]
)

_LINK_PARAMS: Final = (
    "game_id",
    "player_id",
    "player_username",
    "language",
    "currency",
    "home_url",
    "agent_session_id",
    "ip",
)


@attrs.frozen
class Endpoint:
    """One platform method: its name in logs, its path, and the parameters it takes."""

    name: str
    path: str
    params: tuple[str, ...]
    # Each parameter with its rule, looked up once here rather than per call.
    rules: tuple[tuple[str, Rule], ...] = attrs.field(
        init=False, repr=False, eq=False,
        default=attrs.Factory(lambda self: rules_for(self.params), takes_self=True),
    )


LIST_GAMES: Final = Endpoint("list_games", "/api/games/list", ())
GET_GAME_LINK: Final = Endpoint("get_game_link", "/api/games/get_game_link", _LINK_PARAMS)
GET_GAME_LINK_DEMO: Final = Endpoint(
    "get_game_link_demo",
    "/api/games/get_game_link_demo",
    tuple(name for name in _LINK_PARAMS if name != "agent_session_id"),
)
ENDPOINTS: Final[Mapping[str, Endpoint]] = {
    e.path: e for e in (LIST_GAMES, GET_GAME_LINK, GET_GAME_LINK_DEMO)
}


@attrs.define
class SignedRequest:
    """What goes on the wire for one attempt: the exact body bytes and their signature.

    A ``Transport`` POSTs ``body`` with ``headers`` to ``endpoint.path`` under its base URL.
    A plain slotted class, made once per attempt: treat it as read-only (a frozen class sets
    each field through ``object.__setattr__``, several times the cost of making it).

    Attributes:
        endpoint: the platform method (``name``, ``path``, ``params``).
        body: the exact JSON bytes to send; the signature covers these bytes.
        signature: the lowercase hex HMAC-SHA256 of ``body`` (its ``repr`` shows 8 characters).
        timestamp: the Unix seconds stamped in the body.
    """

    endpoint: Endpoint
    body: bytes
    signature: str = attrs.field(repr=lambda s: s[:8] + "...")
    timestamp: int

    @property
    def headers(self) -> dict[str, str]:
        """The request headers: ``Content-Type`` and ``X-Signature``."""
        return {"Content-Type": "application/json", "X-Signature": self.signature}


@attrs.define
class RawResponse:
    """What came back: the status, the body bytes and the headers the protocol reads.

    A plain slotted class, made once per attempt: treat it as read-only.

    Attributes:
        status: the HTTP status.
        body: the whole body, as received.
        date: the ``Date`` header, verbatim, if any.
        retry_after: the ``Retry-After`` header, verbatim, if any.
    """

    status: int
    body: bytes
    date: str | None = None
    retry_after: str | None = None


@attrs.define
class Envelope:
    """A success envelope, checked: its ``content`` object and the metadata around it.

    Internal, made once per answer and never changed: a plain slotted class (a frozen one
    sets each field through ``object.__setattr__``, three times the cost of creating it).
    """

    content: dict[str, Any]
    request_id: str | None
    http_status: int
    server_time: float | None  # the platform's clock in Unix seconds, when the answer said


def build_request(
    endpoint: Endpoint,
    params: Mapping[str, object],
    *,
    agent_id: int,
    timestamp: int,
    signer: Signer,
) -> SignedRequest:
    """Sign ``agent_id``, ``timestamp`` and ``params`` as one PHP-canonical body."""
    return _build_request(endpoint, params, agent_id, timestamp, signer)


def _build_request(
    endpoint: Endpoint, params: Mapping[str, object], agent_id: int, timestamp: int, signer: Signer
) -> SignedRequest:
    # build_request with positional arguments, for the sender: one call per attempt.
    body = encode_object({"agent_id": agent_id, "timestamp": timestamp, **params})
    return SignedRequest(endpoint, body, signer.sign(body), timestamp)


def excerpt(body: bytes, limit: int = 200) -> str:
    """The start of a body as text, for error messages; never the whole of a huge body."""
    # ``limit`` characters take at most ``limit * 4`` bytes: a longer body is always cut.
    text = body[: limit * 4].decode("utf-8", errors="replace")
    if len(text) <= limit and len(body) <= limit * 4:
        return text
    return text[:limit] + "..."


def parse_iso_timestamp(value: object) -> float | None:
    """``2024-01-01T00:00:00.000Z`` to Unix seconds; ``None`` when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """``Retry-After`` as seconds to wait from ``now``: delay-seconds or an HTTP date.

    ``now`` should be the server's ``Date`` when the answer had one, so a skewed local clock
    does not stretch or shrink the wait. A date in the past means "now" (0 s). Only ASCII
    digits count as delay-seconds; an absurdly long number is read as "very long" (the retry
    policy caps every wait).
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value)) if len(value) <= 12 else 1e12
    moment = parse_http_date(value)
    return None if moment is None else max(0.0, moment - now)


def parse_response(response: RawResponse, *, now: float) -> Envelope:
    """A checked success :class:`Envelope`, or the typed error the answer means.

    Success is HTTP 200 *and* ``status == "success"`` *and* a ``content`` object. An error
    envelope raises the :class:`ApiError` subclass for its code; anything else raises
    :class:`MalformedResponseError` with the status and an excerpt. ``now`` is the local
    wall clock, used only to resolve a ``Retry-After`` date when the answer has no ``Date``.

    Success first: a well-formed success envelope is recognised with the fewest steps and
    returned; every other answer (errors, anything odd) goes through :func:`_parse_response_fully`,
    which decides exactly as if the quick look had not happened.
    """
    if response.status == 200:
        # The C scanner on the decoded text: exactly ``json.loads`` for a body that is one
        # JSON value with no surrounding whitespace. Anything else (whitespace, extra data,
        # bad bytes or syntax) leaves ``payload`` None and goes to the full path.
        payload = None
        try:
            text = response.body.decode("utf-8")
            value, end = _scan_json(text, 0)
            if end == len(text):
                payload = value
        except (StopIteration, ValueError, RecursionError):
            pass
        if type(payload) is dict and payload.get("status") == "success":
            content = payload.get("content")
            if type(content) is dict:
                request_id = _request_id(payload.get("request_id"))
                server_time = parse_iso_timestamp(payload.get("timestamp"))
                if server_time is None:
                    server_time = parse_http_date(response.date)
                return Envelope(content, request_id, 200, server_time)
    return _parse_response_fully(response, now=now)


def _request_id(value: object) -> str | None:
    """An answer's ``request_id`` as it may be shown: a str, clipped when long or odd."""
    if type(value) is not str:
        return None
    if len(value) > MAX_REQUEST_ID or not value.isprintable():
        return clip(value, MAX_REQUEST_ID)
    return value


def _parse_response_fully(response: RawResponse, *, now: float) -> Envelope:
    """:func:`parse_response` for any answer, step by step: what error it means, and why."""
    status = response.status
    retry_after = None
    if response.retry_after is not None:
        date = parse_http_date(response.date)
        retry_after = parse_retry_after(
            response.retry_after, now=date if date is not None else now
        )

    def malformed(problem: str, request_id: str | None = None) -> MalformedResponseError:
        return MalformedResponseError(
            f"HTTP {status}: {problem}",
            http_status=status,
            request_id=request_id,
            body_excerpt=excerpt(response.body),
            retry_after=retry_after,
        )

    try:
        payload = json.loads(response.body.decode("utf-8"))
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, too deep
        raise malformed("answer is not UTF-8 JSON") from None
    if not isinstance(payload, dict):
        raise malformed(f"answer is a JSON {type(payload).__name__}, not an object")

    request_id = _request_id(payload.get("request_id"))
    envelope_status = payload.get("status")
    server_time = parse_iso_timestamp(payload.get("timestamp"))
    if server_time is None:  # the Date header is read only when the envelope has no time
        server_time = parse_http_date(response.date)

    if envelope_status == "success":
        if status != 200:
            raise malformed("a success envelope on a non-200 answer is an error", request_id)
        content = payload.get("content")
        if not isinstance(content, dict):
            raise malformed("success envelope without a 'content' object", request_id)
        return Envelope(content, request_id, status, server_time)

    code = payload.get("error")
    if isinstance(code, str) and code:
        message = payload.get("message")
        raise api_error_for(code)(
            message if isinstance(message, str) and message else code,
            code=code,
            http_status=status,
            request_id=request_id,
            server_time=server_time,
            retry_after=retry_after,
            body_excerpt=excerpt(response.body),
        )
    raise malformed("answer is neither a success nor an error envelope", request_id)


def _structure_content(envelope: Envelope, cls: type[T]) -> T:
    # The envelope's request_id goes last so a stray "request_id" inside content cannot win.
    data = {**envelope.content, "request_id": envelope.request_id}
    try:
        return structure(data, cls)
    except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as exc:
        raise _unexpected_content(envelope, exc) from None


def _unexpected_content(envelope: Envelope, exc: Exception) -> MalformedResponseError:
    problems = cattrs.transform_error(exc, path="content")
    detail = "; ".join(problems[:3]) if problems else str(exc)
    return MalformedResponseError(
        f"HTTP {envelope.http_status}: unexpected content ({detail})",
        http_status=envelope.http_status,
        request_id=envelope.request_id,
        body_excerpt=excerpt(json.dumps(envelope.content, default=repr).encode()),
    )


def parse_game_list(envelope: Envelope) -> GameList:
    """The typed :class:`GameList` of a ``list_games`` envelope."""
    return _structure_content(envelope, GameList)


def parse_game_link(envelope: Envelope) -> GameLink:
    """The typed :class:`GameLink` of a ``get_game_link`` or ``get_game_link_demo`` envelope."""
    try:
        link = link_of(envelope.content, envelope.request_id)
    except cattrs.BaseValidationError as exc:
        raise _unexpected_content(envelope, exc) from None
    if not _is_absolute_http_url(link.url):
        raise MalformedResponseError(
            f"HTTP {envelope.http_status}: unexpected content (content.url: not an absolute "
            "http(s) URL)",
            http_status=envelope.http_status,
            request_id=envelope.request_id,
            body_excerpt=excerpt(link.url.encode("utf-8", errors="replace")),
        )
    return link


# The usual launch link, ``http(s)://host[:port]`` then a path, query, fragment or nothing:
# recognised by one regex match instead of ``urlsplit`` (a third of the time). Anything else
# goes to ``urlsplit``, which decides.
_PLAIN_HTTP_URL: Final = re.compile(
    r"https?://[a-z0-9][a-z0-9.-]*(?::[0-9]{1,5})?(?:[/?#]|\Z)", re.IGNORECASE | re.ASCII
)


def _is_absolute_http_url(url: str) -> bool:
    """``http(s)://host...`` with no character a ``home_url`` may not hold either."""
    if unsafe_url_char(url) is not None:
        return False
    if _PLAIN_HTTP_URL.match(url) is not None:
        return True
    try:
        parts = urlsplit(url)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
