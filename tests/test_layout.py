"""Tests mirror the package, so a contributor can tell where a test goes (docs/development.md).

Every top-level ``tests/test_X.py`` pins the module ``gameapi_async/_X.py`` (or ``X.py``, or
the subpackage ``X/``), or is a cross-cutting file listed below with the reason it cannot be
one module's. Every test folder is a subpackage's, or listed. ``tests/reliability/`` holds long
runs only: soak, storm and fuzz. No test file, in any folder, is named for a quality of its
tests (``*_edges.py``, ``*_properties.py``): those tests sit beside their module's others.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gameapi_async"
TESTS = ROOT / "tests"

#: Top-level test files that pin no single module, and why.
CROSS_CUTTING: dict[str, str] = {
    "test_benchmarks.py": "the benchmarks/ package beside the SDK runs and reports",
    "test_docs_examples.py": "every example in docs/ runs as written",
    "test_deprecations_are_errors.py": "the package's own DeprecationWarnings fail the suite",
    "test_docs_reference.py": "the API reference covers every public name",
    "test_eager_tasks.py": "every call path under asyncio's eager task factory (3.12+)",
    "test_import_graph.py": "no import circle anywhere in the package",
    "test_layout.py": "this rule",
    "test_logging_quiet.py": "the library logging convention, whatever module logs",
    "test_newcomer.py": "the README and docs in a fresh project",
    "test_packaging.py": "the built sdist: metadata, and the suite running from it",
    "test_php_crosscheck.py": "bodies and signatures against a real PHP interpreter",
    "test_public_api.py": "the package's public surface as a whole",
    "test_secrets.py": "no secret in any log, repr or error, whatever module writes it",
    "test_timeouts.py": "a call's time limits end to end: attempt timeout, deadline, cancel",
}

#: Files another change of issue 20 is folding or moving this session; delete the entry with
#: the file.
PENDING: dict[str, str] = {}

#: Test folders that are no subpackage's, and why.
FOLDERS: dict[str, str] = {
    "data": "files the tests read, no tests",
    "examples": "the example applications in examples/",
    "integration": "the SDK against FakePlatform over real sockets, every endpoint",
    "reliability": "long runs: soak, storm, fuzz",
}

LONG_RUNS = ("soak", "storm", "fuzz")

#: Name endings that sort tests by a quality of theirs instead of by the module they pin.
BY_QUALITY = ("_edges", "_properties")


def module_names() -> set[str]:
    """What a test file may be named for: the package's modules and subpackages, the leading
    underscore dropped."""
    modules = {path.stem.removeprefix("_") for path in PACKAGE.glob("*.py")
               if not path.stem.startswith("__")}  # __init__, __main__
    packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    return modules | packages


def test_every_top_level_test_file_names_a_module_or_says_why_not() -> None:
    modules = module_names()
    stray = [
        path.name for path in sorted(TESTS.glob("test_*.py"))
        if path.stem.removeprefix("test_") not in modules
        and path.name not in CROSS_CUTTING and path.name not in PENDING
    ]
    assert not stray, (
        f"name these for the module whose contract they pin, or fold them into its file: {stray}"
        " (a file that pins no one module goes in CROSS_CUTTING with its reason)"
    )


def test_no_test_file_anywhere_is_named_for_a_quality_of_its_tests() -> None:
    # An edge case or a property pins its module's contract like any other test, and sits
    # beside that module's other tests (docs/development.md, "Where does my test go").
    by_quality = sorted(
        str(path.relative_to(TESTS)) for ending in BY_QUALITY
        for path in TESTS.rglob(f"*{ending}.py") if path.name not in PENDING
    )
    assert not by_quality, (
        f"fold these into the file of the module whose contract they pin: {by_quality}"
    )


def test_every_test_folder_is_a_subpackages_or_says_why_not() -> None:
    packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    folders = sorted(
        path.name for path in TESTS.iterdir()
        if path.is_dir() and not path.name.startswith((".", "_"))
    )
    stray = [name for name in folders if name not in packages and name not in FOLDERS]
    assert not stray, f"test folders that mirror no subpackage: {stray}"


def test_reliability_holds_only_soak_storm_and_fuzz_runs() -> None:
    files = sorted(path.stem for path in (TESTS / "reliability").glob("test_*.py"))
    assert files, "tests/reliability/ has no runs left: drop it from FOLDERS"
    other = [name for name in files if not any(kind in name for kind in LONG_RUNS)]
    assert not other, f"not a soak, storm or fuzz run; move it to its module's file: {other}"


def test_the_rule_sees_the_package_it_guards() -> None:
    # If the globs above found nothing, every file would look stray or every check pass.
    modules = module_names()
    assert {"client", "protocol", "transport", "canonical", "middleware", "testing"} <= modules
    assert not [name for name in modules if name.startswith("_")]
    assert (TESTS / "test_client.py").exists()
