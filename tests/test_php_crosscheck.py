"""Cross-check against a real PHP interpreter: ``ksort`` + ``json_encode`` + ``hash_hmac``.

``php`` is a test dependency like redis-server: where it is missing these tests fail, naming
the package (``.ci/run`` installs Debian's php-cli).
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gameapi_async import encode_body, sign

PHP = shutil.which("php")
pytestmark = pytest.mark.php
NO_PHP = "install php (apt-get install php-cli); .ci/run does"


@pytest.fixture(autouse=True, scope="module")
def _php_is_installed() -> None:
    assert PHP is not None, NO_PHP

# Reads one base64 JSON object per line (strings base64-encoded so PHP sees exact UTF-8),
# answers "body<TAB>signature" per line.
SCRIPT = r"""
while (($line = fgets(STDIN)) !== false) {
    $case = json_decode(base64_decode(trim($line)), true);
    $data = [];
    foreach ($case['data'] as $key => $value) {
        $data[base64_decode($key)] = is_string($value) ? base64_decode($value) : $value;
    }
    ksort($data);
    $json = json_encode($data);
    $token = base64_decode($case['token']);
    echo base64_encode($json), "\t", hash_hmac('sha256', $json, $token), "\n";
}
"""

NASTY = ['"', "\\", "/", "\x00", "\x01", "\x1f", "\x7f", "\b", "\f", "\n", "\r", "\t",
         "\u2028", "\u2029", "é", "Ж", "€", "\ufeff", "\uffff", "😀", "🎰", "\U0010ffff",
         "<", ">", "&", "'", "%", "\u00a0", "\u0301", "\u200d", " "]


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def run_php(cases: list[tuple[str, dict[str, str | int]]]) -> list[tuple[bytes, str]]:
    assert PHP is not None, NO_PHP
    lines = []
    for token, data in cases:
        encoded = {b64(k): (b64(v) if isinstance(v, str) else v) for k, v in data.items()}
        lines.append(base64.b64encode(json.dumps({"token": b64(token), "data": encoded})
                                      .encode()).decode())
    result = subprocess.run([PHP, "-r", SCRIPT], input="\n".join(lines) + "\n",
                            capture_output=True, text=True, timeout=60, check=True)
    answers = []
    for line in result.stdout.splitlines():
        body, signature = line.split("\t")
        answers.append((base64.b64decode(body), signature))
    return answers


def random_text(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randint(0, 12)):
        roll = rng.random()
        if roll < 0.5:
            pieces.append(rng.choice(NASTY))
        elif roll < 0.8:
            pieces.append(chr(rng.randint(0x20, 0x7E)))
        else:
            code = rng.randint(0x80, 0x10FFFF)
            pieces.append(chr(code) if not 0xD800 <= code <= 0xDFFF else "x")
    return "".join(pieces)


def test_hundreds_of_request_bodies_match_php_byte_for_byte() -> None:
    rng = random.Random(20261124)
    cases: list[tuple[str, dict[str, str | int]]] = []
    for n in range(400):
        data: dict[str, str | int] = {
            "agent_id": rng.randint(1, 2**63 - 1),
            "timestamp": rng.randint(0, 2**32),
            "game_id": rng.randint(1, 10**12),
            "player_id": random_text(rng) or "p",
            "player_username": random_text(rng) or "u",
            "home_url": "https://example.com/" + random_text(rng),
            "agent_session_id": random_text(rng),
        }
        cases.append((random_text(rng) or f"token-{n}", data))
    for (token, data), (php_body, php_signature) in zip(cases, run_php(cases), strict=True):
        body = encode_body(data)
        assert body == php_body, data
        assert sign(token, body) == php_signature


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=["Cs"])), min_size=150,
                max_size=150))
def test_hypothesis_strings_match_php(texts: list[str]) -> None:
    cases: list[tuple[str, dict[str, str | int]]] = [
        ("k", {"player_username": t, "agent_id": 1}) for t in texts
    ]
    for (_, data), (php_body, _) in zip(cases, run_php(cases), strict=True):
        assert encode_body(data) == php_body
