"""An independent model of PHP 8's ``json_encode`` (default flags), written from its rules.

It shares no code with the SDK's encoder and uses no ``json`` module: it walks each string
character by character, as PHP's encoder does, so the property tests compare two independent
implementations.
"""

from __future__ import annotations

_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n",
          "\r": "\\r", "\t": "\\t"}


def php_string(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _SHORT:
            out.append(_SHORT[char])
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        elif code < 0x80:  # printable ASCII and DEL are written as they are
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            high = 0xD800 + ((code - 0x10000) >> 10)
            low = 0xDC00 + ((code - 0x10000) & 0x3FF)
            out.append(f"\\u{high:04x}\\u{low:04x}")
    out.append('"')
    return "".join(out)


def php_value(value: str | int) -> str:
    return php_string(value) if isinstance(value, str) else str(int(value))


def php_ksort_json(data: dict[str, str | int]) -> bytes:
    """``ksort($data); json_encode($data)`` for a flat object of strings and integers.

    Keys are identifiers, as in every request; PHP would turn numeric keys into integers.
    An empty PHP array encodes as ``[]``.
    """
    if not data:
        return b"[]"
    parts = [php_string(key) + ":" + php_value(data[key]) for key in sorted(data)]
    return ("{" + ",".join(parts) + "}").encode("utf-8")
