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
    text_pairs = [("Content-Type", "application/json"), ("X-Signature", signature)]
    assert isinstance(verifier().verify(body, text_pairs), GetBalance)


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


# -- one parsing path, checked against an independent statement of the rules ----------------

_values = st.one_of(
    st.none(), st.text(max_size=3), st.integers(min_value=-(2**64), max_value=2**64),
    st.booleans(),
    st.decimals(min_value=-(10**12), max_value=10**12, allow_nan=False, places=2),
    st.just(Decimal("-0.00")), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.lists(st.integers(), max_size=2),
)
_FIELDS = ("session_id", "player_id", "player_username", "currency", "language", "game_id",
           "freespins", "bet", "win")
_TEXT = ("session_id", "player_id", "player_username", "currency", "language")
_TYPED = {"makeBet": ("session_id", "player_id", "currency", "bet", "win", "player_username",
                      "language", "game_id"),
          "getBalance": ("session_id", "player_id", "player_username", "currency", "language",
                         "game_id", "freespins")}
_REQUIRED = {"makeBet": {"session_id", "player_id", "currency", "bet", "win"},
             "getBalance": {"session_id", "player_id", "player_username", "currency",
                            "language"}}


def _acceptable(name: str, value: Any) -> bool:
    """The documented rules, written independently of the parser."""
    if name in _TEXT:
        return isinstance(value, str) and value != ""
    if name == "game_id":
        return type(value) is int and -(2**63) <= value < 2**63
    if name == "freespins":
        return isinstance(value, dict) or value == []
    # bet, win: a number, never negative, a negative zero included
    return type(value) in (int, Decimal) and not Decimal(value).is_signed()


@given(kind=st.sampled_from(["makeBet", "getBalance"]),
       fields=st.dictionaries(st.sampled_from(_FIELDS), _values, max_size=3))
def test_each_field_is_accepted_exactly_when_the_rules_say(
    kind: str, fields: dict[str, Any]
) -> None:
    base = make_bet_data() if kind == "makeBet" else get_balance_data()
    data = {k: v for k, v in {**base, **fields}.items() if v is not None}
    body = json.dumps({k: float(v) if isinstance(v, Decimal) else v
                       for k, v in data.items()}).encode()
    sent = json.loads(body, parse_float=Decimal)  # what the body says, as the rules read it
    bad = [n for n in _TYPED[kind] if (n not in sent and n in _REQUIRED[kind])
           or (n in sent and not _acceptable(n, sent[n]))]
    if bad:
        with pytest.raises(CallbackRefused) as refused:
            verifier().verify(body, signed(body))
        assert (refused.value.field in bad, refused.value.status) == (True, 422)
        return
    callback = verifier().verify(body, signed(body))
    for name in _TYPED[kind]:
        if name in sent:
            assert getattr(callback, name) == ({} if sent[name] == [] else sent[name]), name


def test_php_empty_freespins_array_is_an_empty_mapping() -> None:
    """PHP's json_encode writes an empty array as ``[]``; our CallbackSender sends it so."""
    body = body_of(get_balance_data(freespins=[]))
    callback = verifier().verify(body, signed(body))
    assert isinstance(callback, GetBalance)
    assert callback.freespins == {}


@pytest.mark.parametrize("field", ["bet", "win"])
def test_negative_zero_amount_is_refused(field: str) -> None:
    text = body_of(make_bet_data()).decode()
    body = text.replace(f'"{field}":{"1.5" if field == "bet" else "0.25"}',
                        f'"{field}":-0.0').encode()
    assert b"-0.0" in body
    with pytest.raises(CallbackRefused) as refused:
        verifier().verify(body, signed(body))
    assert (refused.value.field, refused.value.status) == (field, 422)
    assert "negative" in refused.value.message


def test_a_case_sensitive_multidict_is_read_case_insensitively() -> None:
    from multidict import MultiDict

    body = body_of(get_balance_data())
    headers = MultiDict([("X-Signature", signed(body)["X-Signature"])])
    assert isinstance(verifier().verify(body, headers), GetBalance)


@pytest.mark.parametrize("kind", ["MultiDict", "dict", "pairs"])
def test_signature_sent_twice_in_different_cases_is_refused(kind: str) -> None:
    from multidict import MultiDict

    body = body_of(get_balance_data())
    good = signed(body)["X-Signature"]
    pairs = [("X-Signature", "f" * 64), ("x-signature", good)]
    headers: Any = {"MultiDict": MultiDict(pairs), "dict": dict(pairs), "pairs": pairs}[kind]
    with pytest.raises(CallbackRefused, match="more than once") as refused:
        verifier().verify(body, headers)
    assert refused.value.status == 403


# -- written from mutation testing (issue 18: the straight-line field checks) ------------------


def refusal(body: bytes, **kwargs: Any) -> CallbackRefused:
    with pytest.raises(CallbackRefused) as refused:
        verifier(**kwargs).verify(body, signed(body))
    return refused.value


@pytest.mark.parametrize("data", [make_bet_data(), get_balance_data(request_id="req-9"),
                                  {"agent_id": AGENT_ID, "type": "rollback", "request_id": "r"}])
