"""pytest fixtures for users of the SDK, registered automatically through ``pytest11``.

``fake_platform`` is a running ``FakePlatform``; ``gameapi_client`` is a
``GameApiClient`` bound to it. Override ``fake_platform_options`` in your ``conftest.py`` to
configure the fake (catalogue, agents, faults, seed)::

    @pytest.fixture
    def fake_platform_options():
        return {"agent_id": 5, "api_token": "secret", "unavailable_games": {3}}

Override ``gameapi_client_options`` the same way for the client (``retry``, ``timeout``...).

The fixtures need pytest-asyncio (``pip install 'gameapi-async[testing]'``). This module is
imported by every pytest run where the SDK is installed, so it imports nothing heavy (no
aiohttp, no fake) until a fixture is used, and without pytest-asyncio a test that asks for a
fixture fails with one line saying what to install, while the rest of the run is unaffected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from gameapi_async import GameApiClient

    from ._server import FakePlatform

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the subprocess test's coverage is not collected
    pytest_asyncio = None  # type: ignore[assignment]


@pytest.fixture
def fake_platform_options() -> dict[str, Any]:
    """Keyword arguments for the ``fake_platform`` fixture's ``FakePlatform``."""
    return {"agent_id": 1, "api_token": "test-token", "seed": 0}


@pytest.fixture
def gameapi_client_options() -> dict[str, Any]:
    """Extra keyword arguments for the ``gameapi_client`` fixture's ``GameApiClient``."""
    return {}


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def fake_platform(fake_platform_options: dict[str, Any]) -> AsyncIterator[FakePlatform]:
        """A running fake platform on loopback, stopped after the test."""
        from ._server import FakePlatform

        async with FakePlatform(**fake_platform_options) as fake:
            yield fake

    @pytest_asyncio.fixture
    async def gameapi_client(
        fake_platform: FakePlatform, gameapi_client_options: dict[str, Any]
    ) -> AsyncIterator[GameApiClient]:
        """A client for the ``fake_platform`` fixture's first agent, closed after the test."""
        from gameapi_async import GameApiClient

        agent_id, token = next(iter(fake_platform.agents.items()))
        if token is None:
            pytest.fail(
                "gameapi_async: gameapi_client needs the fake's first agent to have a token; "
                "set api_token in fake_platform_options",
                pytrace=False,
            )
        async with GameApiClient(
            **{"base_url": fake_platform.base_url, "agent_id": agent_id, "api_token": token,
               **gameapi_client_options}
        ) as client:
            yield client

else:  # exercised by a subprocess test that hides pytest-asyncio

    def _needs_pytest_asyncio(fixture: str) -> NoReturn:
        pytest.fail(
            f"gameapi_async: the {fixture} fixture needs pytest-asyncio: "
            "pip install pytest-asyncio (or pip install 'gameapi-async[testing]')",
            pytrace=False,
        )

    @pytest.fixture
    def fake_platform() -> None:
        """Needs pytest-asyncio, which is not installed."""
        _needs_pytest_asyncio("fake_platform")

    @pytest.fixture
    def gameapi_client() -> None:
        """Needs pytest-asyncio, which is not installed."""
        _needs_pytest_asyncio("gameapi_client")
