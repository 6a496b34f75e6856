"""PHP-canonical JSON at its edges, through the exported ``encode_body``: floats whose decimal
point falls right at the front, and the errors for what PHP cannot encode. Each case pins a
line that mutation testing (docs/testing.md) showed test_canonical.py leaves free."""

from __future__ import annotations

import pytest

import gameapi_async as ga


@pytest.mark.parametrize(("value", "php"), [
    (0.5, "0.5"), (-0.5, "-0.5"), (0.1, "0.1"), (0.987654321, "0.987654321"),
    (0.05, "0.05"), (0.0001, "0.0001"),
])
def test_a_float_below_one_is_written_with_its_leading_zero(value: float, php: str) -> None:
    assert ga.encode_body({"x": value}) == f'{{"x":{php}}}'.encode()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused_with_a_clear_message(value: float) -> None:
    with pytest.raises(ValueError, match=r"^NaN and infinite floats cannot be encoded$"):
        ga.encode_body({"x": value})


def test_a_lone_surrogate_is_refused_with_a_clear_message() -> None:
    with pytest.raises(
        ValueError, match=r"^string is not valid Unicode \(holds a lone surrogate\)$"
    ):
        ga.encode_body({"x": ["ok", "\ud800"]})
