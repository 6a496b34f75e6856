"""Faster construction of the frozen, slotted attrs classes made on every call.

attrs' generated ``__init__`` of a frozen class sets each field through a cached
``object.__setattr__``; filling the slots through their descriptors gives the same instance
(same class, same field values, no ``__dict__``) in about two thirds of the time. A builder
runs no validators or converters, so it is used only for classes that have none, or where the
caller has already checked what the validator would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import attrs

__all__ = ["builder"]

T = TypeVar("T")


def builder(cls: type[T], *, validated_by_caller: bool = False) -> Callable[..., T]:
    """A function taking every field of ``cls`` positionally, in order, and returning the
    instance; for slotted attrs classes without converters. A class with validators needs
    ``validated_by_caller=True``: every call site then checks what they would."""
    fields = attrs.fields(cast(Any, cls))
    if "__slots__" not in cls.__dict__ or any(f.converter is not None for f in fields):
        raise TypeError(f"{cls.__name__} is not a slotted attrs class without converters")
    if not validated_by_caller and any(f.validator is not None for f in fields):
        raise TypeError(f"{cls.__name__} has validators; its callers must run their checks")
    names = [f.name for f in fields]
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    lines = [f"def build({', '.join(names)}):", "    self = new(cls)"]
    for name in names:
        namespace[f"set_{name}"] = getattr(cls, name).__set__
        lines.append(f"    set_{name}(self, {name})")
    lines.append("    return self")
    exec("\n".join(lines), namespace)  # the source holds only attrs field names
    built: Callable[..., T] = namespace["build"]
    built.__qualname__ = built.__name__ = f"build_{cls.__name__}"
    return built
