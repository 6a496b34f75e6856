"""The slot-filling builders give exactly the instances the attrs constructors give."""

from __future__ import annotations

import attrs
import pytest

from gameapi_async._fastnew import builder
from gameapi_async._models import GameLink
from gameapi_async._pipeline import Call, CallOptions, Reply
from gameapi_async._protocol import GET_GAME_LINK, Envelope, RawResponse, SignedRequest


@pytest.mark.parametrize(
    ("cls", "args"),
    [
        (Reply, (Envelope({"url": "u"}, "rid", 200, 1.5), 1.0, 2.0, 3)),
        (Envelope, ({"url": "https://x"}, None, 200, None)),
        (SignedRequest, (GET_GAME_LINK, b"{}", "ab" * 32, 1_700_000_000)),
        (RawResponse, (200, b"{}", "Thu, 26 Nov 2026 08:00:00 GMT", None)),
        (Call, (GET_GAME_LINK, {"game_id": 1}, CallOptions(), 2, 1.5)),
    ],
)
def test_built_equals_constructed(cls: type, args: tuple[object, ...]) -> None:
    built = builder(cls)(*args)
    made = cls(*args)
    assert type(built) is cls
    assert built == made
    assert repr(built) == repr(made)
    assert not hasattr(built, "__dict__")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.__setattr__(attrs.fields(cls)[0].name, None)


def test_call_defaults_spelled_out_by_the_client_match_the_class() -> None:
    fields = attrs.fields(Call)
    assert (fields.attempt.default, fields.clock_offset.default) == (1, 0.0)


def test_a_class_with_validators_needs_its_callers_to_check() -> None:
    with pytest.raises(TypeError, match="validators"):
        builder(GameLink)
    link = builder(GameLink, validated_by_caller=True)("https://x", "rid")
    assert link == GameLink("https://x", "rid")


def test_only_slotted_classes_without_converters() -> None:
    @attrs.frozen(slots=False)
    class Plain:
        a: int

    @attrs.frozen
    class Converted:
        a: int = attrs.field(converter=int)

    for cls in (Plain, Converted):
        with pytest.raises(TypeError, match="slotted"):
            builder(cls)
