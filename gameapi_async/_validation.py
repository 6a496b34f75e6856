"""Per-endpoint parameter rules, checked before anything is signed or sent. Pure: no I/O.

Each rule takes the caller's value and returns the value to sign, or raises
:class:`InvalidParameterError` naming the field. Free text (player ids, names, session ids) is
carried verbatim whatever it holds; only what PHP could not encode is refused. Codes are checked
liberally (``pt-BR``, ``zh-Hant-TW``, ``USDT`` are real); lengths are the platform's to police.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Final
from urllib.parse import urlsplit

from ._canonical import PHP_INT_MAX
from ._errors import InvalidParameterError

__all__ = ["validate_params", "validate_positive_int"]

_LANGUAGE: Final = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}")
_CURRENCY: Final = re.compile(r"[A-Za-z][A-Za-z0-9]{1,9}")
# Controls, space and DEL cannot stand in a URL unescaped.
_URL_FORBIDDEN: Final = re.compile(r"[\x00-\x20\x7f]")

Rule = Callable[[str, object], object]


def _type_name(value: object) -> str:
    return type(value).__name__


def _shown(text: str) -> str:
    """A refused value, quoted only when short: a secret pasted into the wrong parameter must
    not end up in an exception message or a log."""
    return repr(text) if len(text) <= 16 else f"a {len(text)}-character str"


def validate_positive_int(field: str, value: object) -> int:
    """A positive integer that fits PHP's 64-bit int; ``bool`` and numeric strings refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(field, f"must be a positive int, got {_type_name(value)}")
    if not 1 <= value <= PHP_INT_MAX:
        raise InvalidParameterError(field, f"must be between 1 and {PHP_INT_MAX}, got {value}")
    return value


def _text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidParameterError(field, f"must be a str, got {_type_name(value)}")
    if not value:
        raise InvalidParameterError(field, "must not be empty")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidParameterError(
                field, "holds a lone surrogate, which cannot be sent as UTF-8"
            ) from None
    return value


def _matching(pattern: re.Pattern[str], what: str) -> Rule:
    def rule(field: str, value: object) -> str:
        text = _text(field, value)
        if pattern.fullmatch(text) is None:
            raise InvalidParameterError(field, f"must be {what}, got {_shown(text)}")
        return text

    return rule


def _home_url(field: str, value: object) -> str:
    text = _text(field, value)
    if _URL_FORBIDDEN.search(text):
        raise InvalidParameterError(field, "must not contain spaces or control characters")
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise InvalidParameterError(field, f"is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        raise InvalidParameterError(
            field, f"must be an absolute http(s) URL, got {_shown(text)}"
        )
    return text


def _ip(field: str, value: object) -> str:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    text = _text(field, value)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise InvalidParameterError(
            field, f"must be an IPv4 or IPv6 address, got {_shown(text)}"
        ) from None
    return text


RULES: Final[Mapping[str, Rule]] = {
    "game_id": validate_positive_int,
    "player_id": _text,
    "player_username": _text,
    "agent_session_id": _text,
    "language": _matching(_LANGUAGE, "a language code such as 'en' or 'pt-BR'"),
    "currency": _matching(_CURRENCY, "a currency code such as 'USD' or 'USDT'"),
    "home_url": _home_url,
    "ip": _ip,
}


def validate_params(names: tuple[str, ...], params: Mapping[str, object]) -> dict[str, object]:
    """Check every parameter an endpoint takes; return the values to sign, in ``names`` order."""
    return {name: RULES[name](name, params[name]) for name in names}
