"""Parameter rules: what each endpoint accepts, and the field named when it refuses; and what a
refusal says: the type it got, and the value itself only when it is short."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest
from aioresponses import aioresponses
from hypothesis import given
from hypothesis import strategies as st

import gameapi_async as ga
from gameapi_async import InvalidParameterError
from gameapi_async._config import check_base_url
from gameapi_async._protocol import GET_GAME_LINK, GET_GAME_LINK_DEMO, Envelope, parse_game_link
from gameapi_async._validation import RULES, validate_params

from .support import PLAYER, single_attempt_client

VALID = {
    "game_id": 123,
    "player_id": "player_123",
    "player_username": "john_doe",
    "language": "en",
    "currency": "USD",
    "home_url": "https://casino.example/lobby",
    "agent_session_id": "s-1",
    "ip": "192.168.1.1",
}


def with_value(field: str, value: object) -> dict[str, object]:
    return {**VALID, field: value}


def test_valid_params_pass_through_unchanged() -> None:
    assert validate_params(GET_GAME_LINK.params, VALID) == VALID


def test_demo_endpoint_takes_no_session_id() -> None:
    checked = validate_params(GET_GAME_LINK_DEMO.params, VALID)
    assert "agent_session_id" not in checked
    assert checked == {k: v for k, v in VALID.items() if k != "agent_session_id"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("game_id", True),
        ("game_id", "123"),
        ("game_id", 1.0),
        ("game_id", 0),
        ("game_id", -1),
        ("game_id", 2**63),
        ("game_id", None),
        ("player_id", ""),
        ("player_id", 5),
        ("player_username", None),
        ("player_username", b"bytes"),
        ("agent_session_id", ""),
        ("player_id", "lone \ud800 surrogate"),
        ("language", "english"),
        ("language", "e"),
        ("language", "en US"),
        ("language", ""),
        ("currency", "US DOLLAR"),
        ("currency", "1USD"),
        ("currency", "U"),
        ("home_url", "casino.example"),
        ("home_url", "/relative/path"),
        ("home_url", "ftp://casino.example"),
        ("home_url", "javascript:alert(1)"),
        ("home_url", "https://"),
        ("home_url", "https://casino.example/a b"),
        ("home_url", "https://casino.example:99999/"),
        ("home_url", "https://casino.example/\n"),
        ("ip", "256.1.1.1"),
        ("ip", "localhost"),
        ("ip", " 1.2.3.4"),
        ("ip", "1.2.3"),
        ("ip", 16909060),
    ],
)
def test_invalid_values_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        validate_params(GET_GAME_LINK.params, with_value(field, value))
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}:")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("language", "pt-BR"),
        ("language", "zh-Hant-TW"),
        ("language", "en_US"),
        ("language", "RU"),
        ("currency", "USDT"),
        ("currency", "mBTC"),
        ("currency", "rub"),
        ("home_url", "http://localhost:8080/"),
        ("home_url", "https://пример.рф/"),
        ("home_url", "HTTPS://CASINO.EXAMPLE/?a=<x>&b=/c"),
        ("ip", "2001:db8::1"),
        ("ip", "::1"),
        ("player_id", " "),
        ("player_username", "Иван 🎰 \"quoted\" <b> a/b \\ \x00 \x7f"),
        ("agent_session_id", "\t\n"),
        ("game_id", 2**63 - 1),
    ],
)
def test_liberal_but_real_values_are_accepted_verbatim(field: str, value: object) -> None:
    assert validate_params(GET_GAME_LINK.params, with_value(field, value))[field] == value


def test_ip_address_objects_are_accepted_as_text() -> None:
    checked = validate_params(GET_GAME_LINK.params, with_value("ip", ipaddress.ip_address("::1")))
    assert checked["ip"] == "::1"


# -- URL characters: refused alike at every entry point (call, answer, base_url) ---------

DEMO_PARAMS = tuple(PLAYER)

# Every kind of character a URL must not hold as given: C0, DEL, C1, Unicode spaces, line and
# paragraph separators, bidi embeddings/overrides/isolates/marks, zero-width and BOM.
UNSAFE = ["\x00", "\x09", "\x0a", "\x1f", " ", "\x7f", "\x80", "\x85", "\x9f", "\xa0",
          "\u1680", "\u2000", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
          "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
          "\u2069", "\u200e", "\u200f", "\u061c", "\u200b", "\u200d", "\ufeff", "\U000e0001"]


def codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


@pytest.mark.parametrize("char", UNSAFE, ids=codepoint)
def test_home_url_refuses_every_control_space_separator_and_bidi_char(char: str) -> None:
    for url in (f"https://casino.example/{char}", f"https://casino.example/lobby?x={char}1",
                f"https://casino{char}.example/"):
        with pytest.raises(ga.InvalidParameterError) as caught:
            validate_params(DEMO_PARAMS, {**PLAYER, "home_url": url})
        assert caught.value.field == "home_url"
        assert codepoint(char) in str(caught.value)  # named by code point, not echoed raw
        assert char == " " or char not in str(caught.value)


@pytest.mark.parametrize("char", UNSAFE, ids=codepoint)
def test_the_launch_link_check_on_answers_refuses_the_same_chars(char: str) -> None:
    envelope = Envelope({"url": f"https://play.example/g?t={char}"}, "rid", 200, None)
    with pytest.raises(ga.MalformedResponseError):
        parse_game_link(envelope)


@pytest.mark.parametrize("char", UNSAFE, ids=codepoint)
def test_base_url_refuses_the_same_chars(char: str) -> None:
    with pytest.raises(ga.InvalidParameterError, match="base_url"):
        check_base_url(f"https://api{char}.example/v1", allow_insecure_http=False)
    with pytest.raises(ga.InvalidParameterError, match="base_url"):
        check_base_url(f"https://api.example/v1{char}", allow_insecure_http=False)


@pytest.mark.parametrize("char", UNSAFE, ids=codepoint)
def test_an_ipv6_scope_id_cannot_smuggle_them(char: str) -> None:
    scoped = f"fe80::1%eth{char}0"
    for ip in (scoped, ipaddress.IPv6Address(scoped)):
        with pytest.raises(ga.InvalidParameterError) as caught:
            validate_params(DEMO_PARAMS, {**PLAYER, "ip": ip})
        assert caught.value.field == "ip"


def test_non_ascii_that_is_printable_is_still_accepted_both_ways() -> None:
    url = "https://bücher.example/лобби?q=日本"
    assert validate_params(DEMO_PARAMS, {**PLAYER, "home_url": url})["home_url"] == url
    assert parse_game_link(Envelope({"url": url}, "r", 200, None)).url == url
    assert validate_params(DEMO_PARAMS, {**PLAYER, "ip": "fe80::1%eth0"})["ip"] == "fe80::1%eth0"


# -- huge integers from the caller: a typed error naming the field, before any I/O -------

client = single_attempt_client


@pytest.mark.parametrize("value", [10**5000, -(10**5000), 2**64],
                         ids=["huge", "huge-negative", "2**64"])
async def test_a_huge_int_parameter_is_a_typed_error_naming_the_field(
    mock: aioresponses, value: int
) -> None:
    async with client() as c:
        with pytest.raises(ga.InvalidParameterError) as caught:
            await c.get_game_link_demo(**{**PLAYER, "game_id": value})
    assert caught.value.field == "game_id"
    assert len(str(caught.value)) < 200
    assert not mock.requests


_ANY_VALUE = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "en", "pt-BR", "USD", "x", "https://c.example/l", "http://",
                     "ftp://c.example", "::1", "10.0.0.1", "300.1.1.1", "é", "a\ud800",
                     "https://c.example:99999/"]),
    st.integers(min_value=-2, max_value=2**64),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.just(ipaddress.ip_address("::1")),
)


@given(st.sampled_from(GET_GAME_LINK.params), _ANY_VALUE)
def test_validate_params_decides_as_the_fields_rule(field: str, value: object) -> None:
    # validate_params accepts, converts and refuses exactly what the field's rule does, with
    # the same message.
    def outcome(check: Callable[[], object]) -> object:
        try:
            return ("ok", check())
        except InvalidParameterError as exc:
            return ("refused", str(exc))

    given = outcome(lambda: validate_params(GET_GAME_LINK.params, with_value(field, value))[field])
    rule = outcome(lambda: RULES[field](field, value))
    assert given == rule


def test_the_values_to_sign_come_back_in_a_new_dict() -> None:
    own = with_value("ip", ipaddress.ip_address("10.0.0.1"))
    checked = validate_params(GET_GAME_LINK.params, own)
    assert checked is not own
    assert checked == with_value("ip", "10.0.0.1")
    assert own["ip"] == ipaddress.ip_address("10.0.0.1")  # the caller's dict is left alone
    assert validate_params(GET_GAME_LINK.params, dict(VALID)) == VALID


def test_only_the_endpoints_names_are_taken() -> None:
    # An extra key (the demo endpoint takes no session id) must never reach the body.
    given_params = dict(VALID)
    checked = validate_params(GET_GAME_LINK_DEMO.params, given_params)
    assert checked is not given_params
    assert "agent_session_id" not in checked
    assert given_params == VALID

    class Params(dict[str, object]):
        pass

    subclassed = Params(VALID)
    assert validate_params(GET_GAME_LINK.params, subclassed) is not subclassed


def test_int_and_str_subclasses_are_taken_as_the_plain_values_they_hold() -> None:
    # What is signed and sent is the value held, whatever the subclass says of itself
    # (found by mutation testing: no test passed a subclass that lies).
    class LyingInt(int):
        def __str__(self) -> str:
            return "999"

        def __index__(self) -> int:
            return 999

    class LyingStr(str):
        def __str__(self) -> str:
            return "someone-else"

    checked = validate_params(GET_GAME_LINK.params, VALID | {
        "game_id": LyingInt(7), "player_id": LyingStr("player-1"), "currency": LyingStr("EUR"),
    })
    assert (checked["game_id"], type(checked["game_id"])) == (7, int)
    assert (checked["player_id"], type(checked["player_id"])) == ("player-1", str)
    assert (checked["currency"], type(checked["currency"])) == ("EUR", str)


def test_a_bad_or_missing_value_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="ip"):
        validate_params(GET_GAME_LINK.params, with_value("ip", "nope"))
    with pytest.raises(KeyError):
        validate_params(GET_GAME_LINK.params, {k: v for k, v in VALID.items() if k != "ip"}
                        | {"extra": 1})


# -- what a refusal says: the type it got, the value only when short --------------------
# A secret pasted into the wrong field must not be echoed. Each case pins a line that mutation
# testing (docs/testing.md) showed the tests above leave free.

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
