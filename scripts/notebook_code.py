"""Writes the code cells of each notebook as one Python file, for mypy (`make typecheck`):
OUT/nb_<notebook stem>.py, each cell under a ``# In[n]`` line. IPython magics and shell
escapes (``%...``, ``%%...`` cells, ``!...``) are left out: they are not Python.

    python scripts/notebook_code.py OUT notebooks/*.ipynb
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

_MAGIC = re.compile(r"^(\s*)[%!]")


def cell_code(source: str) -> str:
    """A code cell as Python: a ``%%`` cell magic drops the cell, a line magic or shell
    escape becomes ``pass`` (at its indentation, so the blocks around it still parse)."""
    if source.lstrip().startswith("%%"):
        return ""
    return "\n".join(_MAGIC.sub(r"\1pass  # IPython: ", line) if _MAGIC.match(line) else line
                     for line in source.splitlines())


def notebook_code(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    cells = [cell_code(c.source) for c in nb.cells if c.cell_type == "code"]
    body = "\n\n".join(f"# In[{i}]\n{code}" for i, code in enumerate(cells, 1) if code.strip())
    return f"# Code cells of {path.name} (scripts/notebook_code.py).\n\n{body}\n"


def main(out: str, *notebooks: str) -> None:
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    for nb in notebooks:
        p = Path(nb)
        # A module name may not start with a digit: 01_quickstart -> nb_01_quickstart.
        target = root / f"nb_{re.sub(r'[^0-9A-Za-z_]', '_', p.stem)}.py"
        target.write_text(notebook_code(p))
        print(target)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], *sys.argv[2:])
