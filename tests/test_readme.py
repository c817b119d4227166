"""The README's Python examples run as pasted: every ```python block, in order, in
one namespace, in a fresh directory (a block whose first line is `# not run` is
illustrative only and skipped)."""

from __future__ import annotations

import re

from conftest import REPO

BLOCKS = re.findall(r"^```python\n(.*?)^```", (REPO / "README.md").read_text(encoding="utf-8"), re.M | re.S)


def test_the_readme_has_examples():
    assert BLOCKS, "no ```python block found in README.md"


def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "__readme__"}
    ran = 0
    for i, code in enumerate(BLOCKS):
        if code.lstrip().startswith("# not run"):
            continue
        # The file name in a traceback says which block failed.
        exec(compile(code, f"README.md python block {i + 1}", "exec"), ns)
        ran += 1
    assert ran >= 1
    net, result = ns["net"], ns["result"]
    assert set(result.labels.index) == set(range(60))
    assert ns["task"].categories[0][0] == "text/sentiment"
    net.verify()
