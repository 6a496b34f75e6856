"""Every ```python block of docs/callbacks.md runs as a complete program (pytest blocks under
pytest), with the settings the docs promise to read from the environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "callbacks.md"
BLOCKS = re.findall(r"(<!-- test: pytest -->\n)?```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_doc_has_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_block_runs(index: int, tmp_path: Path) -> None:
    marker, code = BLOCKS[index]
    script = tmp_path / f"test_doc_block_{index}.py"
    script.write_text(code)
    env = {**os.environ, "GAMEAPI_BASE_URL": "http://127.0.0.1:9", "GAMEAPI_AGENT_ID": "3",
           "GAMEAPI_API_TOKEN": "doc-token"}
    command = ([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "-W", "ignore::DeprecationWarning", str(script)]
               if marker else [sys.executable, str(script)])
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "doc-token" not in result.stdout + result.stderr
