"""The nesting limit of callback bodies: 32 levels of objects and arrays (the body's own object
is level 1), a rule of ours with the same answer on every Python, whatever its recursion
limit. Deeper is refused 422 ``validation_error`` before the JSON parser runs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gameapi_async.callbacks import Callback, CallbackRefused, CallbackVerifier

from ..support import AGENT_ID, API_TOKEN, FakeClock
from .support import signed

LIMIT = 32  # documented in docs/callbacks.md


def verify(body: bytes) -> Callback:
    verifier = CallbackVerifier(agent_id=AGENT_ID, api_token=API_TOKEN, clock=FakeClock().time)
    return verifier.verify(body, signed(body))


def arrays(levels: int, inner: str = "1") -> bytes:
    """A body ``levels`` deep: its own object, then ``levels - 1`` arrays."""
    nested = "[" * (levels - 1) + inner + "]" * (levels - 1)
    return f'{{"agent_id":{AGENT_ID},"type":"deep","n":{nested}}}'.encode()


def objects(levels: int) -> bytes:
    """A body ``levels`` deep made of objects only, with a string holding brackets at each."""
    text = '{"s":"]}","n":' * (levels - 1) + "1" + "}" * (levels - 1)
    return f'{{"agent_id":{AGENT_ID},"type":"deep","n":{text}}}'.encode()


def refusal(body: bytes) -> CallbackRefused:
    with pytest.raises(CallbackRefused) as refused:
        verify(body)
    return refused.value


@pytest.mark.parametrize("make", [arrays, objects])
def test_a_body_at_the_limit_is_accepted_whole(make: Callable[[int], bytes]) -> None:
    callback = verify(make(LIMIT))
    depth, value = 1, callback.data["n"]
    while isinstance(value, list | dict):
        depth += 1
        value = value[0] if isinstance(value, list) else value["n"]
    assert (depth, value) == (LIMIT, 1)


@pytest.mark.parametrize("make", [arrays, objects])
@pytest.mark.parametrize("levels", [LIMIT + 1, 100, 3000])  # 3000: past 3.11's recursion limit
def test_a_body_past_the_limit_is_refused_422_on_every_python(
    make: Callable[[int], bytes], levels: int
) -> None:
    refused = refusal(make(levels))
    assert (refused.code, refused.status) == ("validation_error", 422)
    assert f"nested more than {LIMIT} levels" in refused.message


@pytest.mark.parametrize(
    "inner",
    [
        '"' + "[" * 200 + '"',  # brackets inside a string are text
        '"\\"' + "{" * 200 + '"',  # an escaped quote does not end the string
        '"\\\\"' + ",0" * 5,  # an escaped backslash does not escape the closing quote
    ],
)
def test_brackets_inside_strings_do_not_count(inner: str) -> None:
    callback = verify(arrays(LIMIT, inner))
    assert callback.type == "deep"


def test_a_closing_quote_after_an_escaped_backslash_ends_the_string() -> None:
    # If "\\" were read as escaping the quote, the brackets after it would be taken for text.
    body = arrays(2, '"\\\\",' + "[" * LIMIT + "]" * LIMIT)
    refused = refusal(body)
    assert (refused.code, refused.status) == ("validation_error", 422)
    assert "nested more than" in refused.message


def test_an_unterminated_string_is_refused_as_invalid_json() -> None:
    body = f'{{"agent_id":{AGENT_ID},"type":"deep","n":"{"[" * 100}'.encode()
    refused = refusal(body)
    assert (refused.code, refused.status) == ("validation_error", 422)
    assert "not valid JSON" in refused.message
