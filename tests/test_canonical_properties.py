"""Property tests: the encoder against an independent PHP model, for any string."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gameapi_async._canonical import PHP_INT_MAX, PHP_INT_MIN, encode_object, encode_string

from .php_oracle import php_ksort_json, php_string

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
