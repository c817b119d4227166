"""`tagger demo` runs to the end and every one of its checks passes."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_and_passes_its_checks(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tagger", "demo", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All demo checks passed" in proc.stdout
