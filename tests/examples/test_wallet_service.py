"""The reference wallet service (examples/wallet_service), run over real sockets against
FakePlatform, with a real SQLite file; wallet-check must pass against it."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gameapi_async import GameApiClient
from gameapi_async.testing import FakePlatform, Player, run_wallet_check

from ..support import AGENT_ID, API_TOKEN

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "wallet_service"
PLAYER = "wallet-check-player"


@pytest.fixture
def service_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import wallet_service

    return wallet_service


@pytest.fixture
async def fake() -> AsyncIterator[FakePlatform]:
    async with FakePlatform(agent_id=AGENT_ID, api_token=API_TOKEN) as platform:
        yield platform


Service = Callable[[], Any]


@pytest.fixture
def service(service_module: ModuleType, fake: FakePlatform, tmp_path: Path) -> Service:
    db = tmp_path / "wallet.sqlite3"

    @asynccontextmanager
    async def run() -> AsyncIterator[str]:
        client = GameApiClient(base_url=fake.base_url, agent_id=AGENT_ID, api_token=API_TOKEN)
        app = await service_module.build_app(client, db, agent_id=AGENT_ID, api_token=API_TOKEN)
        await app[service_module.WALLET].set_player(PLAYER, "USD", Decimal("100.00"))
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        try:
            yield f"http://{host}:{port}"
        finally:
            await runner.cleanup()

    return run


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


async def test_wallet_check_passes_against_the_service(service: Service, tmp_path: Path) -> None:
    async with service() as base:
        report = await run_wallet_check(f"{base}/callback", agent_id=AGENT_ID,
                                        api_token=API_TOKEN, player_id=PLAYER)
    assert report.passed, report.text()
    # The money really is in the file, as exact decimal text.
    [(balance,)] = _rows(tmp_path / "wallet.sqlite3",
                         f"SELECT balance FROM players WHERE player_id = '{PLAYER}'")
    assert Decimal(balance) < Decimal("100.00")
    assert "e" not in balance.lower()


async def test_a_delivery_is_applied_once_even_after_a_restart(
    service: Service, fake: FakePlatform, tmp_path: Path
) -> None:
    player = Player(PLAYER)
    async with service() as base, fake.callback_sender(f"{base}/callback") as sender:
        body = sender.make_bet_body(player, Decimal("10.00"), Decimal("2.50"))
        first = await sender.post(body)
    assert first.balance == Decimal("92.50")
    async with service() as base, fake.callback_sender(f"{base}/callback") as sender:
        again = await sender.post(body)
        balance = await sender.get_balance(player)
    # set_player on restart resets the balance to 100.00; the delivery key survives it.
    assert again.balance == balance.balance == Decimal("100.00")
    assert len(_rows(tmp_path / "wallet.sqlite3", "SELECT key FROM deliveries")) == 1


async def test_money_moves_exactly_even_past_28_digits(
    service: Service, fake: FakePlatform, tmp_path: Path
) -> None:
    """Decimal's default context rounds to 28 significant digits without a word; the wallet's
    arithmetic must not (100.00 - 1E-27 needs 30)."""
    tiny = Decimal("1E-27")
    async with service() as base, fake.callback_sender(f"{base}/callback") as sender:
        reply = await sender.make_bet(Player(PLAYER), tiny, Decimal("0"))
    exact = Decimal("99.999999999999999999999999999")  # written out: no arithmetic here
    assert reply.status == 200, reply.body
    assert reply.balance == exact
    [(balance,)] = _rows(tmp_path / "wallet.sqlite3",
                         f"SELECT balance FROM players WHERE player_id = '{PLAYER}'")
    assert Decimal(balance) == exact


async def test_a_reused_request_id_with_other_amounts_is_refused_not_answered_as_done(
    service: Service, fake: FakePlatform
) -> None:
    """A repeated key must be a repeated delivery: a different bet under the same request_id
    answered 200 would tell the platform a bet was taken that never was."""
    player = Player(PLAYER)
    async with service() as base, fake.callback_sender(f"{base}/callback") as sender:
        first = await sender.post(sender.make_bet_body(player, Decimal("10.00"), Decimal("0"),
                                                       request_id="r-1"))
        again = await sender.post(sender.make_bet_body(player, Decimal("10.00"), Decimal("0"),
                                                       request_id="r-1"))
        other = await sender.post(sender.make_bet_body(player, Decimal("25.00"), Decimal("0"),
                                                       request_id="r-1"))
        balance = await sender.get_balance(player)
    assert first.balance == again.balance == balance.balance == Decimal("90.00")
    assert (other.status, other.error) == (409, "request_id_reused")


async def test_unknown_callback_types_are_kept_and_move_no_money(
    service: Service, fake: FakePlatform, tmp_path: Path
) -> None:
    async with service() as base, fake.callback_sender(f"{base}/callback") as sender:
        reply = await sender.send({"agent_id": AGENT_ID, "type": "rollback",
                                   "player_id": PLAYER, "currency": "USD"})
    assert reply.balance == Decimal("100.00")
    [(body,)] = _rows(tmp_path / "wallet.sqlite3", "SELECT body FROM unhandled")
    assert '"type":"rollback"' in body


async def test_wrong_currency_and_unknown_player_are_refused(
    service: Service, fake: FakePlatform
) -> None:
    async with service() as base, fake.callback_sender(f"{base}/callback") as sender:
        euro = await sender.get_balance(Player(PLAYER, currency="EUR"))
        nobody = await sender.make_bet(Player("nobody"), Decimal("1"), Decimal("0"))
    assert (euro.status, euro.error) == (400, "currency_mismatch")
    assert (nobody.status, nobody.error) == (404, "player_not_found")


async def test_lobby_lists_the_platform_games_and_play_redirects_to_a_link(
    service: Service, fake: FakePlatform
) -> None:
    game = next(iter(fake.games.values()))
    async with service() as base, aiohttp.ClientSession() as session:
        async with session.get(f"{base}/") as lobby:
            page = await lobby.text()
        async with session.get(f"{base}/play/{game.id}?player={PLAYER}",
                               allow_redirects=False) as play:
            location = play.headers["Location"]
            status = play.status
    assert lobby.status == 200
    assert all(f"/play/{g.id}?" in page for g in fake.games.values())
    assert status == 302
    assert location.startswith("https://")
    [launch] = fake.requests_to("/api/games/get_game_link")
    assert launch.json["player_id"] == PLAYER
    assert launch.outcome == "success"


async def test_the_script_serves_and_the_cli_check_passes(fake: FakePlatform,
                                                          tmp_path: Path) -> None:
    """The example as a user runs it: its own process, settings from the environment, and
    ``gameapi wallet-check`` (another process) against it."""
    import asyncio
    import os
    import sys

    env = {**os.environ, "GAMEAPI_BASE_URL": fake.base_url, "GAMEAPI_AGENT_ID": str(AGENT_ID),
           "GAMEAPI_API_TOKEN": API_TOKEN}
    service = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE / "wallet_service.py"), "--db", str(tmp_path / "w.db"),
        "--port", "0", "--player", f"{PLAYER}:USD:50.00", env=env,
        stdout=asyncio.subprocess.PIPE)
    try:
        assert service.stdout is not None
        line = (await asyncio.wait_for(service.stdout.readline(), 120)).decode()
        assert line.startswith("wallet service on http://"), line
        base = line.split()[3]
        check = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gameapi_async", "wallet-check", f"{base}/callback",
            "--player-id", PLAYER, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        output, _ = await asyncio.wait_for(check.communicate(), 120)
    finally:
        service.terminate()
        await service.wait()
    assert check.returncode == 0, output.decode()
    assert "13 passed, 0 failed" in output.decode()
