"""Test tools for users of the SDK: a mock transport, a local fake platform, pytest fixtures.

``MockTransport`` answers the client's requests from a function, with no network;
``FakePlatform`` serves the platform's API on loopback with fault injection; the pytest plugin
(registered automatically when the SDK is installed) provides the ``fake_platform`` and
``gameapi_client`` fixtures. See docs/testing.md.

Names are imported on first use, so loading the pytest plugin from this package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._callbacks import CallbackReply, CallbackSender, Player
    from ._catalogue import DEFAULT_GAMES
    from ._faults import Faults, ScriptedResponse
    from ._mock import MockTransport
    from ._server import FakePlatform, RecordedRequest
    from ._wallet_check import CheckResult, WalletCheckReport, run_wallet_check

__all__ = [
    "DEFAULT_GAMES",
    "CallbackReply",
    "CallbackSender",
    "CheckResult",
    "FakePlatform",
    "Faults",
    "MockTransport",
    "Player",
    "RecordedRequest",
    "ScriptedResponse",
    "WalletCheckReport",
    "run_wallet_check",
]

_LAZY: dict[str, str] = {
    "DEFAULT_GAMES": "._catalogue",
    "CallbackReply": "._callbacks",
    "CallbackSender": "._callbacks",
    "CheckResult": "._wallet_check",
    "Player": "._callbacks",
    "WalletCheckReport": "._wallet_check",
    "run_wallet_check": "._wallet_check",
    "FakePlatform": "._server",
    "Faults": "._faults",
    "MockTransport": "._mock",
    "RecordedRequest": "._server",
    "ScriptedResponse": "._faults",
}


def __getattr__(name: str) -> object:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
