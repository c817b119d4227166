"""The C++ tables generated from Python's unicodedata are what their scripts write: an edit by
hand, or a regeneration with another Unicode version, shows here (skipped when this Python's
Unicode version is not the one the committed table names)."""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script, table", [("gen_letter_table.py", "cpp/src/match/letter_table.h"),
                                           ("gen_fold_table.py", "cpp/src/match/fold_table.h")])
def test_a_generated_table_is_what_its_script_writes(tmp_path, script, table):
    committed = (REPO / table).read_text(encoding="utf-8")
    version = re.search(r"\(Unicode ([0-9.]+)\)", committed)
    assert version, f"{table} does not name the Unicode version it was generated from"
    if version.group(1) != unicodedata.unidata_version:
        pytest.skip(f"{table} is from Unicode {version.group(1)}, this Python has {unicodedata.unidata_version}")
    out = tmp_path / "table.h"
    subprocess.run([sys.executable, str(REPO / "scripts" / script), str(out)], check=True, capture_output=True)
    strip = lambda text: re.sub(r"Python [0-9.]+'s", "Python's", text)  # the patch version may differ
    assert strip(out.read_text(encoding="utf-8")) == strip(committed)
