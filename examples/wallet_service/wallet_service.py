"""A reference wallet service: lobby, game launch and wallet callbacks, on aiohttp + SQLite.

    GAMEAPI_BASE_URL=... GAMEAPI_AGENT_ID=... GAMEAPI_API_TOKEN=... \\
        python examples/wallet_service/wallet_service.py --db wallet.sqlite3 \\
        --player alice:USD:100.00

- ``GET /``: the lobby, from ``client.list_games()`` (cached by the SDK);
- ``GET /play/{game_id}?player=alice``: a real-money launch via ``client.get_game_link``;
- ``POST /callback``: the platform's wallet callbacks, verified by ``CallbackHandler`` and
  answered from the SQLite wallet (see wallet_db.py).

A real service authenticates its players; this one takes ``?player=`` on trust to stay short.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path

from aiohttp import web
from wallet_db import SQLiteWallet  # beside this file: the script's directory is on sys.path

from gameapi_async import GameApiClient, GameApiError
from gameapi_async.callbacks import CallbackHandler

CLIENT = web.AppKey("client", GameApiClient)
WALLET = web.AppKey("wallet", SQLiteWallet)


async def lobby(request: web.Request) -> web.Response:
    games = await request.app[CLIENT].list_games()
    items = "".join(f'<li><a href="/play/{g.id}?player=alice">{html.escape(g.title)}</a> '
                    f"({html.escape(g.brand)})</li>" for g in games.games)
    return web.Response(text=f"<h1>Lobby</h1><ul>{items}</ul>", content_type="text/html")


async def play(request: web.Request) -> web.Response:
    player = request.query.get("player", "")
    try:
        game_id = int(request.match_info["game_id"])
    except ValueError:
        raise web.HTTPBadRequest(text="game_id must be an integer") from None
    if not player:
        raise web.HTTPBadRequest(text="?player= is required")
    try:
        link = await request.app[CLIENT].get_game_link(
            game_id=game_id, player_id=player, player_username=player, language="en",
            currency="USD", home_url=str(request.url.with_path("/").with_query(None)),
            agent_session_id=f"web-{uuid.uuid4()}", ip=request.remote or "127.0.0.1",
        )
    except GameApiError as error:
        raise web.HTTPBadGateway(text=f"the platform refused the launch: {error}") from None
    raise web.HTTPFound(link.url)


async def build_app(client: GameApiClient, db_path: str | Path,
                    **callback_settings: object) -> web.Application:
    """The service; the wallet closes (with the client) on cleanup. ``callback_settings``
    (``agent_id``, ``api_token``) override the ``GAMEAPI_*`` environment for the handler."""
    wallet = SQLiteWallet(db_path)
    await wallet.open()
    handler = CallbackHandler.from_env(wallet=wallet, **callback_settings)
    app = web.Application()
    app[CLIENT] = client
    app[WALLET] = wallet
    app.router.add_get("/", lobby)
    app.router.add_get("/play/{game_id}", play)
    app.router.add_post("/callback", handler.aiohttp_handler)

    async def close(app: web.Application) -> None:
        await wallet.close()
        await client.close()

    app.on_cleanup.append(close)
    return app


def _player(text: str) -> tuple[str, str, Decimal]:
    try:
        player_id, currency, balance = text.split(":")
        return player_id, currency, Decimal(balance)
    except (ValueError, InvalidOperation):
        raise argparse.ArgumentTypeError(f"expected ID:CURRENCY:BALANCE, got {text!r}") from None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="wallet.sqlite3", help="the SQLite file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--player", type=_player, action="append", default=[],
                        help="create or reset a player, ID:CURRENCY:BALANCE (repeatable)")
    args = parser.parse_args()
    app = await build_app(GameApiClient.from_env(), args.db)
    for player_id, currency, balance in args.player:
        await app[WALLET].set_player(player_id, currency, balance)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    host, port = runner.addresses[0][:2]
    print(f"wallet service on http://{host}:{port} (callbacks: /callback)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
