"""CallbackHandler: dispatch to the wallet and answers in the documented shapes."""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal
from typing import Any

import pytest

from gameapi_async.callbacks import Callback, CallbackHandler, GetBalance, MakeBet, WalletError

from ..support import AGENT_ID, API_TOKEN
from .support import (
    START,
    RecordingWallet,
    body_of,
    get_balance_data,
    make_bet_data,
    make_handler,
    signed,
)


async def answer(handler: CallbackHandler, data: dict[str, Any]) -> tuple[int, Any]:
    body = body_of(data)
    response = await handler.handle(body, signed(body))
    assert response.headers["Content-Type"] == "application/json"
    return response.status, json.loads(response.body)


async def test_get_balance_answers_the_balance_exactly() -> None:
    handler = make_handler(RecordingWallet())
    body = body_of(get_balance_data())
    response = await handler.handle(body, signed(body))
    assert response.status == 200
    assert response.body == b'{"content":{"balance":1000.50}}'


async def test_make_bet_debits_and_credits_in_decimal() -> None:
    wallet = RecordingWallet()
    handler = make_handler(wallet)
    for _ in range(3):
        await answer(handler, make_bet_data(bet=0.1, win=0))
    status, body = await answer(handler, make_bet_data(bet=0.2, win=0.3))
    assert (status, body) == (200, {"content": {"balance": 1000.3}})
    assert wallet.balance == START - Decimal("0.5") + Decimal("0.3")
    balance_body = body_of(get_balance_data())
    response = await handler.handle(balance_body, signed(balance_body))
    assert response.body == b'{"content":{"balance":1000.30}}'  # no 1000.3000000001


async def test_wallet_error_becomes_its_own_code_and_status() -> None:
    class Broke(RecordingWallet):
        async def make_bet(self, callback: MakeBet) -> Decimal:
            raise WalletError("insufficient_funds", "Not enough money", status=402)

    assert await answer(make_handler(Broke()), make_bet_data()) == (
        402, {"error": "insufficient_funds", "message": "Not enough money"})


async def test_any_other_exception_is_a_generic_500_logged_not_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Buggy(RecordingWallet):
        async def get_balance(self, callback: GetBalance) -> Decimal:
            raise KeyError("db password is hunter2")

    with caplog.at_level(logging.ERROR, logger="gameapi_async.callbacks"):
        status, body = await answer(make_handler(Buggy()), get_balance_data())
    assert (status, body) == (500, {"error": "internal_error", "message": "Internal error"})
    assert "hunter2" in caplog.text  # the details are logged for the agent...
    assert "hunter2" not in json.dumps(body)  # ...and never sent


@pytest.mark.parametrize("balance", [1000.5, "1000.50", None, Decimal("NaN")])
async def test_unusable_balance_is_refused_not_rounded(
    balance: object, caplog: pytest.LogCaptureFixture
) -> None:
    class Sloppy(RecordingWallet):
        async def get_balance(self, callback: GetBalance) -> Any:
            return balance

    with caplog.at_level(logging.ERROR, logger="gameapi_async.callbacks"):
        status, body = await answer(make_handler(Sloppy()), get_balance_data())
    assert (status, body["error"]) == (500, "internal_error")
    assert "unusable balance" in caplog.text


async def test_other_types_go_to_on_callback() -> None:
    class WithRollback(RecordingWallet):
        async def on_callback(self, callback: Callback) -> Decimal:
            self.seen.append(callback)
            return Decimal("7.00")

    wallet = WithRollback()
    status, body = await answer(make_handler(wallet),
                                {"agent_id": AGENT_ID, "type": "rollback", "ref": "x"})
    assert (status, body) == (200, {"content": {"balance": 7.0}})
    assert [c.type for c in wallet.seen] == ["rollback"]
    assert wallet.seen[0].data["ref"] == "x"


async def test_cancellation_is_not_turned_into_an_answer() -> None:
    class Slow(RecordingWallet):
        async def get_balance(self, callback: GetBalance) -> Decimal:
            raise asyncio.CancelledError

    body = body_of(get_balance_data())
    with pytest.raises(asyncio.CancelledError):
        await make_handler(Slow()).handle(body, signed(body))


def test_wallet_without_the_methods_is_refused() -> None:
    with pytest.raises(TypeError, match="get_balance"):
        CallbackHandler(agent_id=AGENT_ID, api_token=API_TOKEN, wallet=object())


def test_handler_repr_hides_the_token() -> None:
    assert API_TOKEN not in repr(make_handler(RecordingWallet()))


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [(("", "m"), {}, "code"), (("a b", "m"), {}, "code"), (("c", 5), {}, "message"),
     (("c", "m"), {"status": 200}, "status"), (("c", "m"), {"status": "402"}, "status")],
)
def test_wallet_error_checks_its_arguments(
    args: tuple[Any, ...], kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises((TypeError, ValueError), match=match):
        WalletError(*args, **kwargs)


def test_wallet_error_defaults_to_400() -> None:
    error = WalletError("player_not_found", "Unknown player")
    assert (error.code, error.message, error.status) == ("player_not_found", "Unknown player", 400)


def test_from_env_reads_the_client_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMEAPI_AGENT_ID", str(AGENT_ID))
    monkeypatch.setenv("GAMEAPI_API_TOKEN", API_TOKEN)
    monkeypatch.delenv("GAMEAPI_BASE_URL", raising=False)  # not needed to answer callbacks
    handler = CallbackHandler.from_env(wallet=RecordingWallet())
    assert f"agent_id={AGENT_ID}" in repr(handler)


def test_from_env_names_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from gameapi_async import InvalidParameterError

    monkeypatch.setenv("GAMEAPI_AGENT_ID", str(AGENT_ID))
    monkeypatch.delenv("GAMEAPI_API_TOKEN", raising=False)
    with pytest.raises(InvalidParameterError, match="GAMEAPI_API_TOKEN"):
        CallbackHandler.from_env(wallet=RecordingWallet())
