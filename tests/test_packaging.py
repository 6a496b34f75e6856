"""The built sdist carries its licence and metadata, and the test suite runs from it alone.

The sdist is unpacked into a temporary folder with nothing beside it (no ``../shared``, no
checkout), and tests that need the bundled data run there, against the unpacked package.
"""

from __future__ import annotations

import email.parser
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("gameapi_async", "tests", "benchmarks")
CACHES = {"__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache"}


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(dist)],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    [archive] = dist.glob("*.tar.gz")
    target = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    [top] = target.iterdir()
    return top


def source_files(root: Path) -> set[Path]:
    found = set()
    for folder in SHIPPED:
        for path in (root / folder).rglob("*"):
            relative = path.relative_to(root)
            if path.is_file() and not CACHES.intersection(relative.parts) and not (
                relative.parts[:2] == ("benchmarks", "results") and path.stem == "quick"):
                found.add(relative)
    return found


@pytest.mark.slow
def test_the_sdist_carries_every_source_test_and_benchmark_file(unpacked: Path) -> None:
    missing = source_files(ROOT) - source_files(unpacked)
    assert not missing
    assert (unpacked / "LICENSE").read_text().startswith("MIT License")
    assert (unpacked / "tests" / "data" / "signing_vectors.json").is_file()


@pytest.mark.slow
def test_the_sdist_metadata_names_licence_authors_and_urls(unpacked: Path) -> None:
    info = email.parser.Parser().parsestr((unpacked / "PKG-INFO").read_text())
    assert info["License-Expression"] == "MIT"
    assert "LICENSE" in info.get_all("License-File", [])
    assert info["Author-email"]
    urls = {entry.split(",")[0].strip().lower() for entry in info.get_all("Project-URL", [])}
    assert {"homepage", "documentation", "repository", "changelog"} <= urls


@pytest.mark.slow
def test_tests_needing_bundled_data_pass_from_the_unpacked_sdist(unpacked: Path) -> None:
    assert not (unpacked.parent / "shared").exists()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not php",
         "tests/test_signing.py", "tests/test_public_api.py", "tests/test_canonical.py"],
        cwd=unpacked, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout
    assert "skipped" not in result.stdout
    where = subprocess.run(
        [sys.executable, "-c", "import gameapi_async; print(gameapi_async.__file__)"],
        cwd=unpacked, capture_output=True, text=True, timeout=60, check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(unpacked)  # the sdist's copy was tested
