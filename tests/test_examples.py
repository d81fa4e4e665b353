"""The scripts in examples/ run as a user runs them (their --smoke mode: a few steps), and say what they wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_runs(script: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / script), "--smoke"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env=os.environ)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    out = done.stdout
    if script == "forecast_csv.py":
        assert "time,mean," in out and "\n2024-01," in out  # the forecast is dated, not numbered by step
    elif script == "vae_digits.py":
        assert "nll_nats" in out and Path(out.strip().splitlines()[-1].split(": ", 1)[1]).is_file()
    else:
        assert out.strip(), "no text generated"
