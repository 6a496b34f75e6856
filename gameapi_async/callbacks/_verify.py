"""Sans-I/O callback verification: (body bytes, headers) -> a typed callback, or a refusal.

Order matters: size, then the signature over the exact bytes received, and only then is the
body parsed, so a forged callback costs one HMAC and never reaches the JSON parser or the
wallet. Every refusal is a :class:`CallbackRefused` carrying the answer's code and status.

A body re-serialised by a proxy is *not* accepted, although it could be checked by decoding it
and re-encoding it the PHP way: the platform signs the bytes it sends, a fallback would parse
unauthenticated input, and PHP's re-encoding of a decoded number is not unique
(``1.10`` vs ``1.1``), so it would accept some rewritten bodies and refuse others. A proxy that
rewrites signed bodies is the bug to fix (docs/callbacks.md).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

from .._canonical import PHP_INT_MAX, PHP_INT_MIN
from .._config import check_api_token
from .._errors import InvalidParameterError
from .._signing import Signer
from ._errors import CallbackRefused
from ._models import GET_BALANCE, MAKE_BET, Callback, GetBalance, MakeBet
from ._money import NumberRefused, in_range, parse_constant, parse_decimal

__all__ = [
    "DEFAULT_MAX_BODY",
    "MAX_SKEW",
    "CallbackVerifier",
    "Headers",
    "header_value",
]

DEFAULT_MAX_BODY: Final = 64 * 1024
"""The largest callback body accepted by default, in bytes (64 KiB). A real callback is a few
hundred bytes; the cap bounds what a client can make the server buffer and parse."""
MAX_SKEW: Final = 300
"""How far a callback's optional ``timestamp`` may be from the local clock, in seconds: the
platform's own window for signed requests. Callbacks without a ``timestamp`` are not checked."""
SIGNATURE_HEADER: Final = "x-signature"
MAX_NESTING: Final = 32
"""The deepest nesting of objects and arrays a body may have (the body's own object is level
1). The platform's bodies go three levels deep; a rule of ours, so the answer to a deeper body
is the same on every Python rather than whatever its recursion limit allows."""

#: What ``handle`` accepts as headers: any mapping (dict, aiohttp's CIMultiDict) or ASGI pairs.
Headers = Mapping[str, str] | Iterable[tuple[bytes, bytes]] | Iterable[tuple[str, str]]

# Refusals: the platform's own codes where one fits, documented in docs/callbacks.md.
SIGNATURE_REQUIRED: Final = ("signature_required", 401)
INVALID_SIGNATURE: Final = ("invalid_signature", 403)
REQUEST_EXPIRED: Final = ("request_expired", 400)
VALIDATION_ERROR: Final = ("validation_error", 422)
PAYLOAD_TOO_LARGE: Final = ("payload_too_large", 413)

_CASE_INSENSITIVE: Final = (CIMultiDictProxy, CIMultiDict)


def _refuse(kind: tuple[str, int], message: str, field: str | None = None) -> CallbackRefused:
    return CallbackRefused(kind[0], message, kind[1], field=field)


def header_value(headers: Headers, name: str) -> str | None:
    """The one value of header ``name`` (lower case), ``None`` when absent.

    Names are compared case-insensitively whatever holds them: a plain ``dict``, a
    case-sensitive ``multidict.MultiDict`` or ASGI pairs. A header sent twice, in any mix of
    cases, is refused: two signatures leave it ambiguous which one was checked.
    """
    if isinstance(headers, _CASE_INSENSITIVE):  # aiohttp's own: the lookup is exact already
        values = headers.getall(name, ())
    elif isinstance(headers, Mapping):  # every pair, so a MultiDict's repeats are seen too
        values = [v for k, v in headers.items() if k.lower() == name]
    else:
        values = []
        encoded = name.encode("ascii")
        for key, value in headers:
            if isinstance(key, bytes):
                if key.lower() == encoded:
                    values.append(value.decode("latin-1") if isinstance(value, bytes) else value)
            elif key.lower() == name:
                values.append(value if isinstance(value, str) else value.decode("latin-1"))
    if len(values) == 1:
        value = values[0]
        return value if isinstance(value, str) else str(value)
    if not values:
        return None
    raise _refuse(INVALID_SIGNATURE, f"header {name} sent more than once")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return result


_decoder: Final = json.JSONDecoder(
    object_pairs_hook=_unique_keys,
    parse_float=parse_decimal,  # ints keep the C path: Python refuses > 4300 digits itself
    parse_constant=parse_constant,
)


_scan: Final = _decoder.scan_once  # type: ignore[attr-defined]
_BLANK: Final = " \t\n\r"


