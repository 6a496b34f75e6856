"""A recording wallet and signed-body helpers for the callback tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gameapi_async._canonical import encode_object
from gameapi_async._signing import sign
from gameapi_async.callbacks import Callback, CallbackHandler, GetBalance, MakeBet

from ..support import AGENT_ID, API_TOKEN, FakeClock

START = Decimal("1000.50")


class RecordingWallet:
    """A wallet holding one balance that records every callback it is given."""

    def __init__(self, balance: Decimal = START) -> None:
        self.balance = balance
        self.seen: list[Callback] = []

    async def get_balance(self, callback: GetBalance) -> Decimal:
        self.seen.append(callback)
        return self.balance

    async def make_bet(self, callback: MakeBet) -> Decimal:
        self.seen.append(callback)
        self.balance = self.balance - callback.bet + callback.win
        return self.balance


def get_balance_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "agent_id": AGENT_ID, "session_id": "sess-1", "player_id": "p-1",
        "player_username": "alice", "type": "getBalance", "currency": "USD", "language": "en",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def make_bet_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "agent_id": AGENT_ID, "session_id": "sess-1", "player_id": "p-1",
        "player_username": "alice", "type": "makeBet", "currency": "USD", "language": "en",
        "game_id": 42, "request_id": "req-1", "bet": 1.5, "win": 0.25,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def signed(body: bytes, token: str = API_TOKEN) -> dict[str, str]:
    return {"X-Signature": sign(token, body)}


def body_of(data: dict[str, Any]) -> bytes:
    return encode_object(data)


def make_handler(wallet: Any, clock: FakeClock | None = None, **kwargs: Any) -> CallbackHandler:
    return CallbackHandler(agent_id=AGENT_ID, api_token=API_TOKEN, wallet=wallet,
                           clock=clock or FakeClock(), **kwargs)
