"""Duplicate keys in a callback body: refused 422 ``validation_error`` in any object at any
depth, whatever its strings hold (colons, quotes, escapes); a body without one is accepted
whole. The parser finds repeats by counting keys against colons outside strings, so the bodies
here are written with colons, quotes and backslashes inside keys and values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gameapi_async.callbacks import Callback, CallbackRefused, CallbackVerifier

from ..support import AGENT_ID, API_TOKEN, FakeClock
from .support import signed


class Pairs(tuple[tuple[str, Any], ...]):
    """A JSON object as written: its pairs in order, a key possibly repeated."""


def write(value: Any) -> str:
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{json.dumps(key)}:{write(item)}" for key, item in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(write(item) for item in value) + "]"
    return json.dumps(value)


def repeats(value: Any) -> bool:
    """The oracle: some object of ``value`` names a key twice."""
    if isinstance(value, Pairs):
        names = [key for key, _ in value]
        return len(set(names)) != len(names) or any(repeats(item) for _, item in value)
    if isinstance(value, list):
        return any(repeats(item) for item in value)
    return False


def verify(text: str) -> Callback:
    body = text.encode()
    verifier = CallbackVerifier(agent_id=AGENT_ID, api_token=API_TOKEN, clock=FakeClock().time)
    return verifier.verify(body, signed(body))


def body(extra: str, *, lead: str = "") -> str:
    """An untyped callback (any ``type`` but the documented two) carrying ``extra`` pairs."""
    return f'{lead}{{"agent_id":{AGENT_ID},"type":"x-test"{extra}}}'


_ASKEW = ':"\\{}[], aé'  # what could fool a count of colons or a scan of strings
_scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(_ASKEW, max_size=5)
_keys = st.text(':"\\ab{', max_size=3)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.lists(st.tuples(_keys, inner), max_size=4).map(Pairs),
    max_leaves=12,
)


@given(st.lists(st.tuples(_keys, _values), max_size=5).map(Pairs))
@example(Pairs((("a:b", 1), ("c", 1), ("c", 2))))  # a colon in a key and a repeat: both
@example(Pairs((("a", "x:y"), ("b", '"\\":'))))  # colons only inside strings: no repeat
@example(Pairs((("n", [Pairs((("k", 1), ("k", 2)))]),)))  # a repeat inside an array
@example(Pairs((("n", Pairs((("k", Pairs()), ("k", [])))),)))  # empty values repeated
@example(Pairs((("agent_id", AGENT_ID),)))  # a repeat of the body's own first key
def test_a_body_is_refused_exactly_when_an_object_repeats_a_key(extra: Pairs) -> None:
    text = body("".join(f",{json.dumps(key)}:{write(value)}" for key, value in extra))
    if repeats(Pairs((("agent_id", 0), ("type", 0), *extra))):
        with pytest.raises(CallbackRefused) as refused:
            verify(text)
        assert (refused.value.code, refused.value.status) == ("validation_error", 422)
        assert "a key is repeated" in refused.value.message
    else:
        assert dict(verify(text).data) == json.loads(text)


def test_a_repeat_is_found_in_a_body_with_blanks_around_it() -> None:
    # Such a body is parsed the long way (not by the scanner called directly).
    with pytest.raises(CallbackRefused) as refused:
        verify(body(',"k":1,"k":2', lead=" \n"))
    assert "a key is repeated" in refused.value.message
    assert verify(body(',"k":1,"l":2', lead=" \n")).data["l"] == 2
