"""Wallet endpoints for the wallet-check tests: a correct wallet, and a body-rewriting one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from aiohttp import web

from gameapi_async.callbacks import CallbackHandler, GetBalance, MakeBet, WalletError

from ..support import AGENT_ID, API_TOKEN

PLAYER = "wallet-check-player"
START = Decimal("100.00")


class MemoryWallet:
    """Correct: one lock per player, each request_id applied once, overdrafts refused."""

    def __init__(self) -> None:
        self.balances = {PLAYER: START}
        self.applied: dict[str, Decimal] = {}
        self.lock = asyncio.Lock()

    async def get_balance(self, callback: GetBalance) -> Decimal:
        if callback.player_id not in self.balances:
            raise WalletError("player_not_found", "Unknown player", status=404)
        return self.balances[callback.player_id]

    async def make_bet(self, callback: MakeBet) -> Decimal:
        async with self.lock:
            balance = self.balances[callback.player_id]
            key = callback.request_id or callback.body.hex()
            if key in self.applied:
                return balance
            if callback.bet > balance:
                raise WalletError("insufficient_funds", "Not enough money", status=402)
            balance = self.balances[callback.player_id] = balance - callback.bet + callback.win
            self.applied[key] = balance
            return balance


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/callback"
    finally:
        await runner.cleanup()


def good_app(wallet: MemoryWallet) -> web.Application:
    app = web.Application()
    handler = CallbackHandler(agent_id=AGENT_ID, api_token=API_TOKEN, wallet=wallet)
    app.router.add_post("/callback", handler.aiohttp_handler)
    return app


def reserialising_app(wallet: MemoryWallet) -> web.Application:
    """A correct wallet behind a framework that parses the JSON and hands on a re-encoded body
    (what ``JSON.stringify(req.body)`` does): right for plain ASCII bodies, wrong for the
    platform's ``\\/`` and ``\\u00e9`` escapes."""
    handler = CallbackHandler(agent_id=AGENT_ID, api_token=API_TOKEN, wallet=wallet)

    async def handle(request: web.Request) -> web.Response:
        body = json.dumps(json.loads(await request.read()), separators=(",", ":"),
                          ensure_ascii=False).encode()
        answer = await handler.handle(body, request.headers)
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    app = web.Application()
    app.router.add_post("/callback", handle)
    return app
