"""gameapi_async.callbacks: its public names, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import gameapi_async.callbacks as callbacks


def test_all_is_unique_complete_and_importable() -> None:
    names = list(callbacks.__all__)  # its order is ruff's (RUF022), checked by ruff
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(callbacks, name), name
    for name, value in vars(callbacks).items():
        if isinstance(value, type) and not name.startswith("_"):
            assert name in names, f"{name} is public but missing from __all__"


def test_contract_names_exist() -> None:
    for name in ("CallbackHandler", "CallbackResponse", "WalletError", "GetBalance", "MakeBet"):
        assert name in callbacks.__all__
    assert callable(callbacks.CallbackHandler.aiohttp_handler)
    assert callable(callbacks.CallbackHandler.asgi_app)


def test_importing_callbacks_does_not_import_aiohttp() -> None:
    """ASGI users get the handler without the aiohttp web stack being loaded."""
    code = "import sys, gameapi_async.callbacks; print('aiohttp' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "False"
