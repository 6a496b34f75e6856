"""The API reference is complete: every public name has a docstring and an entry in it.

Public modules are found, not listed: the top package and every submodule or subpackage whose
own name does not start with ``_``, so a module another change adds is checked the day it
lands. A module's public names are its ``__all__``; a public module without ``__all__`` (the
pytest plugin) offers the functions and classes it defines under names without ``_``. All of
it is read statically, as the docs site reads it: a module whose optional dependency is not
installed is still checked.

Docstrings are read with griffe, the library mkdocstrings renders the site with, so "has a
docstring" means "the site shows one". An entry in the reference is a ``::: path`` directive
in ``docs/reference/*.md`` whose object is the same as the public name's (so
``gameapi_async.middleware.RetryMiddleware`` also covers
``gameapi_async.middleware.retry.RetryMiddleware``), or an explicit ``{#full.path}`` anchor
for an object mkdocstrings cannot render (the fixtures, whose real definitions sit in a
branch of an ``if`` that static analysis does not pick).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import griffe
import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"

_DIRECTIVE = re.compile(r"^::: *(\S+)\s*$", re.MULTILINE)
_ANCHOR = re.compile(r"\{#([\w.]+)\}")


@pytest.fixture(scope="module")
def package() -> griffe.Module:
    loaded = griffe.load("gameapi_async", search_paths=[str(ROOT)], resolve_aliases=False)
    assert isinstance(loaded, griffe.Module)
    return loaded


def public_modules(package: griffe.Module) -> list[str]:
    """The top package and every submodule/subpackage not named ``_...``, in any depth."""
    found = [package.path]
    for name, module in package.modules.items():
        # ``from . import _x as x`` shows up as an aliased module: not a module of its own.
        if not name.startswith("_") and not module.is_alias:
            found += public_modules(module)
    return sorted(found)


def static(package: griffe.Module, path: str) -> griffe.Object | griffe.Alias:
    """The griffe object at a dotted path under ``gameapi_async``."""
    if path == "gameapi_async":
        return package
    return package[path.removeprefix("gameapi_async.")]


def canonical(obj: griffe.Object | griffe.Alias) -> griffe.Object:
    """The object a name finally stands for (re-exports followed)."""
    return obj.final_target if isinstance(obj, griffe.Alias) else obj


def public_names(package: griffe.Module, module_name: str) -> list[str]:
    module = static(package, module_name)
    assert isinstance(module, griffe.Module)
    if module.exports is not None:
        exported = [str(name) for name in module.exports]
        assert all(isinstance(name, str) for name in module.exports), (
            f"{module_name}.__all__ must be a literal list of names: {exported}"
        )
        return exported
    defined = module.members.items()
    return [name for name, member in defined
            if not member.is_alias and not name.startswith("_")
            and (member.is_function or member.is_class)]


def every_public_name(package: griffe.Module) -> Iterator[tuple[str, str]]:
    for module_name in public_modules(package):
        for name in public_names(package, module_name):
            yield module_name, name


def documented_attributes(cls: griffe.Object) -> set[str]:
    """Names listed in the ``Attributes:`` section of a class docstring."""
    if cls.docstring is None:
        return set()
    names: set[str] = set()
    for section in cls.docstring.parse("google"):
        if section.kind is griffe.DocstringSectionKind.attributes:
            names.update(attribute.name for attribute in section.value)
    return names


def undocumented_members(cls: griffe.Class, within: str = "gameapi_async") -> list[str]:
    """Public members of a class with no docstring of their own, nor one a base class gives
    (bases from the package ``within`` only: ``Exception`` documents nothing of ours)."""
    lineage = [cls, *(base for base in cls.mro() if base.path.startswith(within))]
    missing = []
    for name, member in cls.members.items():
        if name.startswith("_") or member.is_alias:
            continue
        described = any(
            (name in ancestor.members and ancestor.members[name].docstring is not None)
            or name in documented_attributes(ancestor)
            for ancestor in lineage
        )
        if not described:
            missing.append(name)
    return missing


def reference_entries(package: griffe.Module) -> tuple[set[str], set[str]]:
    """(paths named by directives or anchors, canonical paths of the directives' objects)."""
    named: set[str] = set()
    resolved: set[str] = set()
    for page in sorted(REFERENCE.glob("**/*.md")):
        text = page.read_text(encoding="utf-8")
        for path in _DIRECTIVE.findall(text):
            named.add(path)
            try:
                resolved.add(canonical(static(package, path)).path)
            except (KeyError, griffe.AliasResolutionError) as error:
                raise AssertionError(f"{page.name}: ::: {path} names nothing: {error}") from None
        named.update(_ANCHOR.findall(text))
    return named, resolved


def test_public_modules_are_discovered(package: griffe.Module) -> None:
    modules = public_modules(package)
    assert modules[0] == "gameapi_async"
    assert {"gameapi_async.testing", "gameapi_async.cli", "gameapi_async.middleware"} <= set(
        modules
    )
    assert "gameapi_async.testing.pytest_plugin" in modules
    assert "gameapi_async.middleware.retry" in modules
    assert not [name for name in modules if "._" in name], modules


def test_every_public_name_has_a_docstring(package: griffe.Module) -> None:
    missing = []
    for module_name, name in every_public_name(package):
        try:
            obj = canonical(static(package, f"{module_name}.{name}"))
        except (KeyError, griffe.AliasResolutionError):
            # Exported at run time only (say, through _LAZY without the TYPE_CHECKING import):
            # the docs tools cannot see it, so it cannot be documented.
            missing.append(f"{module_name}.{name} (not visible to static analysis)")
            continue
        if obj.docstring is None or not obj.docstring.value.strip():
            missing.append(f"{module_name}.{name}")
        if isinstance(obj, griffe.Class):
            missing += [f"{module_name}.{name}.{member}" for member in undocumented_members(obj)]
    assert not missing, "public names without a docstring:\n" + "\n".join(missing)


def test_every_public_name_is_in_the_reference(package: griffe.Module) -> None:
    named, resolved = reference_entries(package)
    absent = []
    for module_name, name in every_public_name(package):
        path = f"{module_name}.{name}"
        if path in named:
            continue
        try:
            target = canonical(static(package, path)).path
        except (KeyError, griffe.AliasResolutionError):
            target = None
        if target not in resolved:
            absent.append(path)
    assert not absent, (
        "public names missing from docs/reference/*.md (add a '::: path' line):\n"
        + "\n".join(absent)
    )


def test_the_checks_see_what_they_claim_to(package: griffe.Module) -> None:
    """Guards the two tests above against passing vacuously: they really walk the names."""
    names = set(every_public_name(package))
    assert ("gameapi_async", "GameApiClient") in names
    assert ("gameapi_async.testing", "FakePlatform") in names
    assert ("gameapi_async.testing.pytest_plugin", "fake_platform") in names
    assert ("gameapi_async.cli", "main") in names
    named, resolved = reference_entries(package)
    assert "gameapi_async._client.GameApiClient" in resolved
    assert "gameapi_async.middleware.retry.RetryMiddleware" in resolved
    assert "gameapi_async.testing.pytest_plugin.fake_platform" in named


def test_undocumented_fields_are_caught() -> None:
    source = '''
class Base:
    """Base.

    Attributes:
        shared: documented once, in the base class.
    """

    shared: int


class Child(Base):
    """Child."""

    shared: int
    told: int
    """Documented on its own line."""
    silent: int
'''
    collection = griffe.ModulesCollection()
    module = griffe.visit("sample", Path("sample.py"), code=source, modules_collection=collection)
    collection["sample"] = module
    child = module["Child"]
    assert isinstance(child, griffe.Class)
    assert undocumented_members(child, within="sample") == ["silent"]


def test_reference_uses_public_paths(package: griffe.Module) -> None:
    """Users copy the path they read: ``gameapi_async.GameApiClient``, never ``._client``."""
    named, _ = reference_entries(package)
    private = sorted(path for path in named if any(
        part.startswith("_") and not (part.startswith("__") and part.endswith("__"))
        for part in path.split(".")
    ))
    assert not private, f"reference entries under a private module: {private}"
