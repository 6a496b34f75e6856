"""Money: exact decimals in, plain JSON numbers out, floats refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gameapi_async.callbacks import format_amount
from gameapi_async.callbacks._money import NumberRefused, parse_constant, parse_decimal


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1000.50"), "1000.50"),
        (Decimal("1E+3"), "1000"),
        (Decimal("0.1") + Decimal("0.2"), "0.3"),
        (Decimal("-0.00"), "0.00"),
        (Decimal("1.5E-7"), "0.00000015"),
        (12, "12"),
        (Decimal("-3.25"), "-3.25"),
    ],
)
def test_format_amount_writes_plain_decimal_text(value: object, text: str) -> None:
    assert format_amount(value) == text


@pytest.mark.parametrize("value", [0.1, 1000.5, True, "10", None])
def test_format_amount_refuses_non_decimals(value: object) -> None:
    with pytest.raises(TypeError, match="balance must be a decimal"):
        format_amount(value)


def test_float_refusal_says_floats_are_not_rounded() -> None:
    with pytest.raises(TypeError, match="floats are refused"):
        format_amount(0.1 + 0.2)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("1E+40"),
                                   Decimal("0E-99")])
def test_format_amount_refuses_non_finite_and_huge(value: Decimal) -> None:
    with pytest.raises(ValueError, match="balance"):
        format_amount(value)


def test_parse_decimal_keeps_the_digits_as_written() -> None:
    assert str(parse_decimal("1000.50")) == "1000.50"
    assert parse_decimal("0.1") == Decimal("0.1")


@pytest.mark.parametrize("text", ["1e999999", "1e-999", "1" * 41 + ".0"])
def test_parse_decimal_refuses_absurd_literals(text: str) -> None:
    with pytest.raises(NumberRefused):
        parse_decimal(text)


def test_parse_constant_refuses_nan() -> None:
    with pytest.raises(NumberRefused, match="NaN"):
        parse_constant("NaN")
