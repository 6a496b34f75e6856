"""The signing vectors produced by real PHP: body and signature byte for byte.

``tests/data/signing_vectors.json`` is the platform spec's ``shared/vectors/signing.json``,
copied into the repository so the suite runs from a checkout or an sdist alone; refresh the
copy when the spec's vectors change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gameapi_async import encode_body, sign

BUNDLED = Path(__file__).parent / "data" / "signing_vectors.json"


def load(path: Path) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return cases


@pytest.mark.parametrize("case", load(BUNDLED), ids=lambda c: c["name"])
def test_vector_body_and_signature(case: dict[str, Any]) -> None:
    body = encode_body(case["params"])
    assert body.decode("ascii") == case["body"]
    assert sign(case["api_token"], body) == case["signature"]

