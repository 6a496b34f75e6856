"""CallbackSender: bodies signed and encoded exactly as the PHP platform sends them."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from gameapi_async import sign
from gameapi_async.testing import CallbackReply, CallbackSender, FakePlatform, Player

from ..support import AGENT_ID, API_TOKEN


def sender() -> CallbackSender:
    return CallbackSender("http://127.0.0.1:9/cb", agent_id=AGENT_ID, api_token=API_TOKEN)


def test_make_bet_body_is_php_canonical_with_float_amounts() -> None:
    player = Player("p/1", player_username="Zoë", session_id="s-1", game_id=5)
    body = sender().make_bet_body(player, Decimal("1000.50"), Decimal("0"), request_id="r-1")
    assert body == (b'{"agent_id":7,"bet":1000.5,"currency":"USD","game_id":5,'
                    b'"language":"en","player_id":"p\\/1","player_username":"Zo\\u00eb",'
                    b'"request_id":"r-1","session_id":"s-1","type":"makeBet","win":0}')
    # What PHP would decode and re-encode: the same bytes.
    assert json.loads(body)["bet"] == 1000.5


def test_amounts_no_php_float_can_carry_are_refused() -> None:
    with pytest.raises(ValueError, match="PHP float"):
        sender().make_bet_body(Player("p"), Decimal("0.1000000000000000000001"), Decimal(0))


def test_each_callback_gets_a_fresh_request_id() -> None:
    player = Player("p")
    first, second = (json.loads(sender().get_balance_body(player)) for _ in range(2))
    assert first["request_id"] != second["request_id"]
    assert first["session_id"] == second["session_id"]


def test_repr_hides_the_token() -> None:
    assert API_TOKEN not in repr(sender())


@pytest.mark.parametrize(
    ("status", "body", "balance", "error"),
    [
        (200, b'{"content":{"balance":1000.50}}', Decimal("1000.50"), None),
        (200, b'{"content":{"balance":12}}', Decimal(12), None),
        (200, b'{"content":{"balance":"12"}}', None, None),
        (200, b'{"balance":12}', None, None),
        (402, b'{"error":"insufficient_funds","message":"no"}', None, "insufficient_funds"),
        (402, b'{"error":"insufficient_funds"}', None, None),
        (500, b"<html>", None, None),
    ],
)
def test_reply_reads_only_the_documented_shapes(
    status: int, body: bytes, balance: Decimal | None, error: str | None
) -> None:
    reply = CallbackReply(status, body)
    assert reply.balance == balance
    assert reply.error == error


async def test_fake_platform_sender_signs_with_the_agent_token() -> None:
    async with FakePlatform(agent_id=AGENT_ID, api_token=API_TOKEN) as fake:
        platform_side = fake.callback_sender("http://127.0.0.1:9/cb")
    body = platform_side.get_balance_body(Player("p"))
    assert platform_side.agent_id == AGENT_ID
    assert json.loads(body)["agent_id"] == AGENT_ID
    await platform_side.aclose()
    assert sign(API_TOKEN, body) != sign("other", body)


def test_fake_platform_sender_refuses_an_agent_without_token() -> None:
    fake = FakePlatform(agents={5: None}, agent_id=None)
    with pytest.raises(ValueError, match="agent 5"):
        fake.callback_sender("http://127.0.0.1:9/cb")
