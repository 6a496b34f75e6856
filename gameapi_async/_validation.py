"""Per-endpoint parameter rules, checked before anything is signed or sent. Pure: no I/O.

Each rule takes the caller's value and returns the value to sign, or raises
:class:`InvalidParameterError` naming the field. Free text (player ids, names, session ids) is
carried verbatim whatever it holds; only what PHP could not encode is refused. Codes are checked
liberally (``pt-BR``, ``zh-Hant-TW``, ``USDT`` are real); lengths are the platform's to police.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Final
from urllib.parse import urlsplit

from ._canonical import PHP_INT_MAX
from ._errors import InvalidParameterError

__all__ = [
    "check_params",
    "describe_char",
    "rules_for",
    "unsafe_url_char",
    "validate_params",
    "validate_positive_int",
]

_LANGUAGE: Final = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}")
_CURRENCY: Final = re.compile(r"[A-Za-z][A-Za-z0-9]{1,9}")

Rule = Callable[[str, object], object]


def _type_name(value: object) -> str:
    return type(value).__name__


def _shown(text: str) -> str:
    """A refused value, quoted only when short: a secret pasted into the wrong parameter must
    not end up in an exception message or a log."""
    return repr(text) if len(text) <= 16 else f"a {len(text)}-character str"


def unsafe_url_char(text: str) -> str | None:
    """The first character of ``text`` that must not stand in a URL as given, or ``None``.

    That is a space or anything ``str.isprintable`` rejects: C0 and C1 controls, DEL, every
    Unicode space and line or paragraph separator (NBSP, U+2028, U+3000...), format characters
    (bidi overrides and isolates, zero-width characters, BOM), surrogates and unassigned code
    points. One rule for URLs going out (``home_url``, ``base_url``) and coming back (launch
    links), so what the SDK sends it would also accept, and the reverse.
    """
    if text.isprintable() and " " not in text:
        return None
    return next(char for char in text if char == " " or not char.isprintable())


def describe_char(char: str) -> str:
    """A character as its code point, safe to show whatever it is (``U+202E``)."""
    return f"U+{ord(char):04X}"


def validate_positive_int(field: str, value: object) -> int:
    """A positive integer that fits PHP's 64-bit int; ``bool`` and numeric strings refused.

    An ``int`` subclass (an ``IntEnum``, a type with its own ``__str__``) is accepted as the
    plain integer it holds: that is what is signed and sent.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(field, f"must be a positive int, got {_type_name(value)}")
    if type(value) is not int:
        value = int.__index__(value)  # the int's own value, past any overridden method
    if not 1 <= value <= PHP_INT_MAX:
        # A huge int is not even printable (Python's 4300-digit limit): say how big it is.
        shown = str(value) if value.bit_length() <= 64 else f"a {value.bit_length()}-bit int"
        raise InvalidParameterError(field, f"must be between 1 and {PHP_INT_MAX}, got {shown}")
    return value


def _as_text(field: str, value: object) -> str:
    """A value that is not a plain ``str``: the characters of a ``str`` subclass, or the
    typed error naming the field."""
    if not isinstance(value, str):
        raise InvalidParameterError(field, f"must be a str, got {_type_name(value)}")
    # A str subclass may override __str__, __eq__, __hash__ or isascii: check and sign the
    # characters it holds, as a plain str.
    return str.__str__(value)


def _ip_as_text(field: str, value: object) -> str:
    if isinstance(value, _IP_ADDRESS):
        return str(value)  # then checked like any text: a scope id may hold anything
    return _as_text(field, value)


def _checked(
    problem_of: Callable[[str], str | None] | None,
    as_text: Callable[[str, object], str],
    field: str,
    value: object,
) -> str:
    """The one check of a text field: plain, non-empty text PHP can encode, which
    ``problem_of`` (when there is one) finds no problem with. Bound once per rule
    (``functools.partial``), so a field costs one call."""
    if type(value) is not str:
        value = as_text(field, value)
    if not value:
        raise InvalidParameterError(field, "must not be empty")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidParameterError(
                field, "holds a lone surrogate, which cannot be sent as UTF-8"
            ) from None
    if problem_of is not None:
        problem = problem_of(value)
        if problem is not None:
            raise InvalidParameterError(field, problem)
    return value


# The checks below are pure functions of a string, and agents send the same few home URLs,
# languages, currencies and many repeated player IPs, so their verdicts are memoised: a bounded
# LRU cache of "problem or None" per distinct string.
_MEMO_SIZE: Final = 4096


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str | None]:
    @functools.lru_cache(maxsize=_MEMO_SIZE)
    def problem_of(text: str) -> str | None:
        if pattern.fullmatch(text) is None:
            return f"must be {what}, got {_shown(text)}"
        return None

    return problem_of


_language_problem: Final = _matching(_LANGUAGE, "a language code such as 'en' or 'pt-BR'")
_currency_problem: Final = _matching(_CURRENCY, "a currency code such as 'USD' or 'USDT'")


@functools.lru_cache(maxsize=_MEMO_SIZE)
def _url_problem(text: str) -> str | None:
    char = unsafe_url_char(text)
    if char is not None:
        return (
            "must not contain spaces, control, format or separator characters "
            f"(found {describe_char(char)})"
        )
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        return f"must be an absolute http(s) URL, got {_shown(text)}"
    return None


@functools.lru_cache(maxsize=_MEMO_SIZE)
def _ip_problem(text: str) -> str | None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return f"must be an IPv4 or IPv6 address, got {_shown(text)}"
    char = unsafe_url_char(text)  # only an IPv6 scope id (``fe80::1%eth0``) can hold one
    if char is not None:
        return f"holds {describe_char(char)} in its scope id"
    return None


_IP_ADDRESS: Final = (ipaddress.IPv4Address, ipaddress.IPv6Address)

# Each rule bound once: one call per field, whatever the rule.
_text: Final[Rule] = functools.partial(_checked, None, _as_text)
_language: Final[Rule] = functools.partial(_checked, _language_problem, _as_text)
_currency: Final[Rule] = functools.partial(_checked, _currency_problem, _as_text)
_home_url: Final[Rule] = functools.partial(_checked, _url_problem, _as_text)
_ip: Final[Rule] = functools.partial(_checked, _ip_problem, _ip_as_text)

RULES: Final[Mapping[str, Rule]] = {
    "game_id": validate_positive_int,
    "player_id": _text,
    "player_username": _text,
    "agent_session_id": _text,
    "language": _language,
    "currency": _currency,
    "home_url": _home_url,
    "ip": _ip,
}


def rules_for(names: tuple[str, ...]) -> tuple[tuple[str, Rule], ...]:
    """Each parameter an endpoint takes with its rule, looked up once per endpoint."""
    return tuple((name, RULES[name]) for name in names)


def validate_params(names: tuple[str, ...], params: Mapping[str, object]) -> dict[str, object]:
    """Check every parameter an endpoint takes; return the values to sign, in ``names`` order.

    Each value goes through its field's rule, which returns what is signed (a subclass of
    ``str`` or ``int`` as the plain value it holds) or raises the error naming the field.
    """
    return check_params(rules_for(names), params)


def check_params(
    rules: tuple[tuple[str, Rule], ...], params: Mapping[str, object]
) -> dict[str, object]:
    """:func:`validate_params` with the endpoint's rules already looked up (:func:`rules_for`)."""
    checked: dict[str, object] = {}
    for name, rule in rules:
        checked[name] = rule(name, params[name])
    return checked
