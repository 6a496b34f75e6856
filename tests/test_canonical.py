"""The PHP-canonical encoder: unit cases, each one a rule of PHP's json_encode, and properties
against an independent PHP model."""

from __future__ import annotations

import enum
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import gameapi_async as ga
from gameapi_async import encode_body
from gameapi_async._canonical import (
    PHP_INT_MAX,
    PHP_INT_MIN,
    encode_object,
    encode_php_json,
    encode_string,
)
from gameapi_async._validation import validate_params
from gameapi_async.testing import FakePlatform

from .php_oracle import php_ksort_json, php_string
from .support import PLAYER


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", '"plain"'),
        ("a/b", '"a\\/b"'),
        ("back\\slash", '"back\\\\slash"'),
        ('q"uote', '"q\\"uote"'),
        ("\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'),
        ("\x00\x01\x1f", '"\\u0000\\u0001\\u001f"'),
        ("del\x7fraw", '"del\x7fraw"'),
        ("é", '"\\u00e9"'),
        ("Ж", '"\\u0416"'),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ("😀", '"\\ud83d\\ude00"'),
        ("<b>&'", "\"<b>&'\""),
        ("", '""'),
    ],
)
def test_string_escaping_matches_php(text: str, expected: str) -> None:
    assert encode_string(text) == expected


def test_del_is_raw_even_beside_non_ascii_and_slashes() -> None:
    assert encode_string("é\x7f/") == '"\\u00e9\x7f\\/"'


def test_escaped_text_that_looks_like_an_escape_is_kept_literal() -> None:
    # A literal backslash-u sequence must not be mistaken for an escape of DEL.
    assert encode_string("\\u007f") == '"\\\\u007f"'


def test_lone_surrogate_is_refused_as_php_would() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        encode_string("a\ud800b")


def test_object_is_key_sorted_without_whitespace() -> None:
    body = encode_object({"timestamp": 1, "agent_id": 2, "game_id": 3})
    assert body == b'{"agent_id":2,"game_id":3,"timestamp":1}'


def test_body_is_ascii_bytes_that_json_reads_back() -> None:
    data = {"player_username": "Иван 😀 a/b\x7f", "agent_id": 1}
    body = encode_object(data)
    assert isinstance(body, bytes)
    assert json.loads(body) == data


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (0, "0"),
        (-5, "-5"),
        (PHP_INT_MAX, str(PHP_INT_MAX)),
        (1.5, "1.5"),
        (1.0, "1"),
        (-0.0, "-0"),
        (1e16, "10000000000000000"),
        (1e18, "1.0e+18"),
        (0.0001, "0.0001"),
        (1e-5, "1.0e-5"),
        (1e25, "1.0e+25"),
        (1.5e-7, "1.5e-7"),
        (1.2345678901234568e17, "1.2345678901234568e+17"),
        ([1, "a/b"], '[1,"a\\/b"]'),
        ({}, "[]"),
        ({"b": 1, "a": 2}, '{"b":1,"a":2}'),  # only the top level is sorted, as ksort does
    ],
)
def test_other_values_follow_php(value: object, expected: str) -> None:
    assert encode_php_json(value) == expected


@pytest.mark.parametrize("value", [PHP_INT_MAX + 1, -(2**63) - 1])
def test_integers_outside_php_range_are_refused(value: int) -> None:
    with pytest.raises(ValueError, match="64-bit"):
        encode_object({"game_id": value})


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_floats_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="infinite"):
        encode_php_json(value)


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError, match="bytes"):
        encode_php_json(b"raw")


# -- through the exported encode_body: leading-zero floats, the errors' exact words ------
# Each case pins a line that mutation testing (docs/testing.md) showed free.

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


# -- int and str subclasses: signed as the plain values they hold ------------------------

DEMO_PARAMS = tuple(PLAYER)


class GameId(enum.IntEnum):
    STARBURST = 3


class Shouty(int):
    """An int that prints, formats and compares as something else."""

    def __str__(self) -> str:
        return "three"

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return "THREE"

    def __index__(self) -> int:
        return 99

    def __int__(self) -> int:
        return 98

    def __le__(self, other: object) -> bool:
        return False


class Sly(str):
    """A str that prints, hashes and compares as something else."""

    def __str__(self) -> str:
        return "/evil\x7f"

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0

    def isascii(self) -> bool:
        return True

    def replace(self, *args: Any) -> str:  # type: ignore[override]
        return "tampered"


