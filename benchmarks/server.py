"""A minimal loopback platform for benchmarks, run in its own process.

It answers every request with a valid success envelope (a launch link, or a catalogue for
``/api/games/list``), identical for every client mode, and counts requests so a benchmark can
ask how many reached it. It does not check signatures: it stands for the network, and the
same work is asked of every client.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

STATS = web.AppKey("stats", dict[str, Any])


def catalogue(size: int) -> list[dict[str, Any]]:
    return [
        {"id": i, "title": f"Game number {i}", "brand": f"Brand {i % 37}",
         "image_url": f"https://cdn.example.com/images/games/game_{i}.jpg", "demo": i % 3 != 0}
        for i in range(1, size + 1)
    ]


def envelope(content: dict[str, Any]) -> bytes:
    return json.dumps({
        "status": "success",
        "timestamp": "2026-11-24T00:00:00.000Z",
        "request_id": "ba9d4445-779f-4b04-8bcb-6d17bc8dc3da",
        "content": content,
    }).encode()


def build_app(games: int) -> web.Application:
    app = web.Application()
    app[STATS] = {"requests": 0, "delay": 0.0, "list_requests": 0}
    link = envelope({"url": "https://game.example.com/play?token=abc123&gameId=123"})
    listing = envelope({"games": catalogue(games), "total": games})

    async def on_link(request: web.Request) -> web.Response:
        await request.read()
        app[STATS]["requests"] += 1
        if app[STATS]["delay"]:
            await asyncio.sleep(app[STATS]["delay"])
        return web.Response(body=link, content_type="application/json")

    async def on_list(request: web.Request) -> web.Response:
        await request.read()
        app[STATS]["requests"] += 1
        app[STATS]["list_requests"] += 1
        if app[STATS]["delay"]:
            await asyncio.sleep(app[STATS]["delay"])
        return web.Response(body=listing, content_type="application/json")

    async def control(request: web.Request) -> web.Response:
        settings = await request.json()
        app[STATS].update(settings)
        return web.json_response(app[STATS])

    app.router.add_post("/api/games/get_game_link", on_link)
    app.router.add_post("/api/games/get_game_link_demo", on_link)
    app.router.add_post("/api/games/list", on_list)
    app.router.add_post("/_control", control)
    return app


class BenchServer:
    """The server in a child process (``python -m benchmarks.server``); its port is read from
    the first line it prints."""

    def __init__(self, games: int = 200) -> None:
        self._games = games
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> BenchServer:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", str(self._games)],
            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"benchmark server failed to start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            if self._process.stdout is not None:
                self._process.stdout.close()

    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid


async def _serve(games: int) -> None:
    runner = web.AppRunner(build_app(games), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    print(f"PORT {runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
