"""PHP-canonical JSON: the exact bytes PHP's ``json_encode($data)`` writes with default flags.

The platform signs and checks the body the PHP way, so the SDK must send and sign byte for byte
what ``ksort($data); json_encode($data)`` would produce. PHP's default flags differ from
Python's ``json.dumps(ensure_ascii=True)`` in exactly these points:

- ``/`` is escaped as ``\\/``;
- DEL (U+007F) is written raw, where Python writes ``\\u007f``;
- a string that is not valid UTF-8 (in Python: one holding a lone surrogate) makes PHP fail,
  so it is refused here rather than signed into bytes no PHP server would produce.

Everything else agrees: no whitespace, ``\\"`` ``\\\\`` ``\\b`` ``\\f`` ``\\n`` ``\\r`` ``\\t``,
other control characters and all non-ASCII as lowercase ``\\uXXXX``, characters above U+FFFF as
UTF-16 surrogate pairs. So the C-accelerated ``json`` escaper does the work and this module
patches the differences. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Final

__all__ = ["PHP_INT_MAX", "PHP_INT_MIN", "encode_object", "encode_php_json", "encode_string"]

PHP_INT_MAX: Final = 2**63 - 1
PHP_INT_MIN: Final = -(2**63)

_DEL: Final = "\x7f"


def encode_string(value: str) -> str:
    """One JSON string literal, quotes included, as PHP writes it.

    Raises ``ValueError`` for a string that cannot be UTF-8 encoded (a lone surrogate).
    """
    if type(value) is not str:
        value = str.__str__(value)  # a str subclass: its characters, past overridden methods
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("string is not valid Unicode (holds a lone surrogate)") from None
    if _DEL in value:
        # Escape the pieces between DELs and put the DELs back raw, as PHP leaves them.
        return '"' + _DEL.join(encode_string(part)[1:-1] for part in value.split(_DEL)) + '"'
    encoded = encode_basestring_ascii(value)
    return encoded.replace("/", "\\/") if "/" in encoded else encoded


def _encode_float(value: float) -> str:
    # PHP (serialize_precision -1) writes the shortest round-trip digits, in fixed notation
    # while the decimal point falls within -3..17 digits, else as "1.5e-7" / "1.0e+25"; an
    # integral value has no ".0". NaN and INF make json_encode fail.
    if not math.isfinite(value):
        raise ValueError("NaN and infinite floats cannot be encoded")
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exponent, int)
    point = len(digit_tuple) + exponent  # digits before the decimal point
    if point < -3 or point > 17:
        return f"{sign}{digits[0]}.{digits[1:] or '0'}e{'+' if point > 0 else '-'}{abs(point - 1)}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if len(digits) <= point:
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _encode_value(value: object) -> str:
    # bool before int: bool is an int subclass. A subclass of int, float or str (an IntEnum, a
    # StrEnum, a type with its own __str__ or __repr__) is written as the plain value it holds:
    # its own methods could print anything, and the body must stay PHP-canonical JSON.
    if isinstance(value, str):
        return encode_string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        number = int.__index__(value)
        if not PHP_INT_MIN <= number <= PHP_INT_MAX:
            raise ValueError(f"integer {number} is outside PHP's 64-bit range")
        return int.__repr__(number)
    if isinstance(value, float):
        return _encode_float(float.__float__(value))
    if isinstance(value, Mapping):
        return _encode_mapping(value, sort=False)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode_value(item) for item in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _encode_mapping(data: Mapping[str, object], *, sort: bool) -> str:
    if not data:
        return "[]"  # PHP cannot tell an empty object from an empty array
    for key in data:
        if not isinstance(key, str):
            raise TypeError(f"object keys must be str, got {type(key).__name__}")
    # Sorted as plain strs: a str subclass key must not reorder the body by its own __lt__.
    items = [(str.__str__(key), value) for key, value in data.items()]
    if sort:
        items.sort(key=lambda item: item[0])
    return "{" + ",".join(f"{encode_string(key)}:{_encode_value(value)}" for key, value in items
                          ) + "}"


def encode_php_json(value: object) -> str:
    """Any JSON-able value (str, int, float, bool, None, lists, dicts) as PHP encodes it.

    Mappings keep their order here; use :func:`encode_object` for a request body.
    """
    return _encode_value(value)


# Every request of one endpoint has the same keys in the same order, so the sorted order and
# each key's escaped ``"key":`` prefix are worked out once per key sequence (a handful exist).
_PLANS: Final[dict[tuple[str, ...], tuple[tuple[str, str], ...]]] = {}
_MAX_PLANS: Final = 64


def _plan(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...] | None:
    if not all(type(key) is str for key in keys):
        return None
    plan = tuple((key, encode_basestring_ascii(key) + ":") for key in sorted(keys))
    if len(_PLANS) < _MAX_PLANS:
        _PLANS[keys] = plan
    return plan


def _encode_flat(data: Mapping[str, object]) -> str | None:
    """The body text of a flat object of strings and 64-bit ints, in one pass over the sorted
    keys; ``None`` when any key or value is of another type (the exact path decides then).

    For these types the C escaper agrees with PHP byte for byte, except for ``/``, DEL and lone
    surrogates, which the caller patches or sends to the exact path.
    """
    keys = tuple(data)
    plan = _PLANS.get(keys)
    if plan is None:
        plan = _plan(keys)
        if plan is None:
            return None
    parts: list[str] = []
    add = parts.append
    for key, prefix in plan:
        value = data[key]
        if type(value) is str:
            add(prefix + encode_basestring_ascii(value))
        elif type(value) is int and PHP_INT_MIN <= value <= PHP_INT_MAX:
            add(prefix + str(value))
        else:
            return None
    return "{" + ",".join(parts) + "}"


def encode_object(data: Mapping[str, object]) -> bytes:
    """The request body: ``ksort`` (top level only, as PHP does) then ``json_encode``.

    The result is pure ASCII (DEL included), so it is encoded without a check. A flat object
    of strings and integers (every request) is written in one pass with the C escaper, patched
    for ``/``; any output where DEL or a surrogate escape appears takes the exact path, which
    writes DEL raw and refuses lone surrogates (an astral character's surrogate pair is simply
    re-encoded there). Anything else (floats, bools, nesting, huge ints) takes the exact path.
    """
    if data:
        text = _encode_flat(data)
        if text is not None and "\\u007f" not in text and "\\ud" not in text:
            return (text.replace("/", "\\/") if "/" in text else text).encode("ascii")
    return _encode_mapping(data, sort=True).encode("ascii")
