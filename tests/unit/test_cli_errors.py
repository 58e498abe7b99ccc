"""Bad command-line arguments end in a one-line error and exit status 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CASES = [
    ["render-envoy", "--set", "NO_EQUALS_SIGN"],
    ["render-envoy", "--template", "no-such-template.yaml"],
    ["serve", "--listen", "not-an-address"],
    ["validate", "/no/such/config.yaml"],
    ["eval", "/no/such/outcomes.jsonl"],
    ["train", "/no/such/outcomes.jsonl", "--out", "unused.npz"],
    ["score", "--jsonl", "/no/such/prompts.jsonl"],
    ["envoy-config", "--config", "/no/such/config.yaml"],
]


@pytest.mark.parametrize("argv", CASES, ids=lambda argv: " ".join(argv[:2]))
def test_bad_arguments_exit_2_without_a_traceback(argv: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "extproc", *argv], cwd=tmp_path, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()  # says what is wrong


def test_render_envoy_still_renders_with_good_assignments(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "extproc", "render-envoy", "--set", "ROUTER_PORT=50999",
         "--set", "LISTEN_PORT=10999"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "50999" in result.stdout
