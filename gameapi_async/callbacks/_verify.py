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


def _refuse(kind: tuple[str, int], message: str, field: str | None = None) -> CallbackRefused:
    return CallbackRefused(kind[0], message, kind[1], field=field)


def header_value(headers: Headers, name: str) -> str | None:
    """The one value of header ``name`` (lower case), ``None`` when absent.

    A header sent twice is refused: two signatures leave it ambiguous which one was checked.
    """
    getall = getattr(headers, "getall", None)
    if getall is not None:  # multidict (aiohttp): case-insensitive already
        values = getall(name, ())
    elif isinstance(headers, Mapping):
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
    if not values:
        return None
    if len(values) > 1:
        raise _refuse(INVALID_SIGNATURE, f"header {name} sent more than once")
    value = values[0]
    return value if isinstance(value, str) else str(value)


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
    another, brackets inside strings not counted. Decided before the parser recurses; a body
    with no more brackets than the limit (every real one) costs two counts."""
    if text.count("{") + text.count("[") <= MAX_NESTING:
        return False
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
        if nested_too_deeply(text):
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


_KIND_NAMES: Final = {str: "a non-empty string", int: "an integer", dict: "an object",
                      Decimal: "a number"}


def _field_error(data: Mapping[str, Any], name: str, kind: type) -> CallbackRefused:
    if data.get(name) is None:
        return _refuse(VALIDATION_ERROR, f"{name}: required", name)
    return _refuse(VALIDATION_ERROR, f"{name}: must be {_KIND_NAMES[kind]}", name)


# type -> (class, ((field, type, required), ...)) for the documented callbacks. Required are
# the fields the documentation shows on both of its pages; the newer page's are optional.
_Shape = tuple[type[Callback], tuple[tuple[str, type, bool], ...]]
_SHAPES: Final[dict[str, _Shape]] = {
    GET_BALANCE: (GetBalance, (
        ("session_id", str, True), ("player_id", str, True), ("player_username", str, True),
        ("currency", str, True), ("language", str, True), ("game_id", int, False),
        ("freespins", dict, False),
    )),
    MAKE_BET: (MakeBet, (
        ("session_id", str, True), ("player_id", str, True), ("currency", str, True),
        ("bet", Decimal, True), ("win", Decimal, True), ("player_username", str, False),
        ("language", str, False), ("game_id", int, False),
    )),
}


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
        agent_id = data.get("agent_id")
        if type(agent_id) is not int:
            raise _field_error(data, "agent_id", int)
        if agent_id != self._agent_id:
            raise _refuse(VALIDATION_ERROR, "agent_id: not this agent", "agent_id")
        kind = data.get("type")
        if type(kind) is not str or not kind:
            raise _field_error(data, "type", str)
        if "timestamp" in data:
            self._check_timestamp(data["timestamp"])
        request_id = data.get("request_id")
        if request_id is not None and (type(request_id) is not str or not request_id):
            raise _field_error(data, "request_id", str)
        if kind == MAKE_BET:
            fast: Callback | None = _make_bet_fast(body, data, agent_id, request_id)
        elif kind == GET_BALANCE:
            fast = _get_balance_fast(body, data, agent_id, request_id)
        else:
            return Callback(type=kind, agent_id=agent_id, request_id=request_id,
                            data=MappingProxyType(data), body=body)
        return fast if fast is not None else _parse_by_table(body, data, agent_id, request_id)

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


def _parse_by_table(body: bytes, data: dict[str, Any], agent_id: int,
                    request_id: str | None) -> Callback:
    """The reference rules, field by field from ``_SHAPES``: exact errors, ints as amounts."""
    kind = data["type"]
    cls, fields = _SHAPES[kind]
    values: dict[str, Any] = {}
    for name, wanted, required in fields:
        value: Any = data.get(name)
        if value is None:
            if required:
                raise _refuse(VALIDATION_ERROR, f"{name}: required", name)
            continue
        if type(value) is not wanted or (wanted is str and not value):
            if wanted is Decimal and type(value) is int:  # bool is not: type() is exact
                value = Decimal(value)
                if not in_range(value):
                    raise _refuse(VALIDATION_ERROR, f"{name}: out of range", name)
            else:
                raise _field_error(data, name, wanted)
        # Decimals from the body are range-checked by the parser already.
        if wanted is Decimal and value.is_signed() and value:
            raise _refuse(VALIDATION_ERROR, f"{name}: must not be negative", name)
        if wanted is int and not PHP_INT_MIN <= value <= PHP_INT_MAX:
            raise _refuse(VALIDATION_ERROR, f"{name}: out of range", name)
        if wanted is dict:
            value = MappingProxyType(value)
        values[name] = value
    return cls(type=kind, agent_id=agent_id, request_id=request_id,
               data=MappingProxyType(data), body=body, **values)


# The fast paths: the same rules as the table, written out for the two documented types
# (every bet and balance goes through here; a loop over the table costs ~2 µs more). They
# return None on anything unusual and the table then decides, with the exact error.
# tests/callbacks/test_verify.py checks that both always agree.


def _optional_str(value: object) -> bool:
    return value is None or (type(value) is str and value != "")


def _make_bet_fast(body: bytes, data: dict[str, Any], agent_id: int,
                   request_id: str | None) -> MakeBet | None:
    get = data.get
    session_id, player_id, currency = get("session_id"), get("player_id"), get("currency")
    bet, win, game_id = get("bet"), get("win"), get("game_id")
    username, language = get("player_username"), get("language")
    if (type(session_id) is str and session_id and type(player_id) is str and player_id
            and type(currency) is str and currency
            and type(bet) is Decimal and not bet.is_signed()
            and type(win) is Decimal and not win.is_signed()
            and _optional_str(username) and _optional_str(language)
            and (game_id is None or (type(game_id) is int
                                     and PHP_INT_MIN <= game_id <= PHP_INT_MAX))):
        return MakeBet(type=MAKE_BET, agent_id=agent_id, request_id=request_id,
                       data=MappingProxyType(data), body=body, session_id=session_id,
                       player_id=player_id, currency=currency, bet=bet, win=win,
                       player_username=username, language=language, game_id=game_id)
    return None


def _get_balance_fast(body: bytes, data: dict[str, Any], agent_id: int,
                      request_id: str | None) -> GetBalance | None:
    get = data.get
    session_id, player_id, currency = get("session_id"), get("player_id"), get("currency")
    username, language = get("player_username"), get("language")
    game_id, freespins = get("game_id"), get("freespins")
    if (type(session_id) is str and session_id and type(player_id) is str and player_id
            and type(currency) is str and currency and type(username) is str and username
            and type(language) is str and language
            and (game_id is None or (type(game_id) is int
                                     and PHP_INT_MIN <= game_id <= PHP_INT_MAX))
            and (freespins is None or type(freespins) is dict)):
        return GetBalance(type=GET_BALANCE, agent_id=agent_id, request_id=request_id,
                          data=MappingProxyType(data), body=body, session_id=session_id,
                          player_id=player_id, player_username=username, currency=currency,
                          language=language, game_id=game_id,
                          freespins=None if freespins is None else MappingProxyType(freespins))
    return None
