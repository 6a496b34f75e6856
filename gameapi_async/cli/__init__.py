"""The ``gameapi`` command: the SDK from a shell, and an embedded demo of it.

Exit status: 0 success; 1 the platform or the network failed the call (or ``mock-server``
could not listen); 2 bad usage or input (nothing was sent); 130 interrupted; 141 stdout was
closed early (``| head``), as for any Unix tool killed by SIGPIPE. Expected failures print one
line (or one JSON object with ``--json``) and no traceback. The API token is never printed.

``main()`` returns the exit status and never raises ``SystemExit``, usage errors and
``--help`` included, so it can be called from Python; the console script exits with it.

The command line depends on the testing kit and the core, never the other way round: one
module per subcommand (``_platform``: games, link, demo-link; ``_mock_server``; ``_demo``;
``_wallet_check``), each registering its own arguments; ``_main`` parses and dispatches.
"""

from __future__ import annotations

from ._main import main

__all__ = ["main"]
