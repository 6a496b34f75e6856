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


_decoder: Final = json.JSONDecoder(
    parse_float=parse_decimal,  # ints keep the C path: Python refuses > 4300 digits itself
    parse_constant=parse_constant,
)


_scan: Final = _decoder.scan_once  # type: ignore[attr-defined]
_BLANK: Final = " \t\n\r"
#: One string of a valid JSON text (possessive: in a valid text it never backs off).
_STRING: Final = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)


def _keys_in(value: object) -> int:
    """How many keys the objects in ``value`` hold, nested ones included."""
    if type(value) is dict:
        return len(value) + sum(_keys_in(item) for item in value.values())
    if type(value) is list:
        return sum(_keys_in(item) for item in value)
    return 0


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
        may_nest = "[" in text or text.find("{", 1) >= 0
        if (may_nest and text.count("{") + text.count("[") > MAX_NESTING
                and nested_too_deeply(text)):
            raise _refuse(VALIDATION_ERROR, f"body is nested more than {MAX_NESTING} levels deep")
        if text[:1] == "{":
            data, end = _scan(text, 0)
            if end != len(text) and text[end:].strip(_BLANK):
                raise ValueError(f"extra data at character {end}")
        else:
            data = _decoder.decode(text)
            may_nest = True
    except UnicodeDecodeError:
        raise _refuse(VALIDATION_ERROR, "body is not UTF-8") from None
    except NumberRefused as error:
        raise _refuse(VALIDATION_ERROR, f"body holds a refused number: {error}") from None
    except StopIteration as stop:
        raise _refuse(VALIDATION_ERROR, f"body is not valid JSON (at {stop.value})") from None
    except ValueError as error:  # JSONDecodeError, invalid literals
        raise _refuse(VALIDATION_ERROR, f"body is not valid JSON: {error}") from None
    # Duplicate keys, found without a pairs hook (which built a list of pairs per object, on
    # every body): each key is followed by exactly one colon outside strings, and a parsed
    # object keeps one key per distinct name, so a key was repeated exactly when the objects
    # hold fewer keys than the text has colons outside strings. All colons are counted first,
    # in C; only when that differs (a colon inside a string, or a repeat) are the strings taken
    # out to count again. A flat object's keys are its length; only a nested body is walked.
    keys = _keys_in(data) if may_nest else len(data)
    if keys != text.count(":") and keys != _STRING.sub("", text).count(":"):
        raise _refuse(VALIDATION_ERROR, "body is not valid JSON: a key is repeated in an object")
    if not isinstance(data, dict):
        raise _refuse(VALIDATION_ERROR, "body must be a JSON object")
    return data


def _required(name: str) -> CallbackRefused:
    return _refuse(VALIDATION_ERROR, f"{name}: required", name)


def _wrong(name: str, problem: str) -> CallbackRefused:
    return _refuse(VALIDATION_ERROR, f"{name}: {problem}", name)


_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
_NOT_TEXT: Final = "must be a non-empty string"


def _field_wrong(data: Mapping[str, Any], name: str, wrong: str) -> CallbackRefused:
    return _required(name) if data.get(name) is None else _wrong(name, wrong)


def _amount(name: str, value: object) -> Decimal:
    """A documented amount: a number, never negative (``-0.0`` neither: PHP writes it only for a
    computed negative zero). A Decimal from the body is range-checked already; an integer is
    converted here. Called only for what is not a non-negative Decimal already (the usual
    amount, taken as it is)."""
    if type(value) is not Decimal:
        if type(value) is not int:  # bool is not: type() is exact
            raise _required(name) if value is None else _wrong(name, "must be a number")
        value = Decimal(value)
        if not in_range(value):
            raise _wrong(name, "out of range")
    if value.is_signed():
        raise _wrong(name, "must not be negative")
    return value


def _game_id(value: object) -> int | None:
    """The optional ``game_id``: a PHP (64-bit) integer."""
    if value is not None:
        if type(value) is not int:
            raise _wrong("game_id", "must be an integer")
        if not PHP_INT_MIN <= value <= PHP_INT_MAX:
            raise _wrong("game_id", "out of range")
    return value


# The two documented types, field by field in straight lines (a loop over field names would
# build a keyword dict to call the class with: 8,000 instructions more per callback). Required
# are the fields the documentation shows on both of its pages; a refusal names the first wrong
# field: required texts, amounts, optional texts, then the rest.


def _make_bet(data: dict[str, Any], agent_id: int, request_id: str | None,
              body: bytes) -> MakeBet:
    get = data.get
    session_id = get("session_id")
    if type(session_id) is not str or not session_id:
        raise _field_wrong(data, "session_id", _NOT_TEXT)
    player_id = get("player_id")
    if type(player_id) is not str or not player_id:
        raise _field_wrong(data, "player_id", _NOT_TEXT)
    currency = get("currency")
    if type(currency) is not str or not currency:
        raise _field_wrong(data, "currency", _NOT_TEXT)
    bet = get("bet")
    if type(bet) is not Decimal or bet.is_signed():
        bet = _amount("bet", bet)
    win = get("win")
    if type(win) is not Decimal or win.is_signed():
        win = _amount("win", win)
    username = get("player_username")
    if username is not None and (type(username) is not str or not username):
        raise _wrong("player_username", _NOT_TEXT)
    language = get("language")
    if language is not None and (type(language) is not str or not language):
        raise _wrong("language", _NOT_TEXT)
    game_id = _game_id(get("game_id"))
    return MakeBet(type=MAKE_BET, agent_id=agent_id, request_id=request_id,
                   data=MappingProxyType(data), body=body, session_id=session_id,
                   player_id=player_id, currency=currency, bet=bet, win=win,
                   player_username=username, language=language, game_id=game_id)


def _get_balance(data: dict[str, Any], agent_id: int, request_id: str | None,
                 body: bytes) -> GetBalance:
    get = data.get
    session_id = get("session_id")
    if type(session_id) is not str or not session_id:
        raise _field_wrong(data, "session_id", _NOT_TEXT)
    player_id = get("player_id")
    if type(player_id) is not str or not player_id:
        raise _field_wrong(data, "player_id", _NOT_TEXT)
    username = get("player_username")
    if type(username) is not str or not username:
        raise _field_wrong(data, "player_username", _NOT_TEXT)
    currency = get("currency")
    if type(currency) is not str or not currency:
        raise _field_wrong(data, "currency", _NOT_TEXT)
    language = get("language")
    if type(language) is not str or not language:
        raise _field_wrong(data, "language", _NOT_TEXT)
    game_id = _game_id(get("game_id"))
    freespins = get("freespins")
    if freespins is not None:
        if type(freespins) is dict:
            freespins = MappingProxyType(freespins)
        elif type(freespins) is list and not freespins:  # PHP's json_encode writes {} as []
            freespins = _EMPTY
        else:
            raise _wrong("freespins", "must be an object")
    return GetBalance(type=GET_BALANCE, agent_id=agent_id, request_id=request_id,
                      data=MappingProxyType(data), body=body, session_id=session_id,
                      player_id=player_id, player_username=username, currency=currency,
                      language=language, game_id=game_id, freespins=freespins)


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
        data = parse_body(body)
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
        if kind == MAKE_BET:
            return _make_bet(data, agent_id, request_id, body)
        if kind == GET_BALANCE:
            return _get_balance(data, agent_id, request_id, body)
        # A rollback or any other type: untyped, the whole body in data.
        return Callback(type=kind, agent_id=agent_id, request_id=request_id,
                        data=MappingProxyType(data), body=body)

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
