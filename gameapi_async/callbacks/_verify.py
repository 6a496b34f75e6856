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
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from .._signing import Signer
from ._errors import CallbackRefused
from ._models import GET_BALANCE, MAKE_BET, Callback, GetBalance, MakeBet
from ._money import NumberRefused, parse_constant, parse_decimal, parse_int

__all__ = [
    "DEFAULT_MAX_BODY",
    "MAX_SKEW",
    "CallbackVerifier",
    "Headers",
    "header_value",
]

DEFAULT_MAX_BODY: Final = 64 * 1024  # a callback is a few hundred bytes
MAX_SKEW: Final = 300  # seconds, the platform's own window for signed requests
SIGNATURE_HEADER: Final = "x-signature"

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
    if isinstance(headers, Mapping):
        getall = getattr(headers, "getall", None)
        if getall is not None:  # multidict: case-insensitive already
            values = getall(name, [])
        else:
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
    parse_float=parse_decimal,
    parse_int=parse_int,
    parse_constant=parse_constant,
)


def parse_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object with exact decimals; duplicate keys, NaN, huge numbers refused."""
    try:
        text = body.decode("utf-8")
        data = _decoder.decode(text)
    except UnicodeDecodeError:
        raise _refuse(VALIDATION_ERROR, "body is not UTF-8") from None
    except NumberRefused as error:
        raise _refuse(VALIDATION_ERROR, f"body holds a refused number: {error}") from None
    except RecursionError:
        raise _refuse(VALIDATION_ERROR, "body is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, duplicate keys, invalid literals
        raise _refuse(VALIDATION_ERROR, f"body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise _refuse(VALIDATION_ERROR, "body must be a JSON object")
    return data


def _field(data: Mapping[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    value = data.get(name)
    if value is None:
        if required:
            raise _refuse(VALIDATION_ERROR, f"{name}: required", name)
        return None
    # bool is an int subclass and str is not bytes: check the exact type.
    if type(value) is not kind:
        raise _refuse(VALIDATION_ERROR, f"{name}: must be {_KIND_NAMES[kind]}", name)
    if kind is str and not value:
        raise _refuse(VALIDATION_ERROR, f"{name}: must not be empty", name)
    return value


_KIND_NAMES: Final = {str: "a string", int: "an integer", dict: "an object"}


def _amount(data: Mapping[str, Any], name: str) -> Decimal:
    value = data.get(name)
    if value is None:
        raise _refuse(VALIDATION_ERROR, f"{name}: required", name)
    if type(value) is int:
        value = Decimal(value)
    elif type(value) is not Decimal:
        raise _refuse(VALIDATION_ERROR, f"{name}: must be a number", name)
    if value < 0:
        raise _refuse(VALIDATION_ERROR, f"{name}: must not be negative", name)
    return value


def _readonly(data: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(data)


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
            raise ValueError(f"agent_id must be a positive integer, got {agent_id!r}")
        if not isinstance(api_token, str) or not api_token:
            raise ValueError("api_token must be a non-empty string")
        if type(max_body) is not int or max_body <= 0:
            raise ValueError(f"max_body must be a positive integer, got {max_body!r}")
        self._agent_id = agent_id
        self._signer = Signer(api_token)
        self._max_body = max_body
        self._clock = clock

    @property
    def max_body(self) -> int:
        return self._max_body

    def too_large(self) -> CallbackRefused:
        """The refusal for a body over the cap (adapters raise it before reading)."""
        return _refuse(PAYLOAD_TOO_LARGE, f"body larger than {self._max_body} bytes")

    def verify(self, body: bytes, headers: Headers) -> Callback:
        if len(body) > self._max_body:
            raise self.too_large()
        signature = header_value(headers, SIGNATURE_HEADER)
        if signature is None:
            raise _refuse(SIGNATURE_REQUIRED, "Missing X-Signature header")
        expected = self._signer.sign(body).encode("ascii")
        if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            raise _refuse(INVALID_SIGNATURE, "Invalid request signature")
        return self._parse(body, parse_body(body))

    def _parse(self, body: bytes, data: dict[str, Any]) -> Callback:
        agent_id = _field(data, "agent_id", int)
        if agent_id != self._agent_id:
            raise _refuse(VALIDATION_ERROR, "agent_id: not this agent", "agent_id")
        kind = _field(data, "type", str)
        if "timestamp" in data:
            self._check_timestamp(data["timestamp"])
        request_id = _field(data, "request_id", str, required=False)
        view = _readonly(data)
        if kind == GET_BALANCE:
            freespins = _field(data, "freespins", dict, required=False)
            return GetBalance(
                type=kind, agent_id=agent_id, request_id=request_id, data=view, body=body,
                session_id=_field(data, "session_id", str),
                player_id=_field(data, "player_id", str),
                player_username=_field(data, "player_username", str),
                currency=_field(data, "currency", str),
                language=_field(data, "language", str),
                game_id=_field(data, "game_id", int, required=False),
                freespins=None if freespins is None else _readonly(freespins),
            )
        if kind == MAKE_BET:
            return MakeBet(
                type=kind, agent_id=agent_id, request_id=request_id, data=view, body=body,
                session_id=_field(data, "session_id", str),
                player_id=_field(data, "player_id", str),
                currency=_field(data, "currency", str),
                bet=_amount(data, "bet"),
                win=_amount(data, "win"),
                player_username=_field(data, "player_username", str, required=False),
                language=_field(data, "language", str, required=False),
                game_id=_field(data, "game_id", int, required=False),
            )
        return Callback(type=kind, agent_id=agent_id, request_id=request_id, data=view, body=body)

    def _check_timestamp(self, value: object) -> None:
        if type(value) is not int:
            raise _refuse(VALIDATION_ERROR, "timestamp: must be an integer", "timestamp")
        if abs(self._clock() - value) > MAX_SKEW:
            raise _refuse(REQUEST_EXPIRED, "Request expired", "timestamp")

    def __repr__(self) -> str:
        return f"CallbackVerifier(agent_id={self._agent_id}, api_token=<hidden>)"
