"""The signing vectors produced by real PHP: body and signature byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gameapi_async import encode_body, sign

BUNDLED = Path(__file__).parent / "data" / "signing_vectors.json"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "signing.json"


def load(path: Path) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return cases


@pytest.mark.parametrize("case", load(BUNDLED), ids=lambda c: c["name"])
def test_vector_body_and_signature(case: dict[str, Any]) -> None:
    body = encode_body(case["params"])
    assert body.decode("ascii") == case["body"]
    assert sign(case["api_token"], body) == case["signature"]


def test_bundled_vectors_match_the_shared_ones() -> None:
    if not SHARED.exists():
        pytest.skip(f"no shared vectors at {SHARED} (a checkout without shared/ beside it)")
    assert load(SHARED) == load(BUNDLED)
