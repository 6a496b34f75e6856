"""Test tools for users of the SDK: a local fake platform and pytest fixtures.

``FakePlatform`` serves the platform's API on loopback with fault injection; the pytest plugin
(registered automatically when the SDK is installed) provides the ``fake_platform`` and
``gameapi_client`` fixtures.
"""

from ._catalogue import DEFAULT_GAMES
from ._faults import Faults, ScriptedResponse
from ._server import FakePlatform, RecordedRequest

__all__ = ["DEFAULT_GAMES", "FakePlatform", "Faults", "RecordedRequest", "ScriptedResponse"]
