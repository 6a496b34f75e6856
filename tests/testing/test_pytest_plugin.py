"""The pytest fixtures users get from the plugin, used exactly as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gameapi_async import ApiError, GameApiClient, GameNotAvailableError, RetryPolicy
from gameapi_async.testing import FakePlatform


async def test_fixtures_give_a_running_fake_and_a_bound_client(
    fake_platform: FakePlatform, gameapi_client: GameApiClient
) -> None:
    games = await gameapi_client.list_games()
    assert games.total == len(fake_platform.games)
    assert fake_platform.requests_to("/api/games/list")[0].outcome == "success"


class TestOverriddenOptions:
    @pytest.fixture
    def fake_platform_options(self) -> dict[str, Any]:
        return {"agent_id": 5, "api_token": "custom", "unavailable_games": {3}}

    async def test_options_reach_the_fake_and_the_client(
        self, fake_platform: FakePlatform, gameapi_client: GameApiClient
    ) -> None:
        assert gameapi_client.agent_id == 5
        with pytest.raises(GameNotAvailableError):
            await gameapi_client.get_game_link_demo(
                game_id=3, player_id="p", player_username="u", language="en",
                currency="USD", home_url="https://c.example", ip="::1",
            )


def _run_python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=cwd, check=False)


def test_importing_the_plugin_loads_neither_aiohttp_nor_the_fake() -> None:
    # Every pytest session of every user who installs the SDK imports this plugin.
    result = _run_python(
        "import sys, gameapi_async.testing.pytest_plugin\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'aiohttp', 'cattrs'}"
        " or m.startswith('gameapi_async.testing._') or m == 'gameapi_async._client')\n"
        "print(heavy)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_package_still_exports_everything_lazily() -> None:
    result = _run_python(
        "import sys, gameapi_async as ga, gameapi_async.testing as t\n"
        "assert 'aiohttp' not in sys.modules\n"
        "assert ga.GameApiClient.__name__ == 'GameApiClient'\n"
        "assert t.FakePlatform.__name__ == 'FakePlatform'\n"
        "assert set(ga.__all__) <= set(dir(ga)) and set(t.__all__) <= set(dir(t))\n"
        "try:\n    ga.Nope\nexcept AttributeError as e:\n    print(e)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "has no attribute 'Nope'" in result.stdout


def test_without_pytest_asyncio_the_fixtures_fail_with_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(
        "async def test_uses_fake(fake_platform):\n    pass\n\n"
        "async def test_uses_client(gameapi_client):\n    pass\n\n"
        "def test_unrelated():\n    pass\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    # Simulate an environment without pytest-asyncio: a module of that name that fails to
    # import shadows the real one, and the real one's plugin is not loaded.
    hidden = tmp_path / "hide"
    hidden.mkdir()
    (hidden / "pytest_asyncio.py").write_text("raise ImportError('hidden by the test')\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:asyncio", "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
        env={**os.environ, "PYTHONPATH": str(hidden)},
    )
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    for fixture in ("fake_platform", "gameapi_client"):
        line = (f"gameapi_async: the {fixture} fixture needs pytest-asyncio: "
                "pip install pytest-asyncio (or pip install 'gameapi-async[testing]')")
        assert line in out.splitlines(), out
    assert "def fake_platform" not in out  # no traceback or source excerpt
    assert "1 passed, 2 errors" in out


def test_the_lazy_export_tables_match_all() -> None:
    import gameapi_async
    import gameapi_async.testing

    assert set(gameapi_async._LAZY) | {"__version__"} == set(gameapi_async.__all__)
    assert set(gameapi_async.testing._LAZY) == set(gameapi_async.testing.__all__)
    for package in (gameapi_async, gameapi_async.testing):
        for name in package.__all__:
            assert getattr(package, name) is not None



class TestClientOptions:
    @pytest.fixture
    def gameapi_client_options(self) -> dict[str, Any]:
        return {"retry": RetryPolicy.disabled()}

    async def test_options_reach_the_client(
        self, fake_platform: FakePlatform, gameapi_client: GameApiClient
    ) -> None:
        fake_platform.faults.error_rate = 1.0
        with pytest.raises(ApiError) as caught:
            await gameapi_client.list_games()
        assert caught.value.code in {"internal_error", "bad_gateway", "service_unavailable"}
        assert len(fake_platform.requests) == 1  # no retry
