"""Money as ``decimal.Decimal``: parsed exactly as written, answered without exponent or noise.

JSON numbers from a callback are parsed with these hooks instead of ``float``: ``1000.50`` stays
``Decimal("1000.50")``. Literals that no sane amount needs (NaN, Infinity, hundreds of digits,
``1e999999``) are refused before ``Decimal`` ever does arithmetic with them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, NoReturn

__all__ = [
    "MAX_NUMBER_CHARS",
    "NumberRefused",
    "format_amount",
    "in_range",
    "parse_constant",
    "parse_decimal",
    "parse_int",
]

#: The longest number literal accepted; 40 characters hold any 64-bit amount with 18 decimals.
MAX_NUMBER_CHARS: Final = 40
#: Exponents further out than this are refused: no currency amount needs 10**30.
_MAX_EXPONENT: Final = 30


class NumberRefused(ValueError):
    """A JSON number literal outside what a money amount can be."""


def parse_decimal(text: str) -> Decimal:
    """``parse_float`` hook: a JSON fraction or exponent literal as an exact ``Decimal``."""
    if len(text) > MAX_NUMBER_CHARS:
        raise NumberRefused(f"number literal longer than {MAX_NUMBER_CHARS} characters")
    value = Decimal(text)
    # Without an exponent the length cap already bounds the digits either side of the point.
    if ("e" in text or "E" in text) and not in_range(value):
        raise NumberRefused("number out of range (exponent too large)")
    return value


def in_range(value: Decimal) -> bool:
    """False for exponents no amount needs, which would make formatting or arithmetic huge."""
    exponent = value.as_tuple().exponent
    return (isinstance(exponent, int) and exponent >= -_MAX_EXPONENT
            and value.adjusted() <= _MAX_EXPONENT)


def parse_int(text: str) -> int:
    """``parse_int`` hook: refuses integer literals too long to be an id or an amount."""
    if len(text) > MAX_NUMBER_CHARS:
        raise NumberRefused(f"number literal longer than {MAX_NUMBER_CHARS} characters")
    return int(text)


def parse_constant(name: str) -> NoReturn:
    """``parse_constant`` hook: ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON money."""
    raise NumberRefused(f"{name} is not a number")


def format_amount(value: object) -> str:
    """A balance as a plain JSON number: ``Decimal("1000.50")`` -> ``1000.50``.

    Only ``Decimal`` and ``int`` are accepted: a ``float`` already carries binary noise
    (``0.1 + 0.2``) and rounding it here would hide a wallet bug, so it is refused. The text has
    no exponent (``Decimal("1E+3")`` -> ``1000``) and no sign on zero.
    """
    if type(value) is Decimal and value.is_finite():
        text = str(value)
        if "E" not in text:  # str() wrote plain notation (the usual case): done
            return text[1:] if text[0] == "-" and not value else text
    if type(value) is int:
        return str(value)
    if not isinstance(value, Decimal):
        raise TypeError(
            f"balance must be a decimal.Decimal (or int), got {type(value).__name__}"
            + (": floats are refused, not rounded" if isinstance(value, float) else "")
        )
    if not value.is_finite():
        raise ValueError(f"balance must be finite, got {value}")
    text = str(value)
    if "E" not in text:  # str() already wrote plain notation (the usual case): no exponent
        return text[1:] if text[0] == "-" and not value else text
    if not in_range(value):
        raise ValueError("balance is out of range")
    if not value:
        value = abs(value)
    return format(value, "f")