# A JSON string (escapes included; an unterminated one runs to the end) or one bracket.
_STRING_OR_BRACKET: Final = re.compile(r'"(?:[^"\\]+|\\.)*"?|[\[\]{}]', re.DOTALL)


def nested_too_deeply(text: str) -> bool:
    """Whether ``text`` opens more than :data:`MAX_NESTING` objects or arrays inside one
    another, brackets inside strings not counted. :func:`parse_body` calls it only for a body
    with more brackets than the limit (never a real one): below that, two counts decide."""
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token == "{" or token == "[":
            depth += 1
            if depth > MAX_NESTING:
                return True
        elif token == "}" or token == "]":
            depth -= 1
    return False


def parse_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object with exact decimals; duplicate keys, NaN, huge numbers refused.

    The C scanner is called directly (what ``json.loads`` does under two Python layers); the
    platform's bodies have no surrounding whitespace, anything else goes the long way.
    """
    try:
        text = body.decode("utf-8")
        # Decided before the parser recurses. A flat object (no "[", no "{" after the first:
        # memchr tells, the usual callback) is not counted; no deeper than its brackets.
        if (("[" in text or text.find("{", 1) >= 0)
                and text.count("{") + text.count("[") > MAX_NESTING and nested_too_deeply(text)):
            raise _refuse(VALIDATION_ERROR, f"body is nested more than {MAX_NESTING} levels deep")
        if text[:1] == "{":
            data, end = _scan(text, 0)
            if end != len(text) and text[end:].strip(_BLANK):
                raise ValueError(f"extra data at character {end}")
        else:
            data = _decoder.decode(text)
    except UnicodeDecodeError:
        raise _refuse(VALIDATION_ERROR, "body is not UTF-8") from None
    except NumberRefused as error:
        raise _refuse(VALIDATION_ERROR, f"body holds a refused number: {error}") from None
    except StopIteration as stop:
        raise _refuse(VALIDATION_ERROR, f"body is not valid JSON (at {stop.value})") from None
    except ValueError as error:  # JSONDecodeError, duplicate keys, invalid literals
        raise _refuse(VALIDATION_ERROR, f"body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise _refuse(VALIDATION_ERROR, "body must be a JSON object")
    return data


def _required(name: str) -> CallbackRefused:
    return _refuse(VALIDATION_ERROR, f"{name}: required", name)


def _wrong(name: str, problem: str) -> CallbackRefused:
    return _refuse(VALIDATION_ERROR, f"{name}: {problem}", name)


_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


@attrs.frozen
class _Shape:
    """A documented callback type: its class and its fields, grouped by kind so each group is
    checked by one loop (a call per field would cost more than the checks themselves).
    Required are the fields the documentation shows on both of its pages."""

    cls: type[Callback]
    texts: tuple[str, ...] = ()  # required non-empty strings
    optional_texts: tuple[str, ...] = ()
    amounts: tuple[str, ...] = ()  # required, never negative
    php_ints: tuple[str, ...] = ()  # optional 64-bit integers
    objects: tuple[str, ...] = ()  # optional objects (PHP's empty array `[]` is one)


_SHAPES: Final[dict[str, _Shape]] = {
    GET_BALANCE: _Shape(GetBalance,
                        texts=("session_id", "player_id", "player_username", "currency",
                               "language"),
                        php_ints=("game_id",), objects=("freespins",)),
    MAKE_BET: _Shape(MakeBet, texts=("session_id", "player_id", "currency"),
                     optional_texts=("player_username", "language"), amounts=("bet", "win"),
                     php_ints=("game_id",)),
}


def _field_wrong(data: Mapping[str, Any], name: str, wrong: str) -> CallbackRefused:
    return _required(name) if data.get(name) is None else _wrong(name, wrong)


class CallbackVerifier:
    """Checks and parses callbacks for one agent. Pure: the clock is a function passed in.

    ``verify(body, headers)`` returns a :class:`GetBalance`, :class:`MakeBet` or, for any other
    ``type``, a generic :class:`Callback`; or raises :class:`CallbackRefused`.
    """

    __slots__ = ("_agent_id", "_clock", "_max_body", "_signer")

    def __init__(
        self,
        *,
        agent_id: int,
        api_token: str,
        max_body: int = DEFAULT_MAX_BODY,
        clock: Callable[[], float],
    ) -> None:
        if type(agent_id) is not int or agent_id <= 0:
            raise InvalidParameterError("agent_id", f"must be a positive integer, got {agent_id!r}")
        check_api_token(api_token)
        if type(max_body) is not int or max_body <= 0:
            raise InvalidParameterError("max_body", f"must be a positive integer, got {max_body!r}")
        self._agent_id = agent_id
        self._signer = Signer(api_token)
        self._max_body = max_body
        self._clock = clock

    @property
    def max_body(self) -> int:
        """The largest body accepted, in bytes."""
        return self._max_body

    def too_large(self) -> CallbackRefused:
        """The refusal for a body over the cap (adapters raise it before reading)."""
        return _refuse(PAYLOAD_TOO_LARGE, f"body larger than {self._max_body} bytes")

    def verify(self, body: bytes, headers: Headers) -> Callback:
        """The typed callback in ``body``, or :class:`CallbackRefused` saying why not.

        The order keeps forgeries cheap: size, then the ``X-Signature`` over the exact bytes,
        and only then the JSON, the agent, the ``timestamp`` and the documented fields.
        ``headers`` is any mapping (case-insensitive) or ASGI ``(bytes, bytes)`` pairs.
        """
        if len(body) > self._max_body:
            raise self.too_large()
        signature = header_value(headers, SIGNATURE_HEADER)
        if signature is None:
            raise _refuse(SIGNATURE_REQUIRED, "Missing X-Signature header")
        # compare_digest takes str only when ASCII; a non-ASCII header is wrong anyway.
        if not (signature.isascii() and hmac.compare_digest(self._signer.sign(body), signature)):
            raise _refuse(INVALID_SIGNATURE, "Invalid request signature")
        return self._parse(body, parse_body(body))

    def _parse(self, body: bytes, data: dict[str, Any]) -> Callback:
        get = data.get
        agent_id = get("agent_id")
        if type(agent_id) is not int:
            raise _field_wrong(data, "agent_id", "must be an integer")
        if agent_id != self._agent_id:
            raise _refuse(VALIDATION_ERROR, "agent_id: not this agent", "agent_id")
        kind = get("type")
        if type(kind) is not str or not kind:
            raise _field_wrong(data, "type", "must be a non-empty string")
        if "timestamp" in data:
            self._check_timestamp(data["timestamp"])
        request_id = get("request_id")
        if request_id is not None and (type(request_id) is not str or not request_id):
            raise _field_wrong(data, "request_id", "must be a non-empty string")
        shape = _SHAPES.get(kind)
        if shape is None:  # a rollback or any other type: untyped, the whole body in data
            return Callback(type=kind, agent_id=agent_id, request_id=request_id,
                            data=MappingProxyType(data), body=body)
        # The documented fields, checked group by group (a loop per kind of field, no call per
        # field) into the one keyword dict the class is called with: the refusal names the
        # first wrong field.
        values: dict[str, Any] = {"type": kind, "agent_id": agent_id, "request_id": request_id,
                                  "data": MappingProxyType(data), "body": body}
        for name in shape.texts:
            value = get(name)
            if type(value) is not str or not value:
                raise (_required(name) if value is None
                       else _wrong(name, "must be a non-empty string"))
            values[name] = value
        for name in shape.amounts:
            value = get(name)
            if type(value) is not Decimal:  # from the body, Decimals are range-checked already
                if type(value) is not int:  # bool is not: type() is exact
                    raise _required(name) if value is None else _wrong(name, "must be a number")
                value = Decimal(value)
                if not in_range(value):
                    raise _wrong(name, "out of range")
            if value.is_signed():  # -0.0 too: PHP writes it only for a computed negative zero
                raise _wrong(name, "must not be negative")
            values[name] = value
        for name in shape.optional_texts:
            value = get(name)
            if value is not None:
                if type(value) is not str or not value:
                    raise _wrong(name, "must be a non-empty string")
                values[name] = value
        for name in shape.php_ints:
            value = get(name)
            if value is not None:
                if type(value) is not int:
                    raise _wrong(name, "must be an integer")
                if not PHP_INT_MIN <= value <= PHP_INT_MAX:
                    raise _wrong(name, "out of range")
                values[name] = value
        for name in shape.objects:
            value = get(name)
            if value is not None:
                if type(value) is dict:
                    values[name] = MappingProxyType(value)
                elif type(value) is list and not value:  # PHP's json_encode writes {} as []
                    values[name] = _EMPTY
                else:
                    raise _wrong(name, "must be an object")
        return shape.cls(**values)

    def _check_timestamp(self, value: object) -> None:
        if type(value) is not int:
            raise _refuse(VALIDATION_ERROR, "timestamp: must be an integer", "timestamp")
        # Checked before the float subtraction, which overflows on a huge integer.
        if not PHP_INT_MIN <= value <= PHP_INT_MAX:
            raise _refuse(VALIDATION_ERROR, "timestamp: out of range", "timestamp")
        if abs(self._clock() - value) > MAX_SKEW:
            raise _refuse(REQUEST_EXPIRED, "Request expired", "timestamp")

    def __repr__(self) -> str:
        return f"CallbackVerifier(agent_id={self._agent_id}, api_token=<hidden>)"