def test_int_and_str_subclasses_are_signed_as_the_plain_values_they_hold() -> None:
    checked = validate_params(DEMO_PARAMS, {**PLAYER, "game_id": Shouty(3),
                                            "player_id": Sly("p/1")})
    assert type(checked["game_id"]) is int
    assert checked["game_id"] == 3
    assert type(checked["player_id"]) is str
    assert checked["player_id"] == "p/1"
    plain = {**PLAYER, "game_id": 3, "player_id": "p/1", "agent_id": 7, "timestamp": 1}
    for tricky in ({**plain, "game_id": Shouty(3)}, {**plain, "game_id": GameId.STARBURST},
                   {**plain, "agent_id": Shouty(7), "player_id": Sly("p/1")}):
        body = encode_body(tricky)
        assert body == encode_body(plain)
        assert body == php_ksort_json(plain)  # the independent PHP model
        json.loads(body)


def test_nested_and_float_subclasses_and_odd_keys() -> None:
    class Wide(float):
        def __repr__(self) -> str:
            return "wide"

    assert encode_body({"a": [Shouty(3), Wide(1.5)], "b": {"x": GameId.STARBURST}}) == (
        b'{"a":[3,1.5],"b":{"x":3}}')
    with pytest.raises(TypeError, match="keys must be str"):
        encode_body({1: "x"})  # type: ignore[dict-item]
    assert encode_body({Sly("b"): 1, "a": 2}) == b'{"a":2,"b":1}'


@pytest.mark.parametrize("agent_id", [Shouty(1), GameId.STARBURST])
async def test_the_platform_accepts_subclass_ids_end_to_end(agent_id: int) -> None:
    async with FakePlatform(agent_id=int(agent_id.real), api_token="t") as fake, \
            ga.GameApiClient(base_url=fake.base_url, agent_id=agent_id, api_token="t",
                             retry=ga.RetryPolicy.disabled()) as client:
        link = await client.get_game_link_demo(**{**PLAYER, "game_id": GameId.STARBURST})
        assert link.url.startswith("http")
        assert client.agent_id == agent_id.real
        assert type(client.agent_id) is int


@pytest.mark.php
def test_subclass_values_give_the_body_real_php_writes() -> None:
    from .test_php_crosscheck import run_php

    plain: dict[str, str | int] = {"agent_id": 7, "game_id": 3, "player_id": "p/1", "ts": 5}
    tricky: dict[str, Any] = {"agent_id": Shouty(7), "game_id": GameId.STARBURST,
                              "player_id": Sly("p/1"), "ts": 5}
    [(php_body, _)] = run_php([("token", plain)])
    assert encode_body(tricky) == php_body


# -- properties: the encoder against an independent PHP model, for any string ------------

any_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]))
nasty_text = st.text(alphabet=st.sampled_from(
    ['"', "\\", "/", "\x00", "\x1f", "\x7f", "\b", "\f", "\n", "\r", "\t", "\u2028", "\u2029",
     "é", "Ж", "€", "\ufeff", "\uffff", "😀", "🎰", "\U0010ffff", "a", "u", "0", "<", "&", "'"]
))
php_ints = st.integers(min_value=PHP_INT_MIN, max_value=PHP_INT_MAX)
values = st.one_of(any_text, nasty_text, php_ints)
keys = st.from_regex(r"[a-z_]{1,24}", fullmatch=True)


@given(any_text | nasty_text)
def test_strings_match_the_php_model(text: str) -> None:
    assert encode_string(text) == php_string(text)


@given(st.dictionaries(keys, values, min_size=1, max_size=12))
def test_objects_match_the_php_model_and_round_trip(data: dict[str, str | int]) -> None:
    body = encode_object(data)
    assert body == php_ksort_json(data)
    assert json.loads(body) == data
    assert body.isascii()


@given(any_text, st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"]), any_text)
def test_lone_surrogates_are_refused(before: str, surrogate: str, after: str) -> None:
    with pytest.raises(ValueError, match="surrogate"):
        encode_string(before + surrogate + after)


mixed_values = st.one_of(
    values,
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=PHP_INT_MAX + 1) | st.integers(max_value=PHP_INT_MIN - 1),
    st.lists(php_ints, max_size=3),
    st.text(max_size=3).map(lambda t: t + "\ud800"),  # lone surrogate: refused on both paths
)


def _outcome(encode: object, data: dict[str, object]) -> object:
    try:
        return encode(data)  # type: ignore[operator]
    except (AttributeError, TypeError, ValueError) as exc:
        return type(exc)


@given(st.dictionaries(keys | st.integers(0, 9), mixed_values, max_size=10))
def test_one_pass_fast_path_agrees_with_the_exact_path(data: dict[object, object]) -> None:
    # Whatever the fast path is given, it answers exactly as the exact encoder does: the same
    # bytes or the same kind of refusal (a non-str key, an unsortable mix, an unsendable value).
    from gameapi_async._canonical import _encode_mapping

    def exact(d: dict[str, object]) -> bytes:
        return _encode_mapping(d, sort=True).encode("ascii")

    assert _outcome(encode_object, data) == _outcome(exact, data)
