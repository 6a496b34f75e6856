"""gameapi_async.callbacks: its public names, and importing it stays light."""

from __future__ import annotations

import inspect
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
    handler = callbacks.CallbackHandler(agent_id=1, api_token="t", wallet=_Wallet())
    # aiohttp's router takes it as a coroutine function (no "bare functions" warning).
    assert inspect.iscoroutinefunction(handler.aiohttp_handler)
    assert handler.aiohttp_handler == handler.aiohttp_handler  # the same route every time
    assert callable(handler.asgi_app)


def test_importing_callbacks_does_not_import_aiohttp() -> None:
    """ASGI users get the handler without the aiohttp web stack being loaded."""
    code = "import sys, gameapi_async.callbacks; print('aiohttp' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "False"


class _Wallet:
    async def get_balance(self, callback: callbacks.GetBalance) -> None: ...

    async def make_bet(self, callback: callbacks.MakeBet) -> None: ...


def test_no_import_circle_inside_the_callbacks_package() -> None:
    """Every import between the package's modules, lazy and type-only ones included, goes one
    way: the adapters never import the handler that uses them."""
    import ast
    from pathlib import Path

    folder = Path(callbacks.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        found = graph.setdefault(path.stem, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module)
                else:
                    found.update(alias.name for alias in node.names)
    assert "_handler" in graph["__init__"]
    assert "_aiohttp" in graph["_handler"]

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        for imported in graph.get(module, ()):
            visit(imported, (*path, module))

    for module in graph:
        visit(module, ())
