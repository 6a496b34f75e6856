"""A newcomer's first hour: the README and docs examples work as written, in a fresh project.

The pytest examples run in a new project with no pytest configuration at all (so
pytest-asyncio is in its default strict mode), in a fresh interpreter; the quickstart runs as a
script against a fake platform; the package's metadata and licence agree.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gameapi_async.testing import FakePlatform

ROOT = Path(__file__).resolve().parent.parent
PYTEST_BLOCK = re.compile(r"^<!-- test: pytest -->\n```python\n(.*?)^```", re.S | re.M)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def pytest_examples(page: str) -> list[str]:
    return PYTEST_BLOCK.findall((ROOT / page).read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", ["README.md", "docs/testing.md"])
def test_pytest_examples_pass_as_written_in_a_fresh_strict_mode_project(
    page: str, tmp_path: Path
) -> None:
    examples = pytest_examples(page)
    assert examples, f"{page} has no pytest example marked <!-- test: pytest -->"
    for number, example in enumerate(examples):
        project = tmp_path / f"project{number}"
        project.mkdir()
        (project / "pytest.ini").write_text("[pytest]\n")  # a fresh project: all defaults
        (project / "test_example.py").write_text(example)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W",
             "error::pytest.PytestUnraisableExceptionWarning"],
            cwd=project, capture_output=True, text=True, timeout=300, check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert re.search(r"asyncio: mode=(Mode\.)?strict", result.stdout, re.I), result.stdout
        assert re.search(r"\b\d+ passed\b", result.stdout)
        assert "skipped" not in result.stdout


async def test_the_readme_quickstart_runs_as_written() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1]
    [script] = PYTHON_BLOCK.findall(quickstart.split("\n## ", 1)[0])
    async with FakePlatform(agent_id=3, api_token="readme-token") as fake:
        env = {**os.environ, "GAMEAPI_BASE_URL": fake.base_url, "GAMEAPI_AGENT_ID": "3",
               "GAMEAPI_API_TOKEN": "readme-token"}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()[-2000:]
    assert err == b""
    lines = out.decode().splitlines()
    assert len(lines) == 6  # five games, then the two links
    assert all(url.startswith("http") for url in lines[-1].split())


def test_the_readme_states_how_to_install_today() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install -e . && gameapi demo" in readme
    assert "pip install -e '.[dev]' && python -m pytest" in readme
    assert "not on a public index" in readme
    assert "pip install dist/gameapi_async-*.whl" in readme
    # The README stays a first-ten-minutes page; the rest lives in docs/.
    assert len(readme.splitlines()) <= 150
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link


def test_licence_file_and_metadata_agree() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "LICENSE" in project["license-files"]
    assert project["authors"]
    assert project["authors"][0]["name"]
    assert {"Homepage", "Documentation", "Repository", "Changelog"} <= set(project["urls"])
