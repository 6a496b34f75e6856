"""Edge input and wire formats: URL characters, int/str subclasses, the three HTTP date forms."""

from __future__ import annotations

import enum
import ipaddress
import json
import shutil
from typing import Any

import pytest

import gameapi_async as ga
from gameapi_async import encode_body
from gameapi_async._config import check_base_url
from gameapi_async._protocol import (
    Envelope,
    RawResponse,
    parse_game_link,
    parse_http_date,
    parse_response,
    parse_retry_after,
)
from gameapi_async._validation import validate_params
from gameapi_async.testing import FakePlatform

from .php_oracle import php_ksort_json
from .support import PLAYER

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


# -- HTTP dates ---------------------------------------------------------------------------------

MOMENT = 784_111_777.0  # Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example
FORMS = {
    "imf-fixdate": "Sun, 06 Nov 1994 08:49:37 GMT",
    "rfc850": "Sunday, 06-Nov-94 08:49:37 GMT",
    "asctime": "Sun Nov  6 08:49:37 1994",
}


@pytest.mark.parametrize("form", FORMS)
def test_all_three_http_date_forms_are_read(form: str) -> None:
    assert parse_http_date(FORMS[form]) == MOMENT


@pytest.mark.parametrize("form", FORMS)
def test_retry_after_as_a_date_in_every_form(form: str) -> None:
    assert parse_retry_after(FORMS[form], now=MOMENT - 30) == 30.0
    error_body = json.dumps({"status": "error", "error": "busy", "message": "m"}).encode()
    with pytest.raises(ga.ApiError) as caught:
        parse_response(RawResponse(503, error_body, date=FORMS["imf-fixdate"].replace("37", "07"),
                             retry_after=FORMS[form]), now=0.0)
    assert caught.value.retry_after == 30.0  # measured from the answer's own Date


@pytest.mark.parametrize("form", FORMS)
def test_date_header_in_every_form_gives_the_server_time(form: str) -> None:
    body = json.dumps({"status": "success", "content": {"url": "https://x/"}}).encode()
    assert parse_response(RawResponse(200, body, date=FORMS[form]), now=0.0).server_time == MOMENT
    error_body = json.dumps({"status": "error", "error": "request_expired"}).encode()
    with pytest.raises(ga.RequestExpiredError) as caught:
        parse_response(RawResponse(400, error_body, date=FORMS[form]), now=0.0)
    assert caught.value.server_time == MOMENT


def test_rfc850_two_digit_years_follow_the_fifty_year_rule() -> None:
    import time

    this_year = time.gmtime().tm_year
    ahead = (this_year + 49) % 100  # 49 years ahead: still the future
    behind = (this_year + 51) % 100  # 51 years ahead: read as the past century
    near = parse_http_date(f"Monday, 01-Jan-{ahead:02d} 00:00:00 GMT")
    far = parse_http_date(f"Monday, 01-Jan-{behind:02d} 00:00:00 GMT")
    assert near is not None
    assert far is not None
    assert time.gmtime(near).tm_year == this_year + 49
    assert time.gmtime(far).tm_year == this_year + 51 - 100


def test_a_leap_second_is_read_as_the_second_before() -> None:
    assert parse_http_date("Sun, 06 Nov 1994 08:49:60 GMT") == MOMENT + 22


@pytest.mark.parametrize("value", [
    "Sun, 31 Feb 1994 08:49:37 GMT", "Sun Nov 36 08:49:37 1994", "Sun Nov  6 25:49:37 1994",
    "Sunday, 06-Nov-94 08:49:37", "yesterday", "Sun Nov  6 08:49:37",
    "Sun, 06 Nov 1994 08:49:61 GMT", "Sunday, 06-Nov-94 08:49:99 GMT", "Sun Nov  6 08:49:75 1994",
])
def test_impossible_or_partial_dates_are_not_read(value: str) -> None:
    assert parse_http_date(value) is None


@pytest.mark.php
@pytest.mark.skipif(shutil.which("php") is None, reason="php is not installed")
def test_subclass_values_give_the_body_real_php_writes() -> None:
    from .test_php_crosscheck import run_php

    plain: dict[str, str | int] = {"agent_id": 7, "game_id": 3, "player_id": "p/1", "ts": 5}
    tricky: dict[str, Any] = {"agent_id": Shouty(7), "game_id": GameId.STARBURST,
                              "player_id": Sly("p/1"), "ts": 5}
    [(php_body, _)] = run_php([("token", plain)])
    assert encode_body(tricky) == php_body
