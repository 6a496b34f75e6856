"""Hostile input: no invalid parameter set reaches the network; every valid one is signed into
exactly the bytes PHP would produce."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gameapi_async as ga
from gameapi_async import GameApiClient, RawResponse, RetryPolicy
from gameapi_async.testing import MockTransport

from ..php_oracle import php_ksort_json
from ..support import FakeClock

TOKEN = "fuzz-SECRET"
LINK = RawResponse(200, b'{"status":"success","request_id":"r","content":{"url":"https://g/x"}}')

free_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1)
valid = {
    "game_id": st.integers(min_value=1, max_value=2**63 - 1),
    "player_id": free_text,
    "player_username": free_text,
    "agent_session_id": free_text,
    "language": st.sampled_from(["en", "ru", "pt-BR", "zh-Hant-TW", "EN", "es_419"]),
    "currency": st.from_regex(r"[A-Za-z][A-Za-z0-9]{1,9}", fullmatch=True),
    "home_url": st.builds(
        lambda scheme, host, path: f"{scheme}://{host}/{path}",
        st.sampled_from(["http", "https", "HTTPS"]),
        st.sampled_from(["casino.example", "пример.рф", "127.0.0.1:8080", "[::1]"]),
        st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E)),
    ),
    "ip": st.one_of(
        st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str), st.ip_addresses()
    ),
}
not_text = st.one_of(st.none(), st.integers(), st.floats(), st.binary(), st.booleans(),
                     st.lists(st.integers(), max_size=2))
lone = st.sampled_from(["\ud800", "\udfff"])
invalid = {
    "game_id": st.one_of(st.booleans(), st.integers(max_value=0), st.integers(min_value=2**63),
                         st.text(), st.floats(), st.none()),
    "player_id": st.one_of(not_text, st.just(""), st.builds(lambda a, s: a + s, st.text(), lone)),
    "player_username": st.one_of(not_text, st.just("")),
    "agent_session_id": st.one_of(not_text, st.just("")),
    "language": st.one_of(not_text, st.text().filter(lambda t: not t.replace("-", "").replace(
        "_", "").isascii() or not t or len(t) == 1 or " " in t or t.isdigit())),
    "currency": st.one_of(not_text, st.just(""), st.just("1USD"), st.just("US DOLLAR"),
                          st.just("ABCDEFGHIJKL")),
    "home_url": st.one_of(not_text, st.just(""), st.just("casino.example"), st.just("/lobby"),
                          st.just("ftp://x.example"), st.just("https://"),
                          st.just("https://a b.example/"), st.just("javascript:alert(1)")),
    "ip": st.one_of(not_text, st.just(""), st.just("256.0.0.1"), st.just("1.2.3"),
                    st.just("localhost"), st.just("::g")),
}
LINK_FIELDS = tuple(valid)


def call(client: GameApiClient, params: dict[str, Any], demo: bool) -> Any:
    if demo:
        demo_params = {k: v for k, v in params.items() if k != "agent_session_id"}
        return client.get_game_link_demo(**demo_params)
    return client.get_game_link(**params)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries(valid), st.sampled_from(LINK_FIELDS), st.data(), st.booleans())
def test_invalid_parameters_never_reach_the_network(
    params: dict[str, Any], field: str, data: st.DataObject, demo: bool
) -> None:
    if demo and field == "agent_session_id":
        field = "ip"
    params[field] = data.draw(invalid[field], label=field)
    transport = MockTransport(lambda request: LINK)

    async def run() -> None:
        async with GameApiClient(base_url="https://x.example", agent_id=1, api_token=TOKEN,
                                 transport=transport) as client:
            with pytest.raises(ga.InvalidParameterError) as caught:
                await call(client, params, demo)
            assert caught.value.field == field
            assert isinstance(caught.value, ValueError)

    asyncio.run(run())
    assert transport.requests == []


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries(valid), st.booleans(), st.integers(1, 2**63 - 1))
def test_valid_parameters_are_signed_as_php_would(
    params: dict[str, Any], demo: bool, agent_id: int
) -> None:
    transport = MockTransport(lambda request: LINK)
    clock = FakeClock()

    async def run() -> None:
        async with GameApiClient(base_url="https://x.example", agent_id=agent_id,
                                 api_token=TOKEN, transport=transport, clock=clock,
                                 retry=RetryPolicy.disabled()) as client:
            await call(client, params, demo)

    asyncio.run(run())
    (request,) = transport.requests
    expected = {k: (str(v) if isinstance(v, ipaddress.IPv4Address | ipaddress.IPv6Address)
                    else v) for k, v in params.items()}
    if demo:
        expected.pop("agent_session_id")
    expected |= {"agent_id": agent_id, "timestamp": int(clock.wall)}
    assert request.body == php_ksort_json(expected)
    assert request.signature == hmac.new(TOKEN.encode(), request.body, hashlib.sha256).hexdigest()
