"""The generated gRPC code in extproc/api is what protos/ compiles to today."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}
    subprocess.run(["bash", str(ROOT / "scripts" / "gen-protos.sh")], check=True, env=env)
    generated = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert generated, "protoc produced nothing"
    for fresh in generated:
        committed = ROOT / fresh.relative_to(tmp_path)
        assert committed.exists(), f"{committed} missing: run scripts/gen-protos.sh"
        assert committed.read_bytes() == fresh.read_bytes(), (
            f"{committed} is stale: run scripts/gen-protos.sh"
        )
