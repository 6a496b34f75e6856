"""Hostile input: each malformed or forged callback gets a documented error answer, none
reaches the wallet, none crashes the handler."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ..support import AGENT_ID, API_TOKEN, FakeClock
from .servers import SERVERS, serving
from .support import RecordingWallet, body_of, get_balance_data, make_bet_data, make_handler, signed

NOW = int(FakeClock().wall)
GOOD = body_of(make_bet_data())
Case = tuple[bytes, dict[str, str]]


def sign_it(body: bytes) -> Case:
    return body, signed(body)


def raw(text: str) -> Case:
    return sign_it(text.encode())


# name -> (body, headers), expected (code, status). Bodies that are validly signed prove that
# parsing, not only the signature, refuses them.
CASES: dict[str, tuple[Case, tuple[str, int]]] = {
    "no signature header": ((GOOD, {}), ("signature_required", 401)),
    "empty signature": ((GOOD, {"X-Signature": ""}), ("invalid_signature", 403)),
    "wrong token": ((GOOD, signed(GOOD, "other-token")), ("invalid_signature", 403)),
    "uppercase hex signature": ((GOOD, {"X-Signature": signed(GOOD)["X-Signature"].upper()}),
                                ("invalid_signature", 403)),
    "non-ascii signature": ((GOOD, {"X-Signature": "é" * 64}), ("invalid_signature", 403)),
    "signature sent twice": (
        (GOOD, [("X-Signature", signed(GOOD)["X-Signature"])] * 2),  # type: ignore[dict-item]
        ("invalid_signature", 403)),
    "replayed signature, altered bet": (
        (body_of(make_bet_data(bet=0.01)), signed(GOOD)), ("invalid_signature", 403)),
    "replayed signature, altered player": (
        (body_of(make_bet_data(player_id="p-2")), signed(GOOD)), ("invalid_signature", 403)),
    "replayed signature, trailing space": ((GOOD + b" ", signed(GOOD)), ("invalid_signature", 403)),
    "proxy re-serialised": ((json.dumps(json.loads(GOOD)).encode(), signed(GOOD)),
                            ("invalid_signature", 403)),
    "oversized body": (sign_it(b'{"pad":"' + b"x" * 70_000 + b'"}'), ("payload_too_large", 413)),
    "empty body": (raw(""), ("validation_error", 422)),
    "not json": (raw("agent_id=7&type=getBalance"), ("validation_error", 422)),
    "truncated json": (sign_it(GOOD[:-5]), ("validation_error", 422)),
    "not utf-8": (sign_it(b'{"agent_id":7,"type":"\xff"}'), ("validation_error", 422)),
    "json array": (raw("[1,2]"), ("validation_error", 422)),
    "json string": (raw('"getBalance"'), ("validation_error", 422)),
    "json null": (raw("null"), ("validation_error", 422)),
    "duplicate key": (raw(GOOD.decode()[:-1] + ',"bet":0}'), ("validation_error", 422)),
    "NaN bet": (raw(GOOD.decode().replace('"bet":1.5', '"bet":NaN')), ("validation_error", 422)),
    "Infinity win": (raw(GOOD.decode().replace('"win":0.25', '"win":Infinity')),
                     ("validation_error", 422)),
    "huge exponent": (raw(GOOD.decode().replace('"bet":1.5', '"bet":1e999999')),
                      ("validation_error", 422)),
    "exponent beyond Decimal's own": (
        raw(GOOD.decode().replace('"bet":1.5', '"bet":1e99999999999999999999')),
        ("validation_error", 422)),
    "huge integer": (raw(GOOD.decode().replace('"bet":1.5', '"bet":' + "9" * 5000)),
                     ("validation_error", 422)),
    "deep nesting": (raw('{"agent_id":7,"type":"x","n":' + "[" * 100_00 + "]" * 100_00 + "}"),
                     ("validation_error", 422)),
    "missing agent_id": (sign_it(body_of(make_bet_data(agent_id=None))),
                         ("validation_error", 422)),
    "wrong agent": (sign_it(body_of(make_bet_data(agent_id=AGENT_ID + 1))),
                    ("validation_error", 422)),
    "agent_id as string": (sign_it(body_of(make_bet_data(agent_id=str(AGENT_ID)))),
                           ("validation_error", 422)),
    "agent_id as bool": (raw(GOOD.decode().replace(f'"agent_id":{AGENT_ID}', '"agent_id":true')),
                         ("validation_error", 422)),
    "missing type": (sign_it(body_of(make_bet_data(type=None))), ("validation_error", 422)),
    "type as number": (sign_it(body_of(make_bet_data(type=3))), ("validation_error", 422)),
    "missing bet": (sign_it(body_of(make_bet_data(bet=None))), ("validation_error", 422)),
    "bet as string": (sign_it(body_of(make_bet_data(bet="1.5"))), ("validation_error", 422)),
    "negative bet": (sign_it(body_of(make_bet_data(bet=-1.5))), ("validation_error", 422)),
    "negative win": (sign_it(body_of(make_bet_data(win=-0.25))), ("validation_error", 422)),
    "negative zero bet": (raw(GOOD.decode().replace('"bet":1.5', '"bet":-0.0')),
                          ("validation_error", 422)),
    "negative zero win": (raw(GOOD.decode().replace('"win":0.25', '"win":-0.0')),
                          ("validation_error", 422)),
    "win as bool": (raw(GOOD.decode().replace('"win":0.25', '"win":false')),
                    ("validation_error", 422)),
    "missing player_id": (sign_it(body_of(make_bet_data(player_id=None))),
                          ("validation_error", 422)),
    "empty player_id": (sign_it(body_of(make_bet_data(player_id=""))), ("validation_error", 422)),
    "player_id as number": (sign_it(body_of(get_balance_data(player_id=5))),
                            ("validation_error", 422)),
    "getBalance without currency": (sign_it(body_of(get_balance_data(currency=None))),
                                    ("validation_error", 422)),
    "getBalance without session": (sign_it(body_of(get_balance_data(session_id=None))),
                                   ("validation_error", 422)),
    "freespins as list": (sign_it(body_of(get_balance_data(freespins=[1]))),
                          ("validation_error", 422)),
    "game_id as string": (sign_it(body_of(get_balance_data(game_id="42"))),
                          ("validation_error", 422)),
    "request_id as number": (sign_it(body_of(get_balance_data(request_id=9))),
                             ("validation_error", 422)),
    "expired timestamp": (sign_it(body_of(get_balance_data(timestamp=NOW - 301))),
                          ("request_expired", 400)),
    "future timestamp": (sign_it(body_of(get_balance_data(timestamp=NOW + 301))),
                         ("request_expired", 400)),
    "timestamp as string": (sign_it(body_of(get_balance_data(timestamp=str(NOW)))),
                            ("validation_error", 422)),
    "timestamp beyond a float": (raw(GOOD.decode()[:-1] + ',"timestamp":' + "9" * 400 + "}"),
                                 ("validation_error", 422)),
    "timestamp beyond PHP_INT_MAX": (raw(GOOD.decode()[:-1] + f',"timestamp":{2**63}}}'),
                                     ("validation_error", 422)),
    "unknown type, no on_callback": (
        sign_it(body_of({"agent_id": AGENT_ID, "type": "rollback"})),
        ("unsupported_callback", 400)),
}


def test_there_are_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", sorted(CASES))
async def test_hostile_callback_is_refused_before_the_wallet(name: str) -> None:
    (body, headers), (code, status) = CASES[name]
    wallet = RecordingWallet()
    response = await make_handler(wallet).handle(body, headers)
    assert wallet.seen == []
    assert response.status == status
    assert json.loads(response.body) == {"error": code, "message": response_message(response)}
    assert response.headers["Content-Type"] == "application/json"
    assert API_TOKEN.encode() not in response.body


def response_message(response: Any) -> str:
    message = json.loads(response.body)["message"]
    assert isinstance(message, str)
    assert message
    return message


@given(st.binary(max_size=300))
async def test_any_signed_bytes_get_a_documented_answer(body: bytes) -> None:
    wallet = RecordingWallet()
    response = await make_handler(wallet).handle(body, signed(body))
    answer = json.loads(response.body)
    assert (response.status, answer["error"]) in {(422, "validation_error"),
                                                  (400, "unsupported_callback"),
                                                  (400, "request_expired")}
    assert wallet.seen == []


def _flip(body: bytes, index: int, byte: int) -> bytes:
    index %= len(body)
    return body[:index] + bytes([byte]) + body[index + 1:]



@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
async def test_any_altered_byte_is_refused_as_forged(index: int, byte: int) -> None:
    altered = _flip(GOOD, index, byte)
    wallet = RecordingWallet()
    response = await make_handler(wallet).handle(altered, signed(GOOD))
    if altered == GOOD:
        assert response.status == 200
    else:
        assert (response.status, json.loads(response.body)["error"]) == (403, "invalid_signature")
        assert wallet.seen == []


@pytest.mark.parametrize("server", SERVERS)
async def test_every_hostile_case_over_a_real_server(server: str) -> None:
    """The same answers through aiohttp's own server, uvicorn and hypercorn: nothing is lost
    or added on the wire, whatever serves the handler."""
    import aiohttp

    wallet = RecordingWallet()
    with serving(server, make_handler(wallet)) as (host, port):
        url = f"http://{host}:{port}/callback"
        async with aiohttp.ClientSession() as session:
            for name, ((body, headers), (code, status)) in sorted(CASES.items()):
                async with session.post(url, data=body, headers=headers) as response:
                    answer = json.loads(await response.read())
                    assert response.headers["Content-Type"] == "application/json", name
                assert (response.status, answer["error"]) == (status, code), name
    assert wallet.seen == []
