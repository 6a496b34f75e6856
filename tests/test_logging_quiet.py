"""With no logging configured by the application, the SDK prints nothing on its stderr.

Run in a fresh interpreter: the test process's own logging set-up (pytest's capture handlers)
would hide exactly the behaviour under test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import asyncio, importlib, logging, pkgutil, sys
    import gameapi_async
    from gameapi_async import GameApiClient
    from gameapi_async.testing import FakePlatform, ScriptedResponse

    if sys.argv[1] == "configured":
        logging.basicConfig(level=logging.WARNING)

    async def main() -> None:
        async with FakePlatform(agent_id=1, api_token="t") as fake:
            fake.script(ScriptedResponse(error="service_unavailable", status=503))
            async with GameApiClient(base_url=fake.base_url, agent_id=1, api_token="t") as c:
                await c.list_games()  # one 503, one retry: a WARNING from the retry middleware

    asyncio.run(main())
    # Every logger the SDK's modules create, at every level a library might use.
    for module in pkgutil.walk_packages(gameapi_async.__path__, "gameapi_async."):
        if module.name != "gameapi_async.__main__":
            importlib.import_module(module.name)
    names = [n for n in logging.Logger.manager.loggerDict if n.startswith("gameapi_async")]
    assert names, "no SDK logger found"
    for name in names:
        logging.getLogger(name).error("probe from %s", name)
""")


def run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                          timeout=120, check=False)


def test_nothing_reaches_stderr_when_logging_is_not_configured() -> None:
    result = run("unconfigured")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == ""


def test_an_application_that_configures_logging_still_sees_the_warnings() -> None:
    result = run("configured")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "retrying in" in result.stderr
    assert "probe from gameapi_async.cache" in result.stderr
