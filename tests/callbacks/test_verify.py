"""Verification and parsing: typed callbacks from signed bodies; every forgery refused."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gameapi_async.callbacks import Callback, CallbackRefused, CallbackVerifier, GetBalance, MakeBet

from ..support import AGENT_ID, API_TOKEN, FakeClock
from .support import body_of, get_balance_data, make_bet_data, signed


def verifier(clock: FakeClock | None = None, **kwargs: Any) -> CallbackVerifier:
    return CallbackVerifier(agent_id=AGENT_ID, api_token=API_TOKEN,
                            clock=(clock or FakeClock()).time, **kwargs)


def test_get_balance_is_typed_with_the_documented_fields() -> None:
    body = body_of(get_balance_data(game_id=42, request_id="r-9",
                                    freespins={"left": 3}))
    callback = verifier().verify(body, signed(body))
    assert isinstance(callback, GetBalance)
    assert (callback.session_id, callback.player_id, callback.player_username) == (
        "sess-1", "p-1", "alice")
    assert (callback.currency, callback.language, callback.game_id) == ("USD", "en", 42)
    assert callback.request_id == "r-9"
    assert callback.freespins == {"left": 3}
    assert callback.body == body
    assert callback.data["type"] == "getBalance"


def test_older_get_balance_without_newer_fields_is_accepted() -> None:
    body = body_of(get_balance_data())
    callback = verifier().verify(body, signed(body))
    assert isinstance(callback, GetBalance)
    assert (callback.game_id, callback.request_id, callback.freespins) == (None, None, None)


def test_make_bet_amounts_are_exact_decimals() -> None:
    body = b'{"agent_id":7,"bet":1000.50,"currency":"USD","player_id":"p","session_id":"s",' \
           b'"tx":"t-1","type":"makeBet","win":0.1}'
    callback = verifier().verify(body, signed(body))
    assert isinstance(callback, MakeBet)
    assert str(callback.bet) == "1000.50"
    assert callback.win == Decimal("0.1")
    assert callback.data["tx"] == "t-1"  # undocumented fields stay reachable, untyped


def test_integer_amounts_become_decimals() -> None:
    body = body_of(make_bet_data(bet=5, win=0))
    callback = verifier().verify(body, signed(body))
    assert isinstance(callback, MakeBet)
    assert (callback.bet, callback.win) == (Decimal(5), Decimal(0))
    assert isinstance(callback.bet, Decimal)


def test_unknown_type_is_a_generic_verified_callback() -> None:
    body = body_of({"agent_id": AGENT_ID, "type": "rollback", "whatever": [1, 2]})
    callback = verifier().verify(body, signed(body))
    assert type(callback) is Callback
    assert callback.type == "rollback"
    assert callback.data["whatever"] == [1, 2]


def test_data_is_read_only() -> None:
    body = body_of(get_balance_data())
    callback = verifier().verify(body, signed(body))
    with pytest.raises(TypeError):
        callback.data["player_id"] = "mallory"  # type: ignore[index]


def test_timestamp_inside_the_window_is_accepted() -> None:
    clock = FakeClock()
    body = body_of(get_balance_data(timestamp=int(clock.wall) - 299))
    assert isinstance(verifier(clock).verify(body, signed(body)), GetBalance)


def test_header_lookup_is_case_insensitive_and_takes_asgi_pairs() -> None:
    body = body_of(get_balance_data())
    signature = signed(body)["X-Signature"]
    assert isinstance(verifier().verify(body, {"x-SIGNATURE": signature}), GetBalance)
    pairs = [(b"content-type", b"application/json"), (b"x-signature", signature.encode())]
    assert isinstance(verifier().verify(body, pairs), GetBalance)


def test_proxy_reserialised_body_is_refused() -> None:
    """Decision: only the exact signed bytes count (see docs/callbacks.md)."""
    original = body_of(get_balance_data(player_username="a/b é"))
    reserialised = json.dumps(json.loads(original), ensure_ascii=False).encode()
    assert json.loads(reserialised) == json.loads(original)
    with pytest.raises(CallbackRefused) as refused:
        verifier().verify(reserialised, signed(original))
    assert (refused.value.code, refused.value.status) == ("invalid_signature", 403)


def test_refusal_never_holds_the_signature_or_token() -> None:
    body = body_of(get_balance_data())
    bad = {"X-Signature": "f" * 64}
    with pytest.raises(CallbackRefused) as refused:
        verifier().verify(body + b" ", {"X-Signature": signed(body)["X-Signature"]})
    for text in (str(refused.value), repr(refused.value)):
        assert signed(body)["X-Signature"] not in text
        assert API_TOKEN not in text
    assert API_TOKEN not in repr(verifier())
    with pytest.raises(CallbackRefused):
        verifier().verify(body, bad)


@pytest.mark.parametrize(
    "kwargs",
    [{"agent_id": 0}, {"agent_id": True}, {"api_token": ""}, {"max_body": 0}],
)
def test_bad_construction_is_refused(kwargs: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"agent_id": AGENT_ID, "api_token": API_TOKEN,
                                 "clock": FakeClock().time} | kwargs
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        CallbackVerifier(**arguments)


# -- the fast paths agree with the reference table ---------------------------------------------

_values = st.one_of(
    st.none(), st.text(max_size=3), st.integers(min_value=-(2**64), max_value=2**64),
    st.booleans(), st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.just(Decimal("-0.00")), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.lists(st.integers(), max_size=2),
)
_FIELDS = ("session_id", "player_id", "player_username", "currency", "language", "game_id",
           "freespins", "bet", "win")


@given(kind=st.sampled_from(["makeBet", "getBalance"]),
       fields=st.dictionaries(st.sampled_from(_FIELDS), _values, max_size=3))
def test_fast_paths_agree_with_the_table(kind: str, fields: dict[str, Any]) -> None:
    from gameapi_async.callbacks._verify import (
        _get_balance_fast,
        _make_bet_fast,
        _parse_by_table,
    )

    # A valid callback with a few fields replaced (None: removed), so both outcomes occur.
    base = make_bet_data() if kind == "makeBet" else get_balance_data()
    base = json.loads(body_of(base), parse_float=Decimal)
    data = {k: v for k, v in {**base, **fields}.items() if v is not None}
    fast_path = _make_bet_fast if kind == "makeBet" else _get_balance_fast
    fast = fast_path(b"{}", data, AGENT_ID, None)
    try:
        reference = _parse_by_table(b"{}", data, AGENT_ID, None)
    except CallbackRefused:
        assert fast is None
    else:
        assert fast is None or fast == reference
    if not fields:
        assert fast is not None  # the untouched callback takes the fast path


def test_fast_paths_take_the_typical_callbacks() -> None:
    from gameapi_async.callbacks._verify import _get_balance_fast, _make_bet_fast

    bet = json.loads(body_of(make_bet_data()), parse_float=Decimal)
    balance = json.loads(body_of(get_balance_data(game_id=1, freespins={"a": 1})))
    assert _make_bet_fast(b"", bet, AGENT_ID, None) is not None
    assert _get_balance_fast(b"", balance, AGENT_ID, None) is not None
