"""The exact commands docs/callbacks.md gives for serving ``handler.asgi_app``, run as a user
runs them: the server's own console script, its auto-detection, a real socket, a signed
callback, and lifespan acknowledged."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

import aiohttp
import pytest

from ..support import AGENT_ID, API_TOKEN
from .support import body_of, get_balance_data, signed

DOCS = Path(__file__).resolve().parents[2] / "docs" / "callbacks.md"
PATIENCE = 60.0

SERVICE = f'''
from decimal import Decimal

from gameapi_async.callbacks import CallbackHandler


class Wallet:
    async def get_balance(self, callback):
        return Decimal("7.25")

    async def make_bet(self, callback):
        return Decimal("7.25")


handler = CallbackHandler(agent_id={AGENT_ID}, api_token={API_TOKEN!r}, wallet=Wallet())
callbacks_app = handler.asgi_app
'''

# server -> (the documented command's arguments, the line saying where it listens)
COMMANDS = {
    "uvicorn": (["my_service:callbacks_app", "--host", "127.0.0.1", "--port", "0"],
                re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")),
    "hypercorn": (["my_service:callbacks_app", "--bind", "127.0.0.1:0"],
                  re.compile(r"Running on http://127\.0\.0\.1:(\d+)")),
}


def test_the_docs_show_these_commands() -> None:
    text = DOCS.read_text()
    assert "uvicorn my_service:callbacks_app --host 0.0.0.0 --port 8000" in text
    assert "hypercorn my_service:callbacks_app --bind 0.0.0.0:8000" in text


@pytest.mark.parametrize("server", sorted(COMMANDS))
async def test_the_documented_command_serves_a_signed_callback(
    server: str, tmp_path: Path
) -> None:
    (tmp_path / "my_service.py").write_text(SERVICE)
    script = shutil.which(server, path=str(Path(sys.executable).parent))
    assert script is not None, f"{server} is in the dev extra"
    arguments, listening = COMMANDS[server]
    process = await asyncio.create_subprocess_exec(
        script, *arguments, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    assert process.stdout is not None
    output: list[str] = []
    try:
        port = None
        while port is None:
            line = (await asyncio.wait_for(process.stdout.readline(), PATIENCE)).decode()
            assert line, "the server exited:\n" + "".join(output)
            output.append(line)
            if found := listening.search(line):
                port = int(found.group(1))
        body = body_of(get_balance_data())
        async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{port}/callback", data=body,
            headers={**signed(body), "Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=PATIENCE),
        ) as response:
            assert response.status == 200
            assert await response.read() == b'{"content":{"balance":7.25}}'
    finally:
        if process.returncode is None:
            process.terminate()
        rest, _ = await asyncio.wait_for(process.communicate(), PATIENCE)
        output.append(rest.decode())
    text = "".join(output)
    assert "Traceback" not in text
    assert "unsupported" not in text  # uvicorn: "ASGI 'lifespan' protocol appears unsupported"
    assert "Lifespan error" not in text  # hypercorn: "continuing without Lifespan support"
    if server == "uvicorn":
        assert "Application startup complete" in text
        assert "Application shutdown complete" in text
