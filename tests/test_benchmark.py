"""The benchmark command at its small size: a smoke test of the command, no timing asserted."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_runs_end_to_end(postgres_admin):
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "benchmark", "--households", "10000",
         "--server", postgres_admin.url.render_as_string(hide_password=False)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for stage in ("read", "validate", "profile", "segment", "quality checks", "write"):
        assert re.search(rf"^\s+{stage}\s+\d+\.\d+\s+[\d,]+\s+\d+$", out, re.M), stage
    assert "postgresql: 10000 households" in out and "sqlite: 10000 households" in out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"households=10000 total_s=[\d.]+ floor_s=[\d.]+ ratio=[\d.]+ "
                        r"peak_rss_mb=\d+", last), last
