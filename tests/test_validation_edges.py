"""What a refused parameter's error says, through the client: the type it got, and the value
itself only when it is short (a secret pasted into the wrong field must not be echoed). Each
case pins a line that mutation testing (docs/testing.md) showed test_validation.py leaves
free."""

from __future__ import annotations

from typing import Any

import pytest
from aioresponses import aioresponses

from gameapi_async import InvalidParameterError
from gameapi_async._protocol import GET_GAME_LINK
from gameapi_async._validation import validate_params

from .support import PLAYER, single_attempt_client

LANGUAGE_RULE = "must be a language code such as 'en' or 'pt-BR'"


async def refusal(mock: aioresponses, **change: Any) -> InvalidParameterError:
    async with single_attempt_client() as client:
        with pytest.raises(InvalidParameterError) as caught:
            await client.get_game_link_demo(**{**PLAYER, **change})
    assert mock.requests == {}  # refused before anything was sent
    return caught.value


@pytest.mark.parametrize(("value", "shown"), [
    ("x" * 16, repr("x" * 16)),  # short enough to show
    ("x" * 17, "a 17-character str"),
])
async def test_a_refused_value_is_quoted_only_when_short(
    mock: aioresponses, value: str, shown: str
) -> None:
    error = await refusal(mock, language=value)
    assert error.field == "language"
    assert str(error) == f"language: {LANGUAGE_RULE}, got {shown}"


@pytest.mark.parametrize(("field", "value", "type_name"), [
    ("player_id", 5, "int"), ("language", None, "NoneType"), ("ip", 1.5, "float"),
])
async def test_a_value_of_the_wrong_type_is_named_by_its_type(
    mock: aioresponses, field: str, value: object, type_name: str
) -> None:
    error = await refusal(mock, **{field: value})
    assert str(error) == f"{field}: must be a str, got {type_name}"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("game_id", "1", "must be a positive int, got str"),
    ("game_id", 0, "must be between 1 and 9223372036854775807, got 0"),
    ("game_id", 2**64 - 1, "must be between 1 and 9223372036854775807, got 18446744073709551615"),
    ("game_id", 2**64, "must be between 1 and 9223372036854775807, got a 65-bit int"),
    ("player_id", "", "must not be empty"),
    ("player_username", "a\ud800", "holds a lone surrogate, which cannot be sent as UTF-8"),
])
async def test_each_refusal_says_what_is_wrong(
    mock: aioresponses, field: str, value: object, message: str
) -> None:
    error = await refusal(mock, **{field: value})
    assert str(error) == f"{field}: {message}"


def test_the_callers_mapping_is_never_changed() -> None:
    # The caller's mapping is only read, even when it has exactly the endpoint's keys in order.
    from ipaddress import IPv4Address

    params: dict[str, object] = {name: PLAYER.get(name, "s-1") for name in GET_GAME_LINK.params}
    params["ip"] = IPv4Address("1.2.3.4")
    checked = validate_params(GET_GAME_LINK.params, params)
    assert checked["ip"] == "1.2.3.4"
    assert params["ip"] == IPv4Address("1.2.3.4")
    assert checked is not params