def test_every_callback_carries_its_type_agent_request_id_and_exact_body(
    data: dict[str, Any],
) -> None:
    body = body_of(data)
    callback = verifier().verify(body, signed(body))
    assert (callback.type, callback.agent_id, callback.request_id, callback.body) == (
        data["type"], AGENT_ID, data["request_id"], body)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"agent_id": None}, "agent_id", "agent_id: required"),
        ({"agent_id": "1"}, "agent_id", "agent_id: must be an integer"),
        ({"agent_id": AGENT_ID + 1}, "agent_id", "agent_id: not this agent"),
        ({"type": None}, "type", "type: required"),
        ({"type": ""}, "type", "type: must be a non-empty string"),
        ({"request_id": 7}, "request_id", "request_id: must be a non-empty string"),
        ({"bet": None}, "bet", "bet: required"),
        ({"bet": "1.5"}, "bet", "bet: must be a number"),
        ({"win": 10**40}, "win", "win: out of range"),
        ({"timestamp": "1"}, "timestamp", "timestamp: must be an integer"),
        ({"timestamp": 2**63}, "timestamp", "timestamp: out of range"),
        ({"timestamp": 1}, "timestamp", "Request expired"),
        ({"timestamp": 2**63 - 1}, "timestamp", "Request expired"),  # PHP's bounds: in range
        ({"timestamp": -(2**63)}, "timestamp", "Request expired"),
        ({"game_id": "42"}, "game_id", "game_id: must be an integer"),
        ({"game_id": 2**63}, "game_id", "game_id: out of range"),
        ({"game_id": -(2**63) - 1}, "game_id", "game_id: out of range"),
    ],
)
def test_each_refusal_names_its_field_and_what_is_wrong(
    changes: dict[str, Any], field: str, message: str
) -> None:
    # json.dumps: the PHP-canonical encoder refuses integers PHP could not send.
    refused = refusal(json.dumps(make_bet_data(**changes), separators=(",", ":")).encode())
    status = 400 if message == "Request expired" else 422
    assert (refused.field, refused.message, refused.status) == (field, message, status)


@pytest.mark.parametrize(
    ("kind", "field"),
    [("makeBet", name) for name in ("session_id", "player_id", "currency", "player_username",
                                     "language")]
    + [("getBalance", name) for name in ("session_id", "player_id", "player_username",
                                         "currency", "language")],
)
@pytest.mark.parametrize("value", ["", 5, None])
def test_each_text_field_refuses_what_is_not_a_non_empty_string(
    kind: str, field: str, value: object
) -> None:
    data = (make_bet_data if kind == "makeBet" else get_balance_data)(**{field: value})
    optional = kind == "makeBet" and field in ("player_username", "language")
    if value is None and optional:  # the older page leaves them out
        assert getattr(verifier().verify(body_of(data), signed(body_of(data))), field) is None
        return
    refused = refusal(body_of(data))
    expected = f"{field}: required" if value is None else f"{field}: must be a non-empty string"
    assert (refused.field, refused.message) == (field, expected)


@pytest.mark.parametrize("game_id", [-(2**63), 2**63 - 1])
@pytest.mark.parametrize("build", [make_bet_data, get_balance_data])
def test_game_id_takes_every_php_integer(game_id: int, build: Any) -> None:
    body = body_of(build(game_id=game_id))
    assert verifier().verify(body, signed(body)).game_id == game_id  # type: ignore[attr-defined]


def test_a_body_of_exactly_max_body_bytes_is_accepted_and_one_more_refused() -> None:
    body = body_of(get_balance_data())
    assert verifier(max_body=len(body)).verify(body, signed(body)).type == "getBalance"
    refused = refusal(body, max_body=len(body) - 1)
    assert (refused.code, refused.status) == ("payload_too_large", 413)


@pytest.mark.parametrize("tail", ["\n", " \t\r\n"])
def test_json_whitespace_after_the_object_is_accepted(tail: str) -> None:
    body = body_of(get_balance_data()) + tail.encode()
    assert verifier().verify(body, signed(body)).type == "getBalance"


@pytest.mark.parametrize("tail", ["x", "{}", " 1", "\x0c", "\u00a0", "\n\x0b"])
def test_anything_else_after_the_object_is_refused(tail: str) -> None:
    refused = refusal(body_of(get_balance_data()) + tail.encode())
    assert (refused.code, refused.status) == ("validation_error", 422)
    assert "not valid JSON" in refused.message


def test_signature_refusals_say_what_the_platform_says() -> None:
    body = body_of(get_balance_data())
    with pytest.raises(CallbackRefused) as missing:
        verifier().verify(body, {})
    with pytest.raises(CallbackRefused) as wrong:
        verifier().verify(body, {"X-Signature": "0" * 64})
    assert (missing.value.code, missing.value.message) == ("signature_required",
                                                           "Missing X-Signature header")
    assert (wrong.value.code, wrong.value.message) == ("invalid_signature",
                                                       "Invalid request signature")


@pytest.mark.parametrize("offset", [-300, 300])
def test_a_timestamp_exactly_300_seconds_off_is_accepted(offset: int) -> None:
    clock = FakeClock()
    body = body_of(get_balance_data(timestamp=int(clock.wall) + offset))
    assert verifier(clock).verify(body, signed(body)).type == "getBalance"


def test_the_smallest_agent_id_and_body_cap_are_accepted() -> None:
    assert CallbackVerifier(agent_id=1, api_token=API_TOKEN, max_body=1,
                            clock=FakeClock().time).max_body == 1


def test_nesting_is_depth_not_the_number_of_brackets() -> None:
    siblings = ",".join(f'"a{index}":[{{"b":[1]}}]' for index in range(40))  # 160 brackets
    body = f'{{"agent_id":{AGENT_ID},"type":"wide",{siblings}}}'.encode()
    assert verifier().verify(body, signed(body)).data["a39"] == [{"b": [1]}]


def test_a_closed_array_does_not_hide_the_depth_of_the_next_one() -> None:
    # Depth 2, down to 3 and back to 2, then 31 more levels: 33 in all.
    deep = "[" * 31 + "1" + "]" * 31
    body = f'{{"agent_id":{AGENT_ID},"type":"deep","n":[[1],{deep}]}}'.encode()
    with pytest.raises(CallbackRefused, match="nested more than 32 levels"):
        verifier().verify(body, signed(body))
