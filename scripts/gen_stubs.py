"""Writes type stubs of the installed tagger._core under OUT/tagger/_core/
(pybind11-stubgen), without the values that change with each build (the
version), so a stub only changes when a binding does. Used by `make stubs` and by
the stub drift test."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def generate(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pybind11_stubgen", "--exit-code", "-o", str(out), "tagger._core"],
                   check=True, capture_output=True, text=True)
    root = out / "tagger" / "_core"
    init = root / "__init__.pyi"
    init.write_text(re.sub(r"^__version__: str = .*$", "__version__: str", init.read_text(), flags=re.M))
    for stub in sorted(root.rglob("*.pyi")):
        stub.write_text(_typecheckable(stub.read_text()))
    return root


def _typecheckable(text: str) -> str:
    """Two fixes for mypy: pybind11's ``==`` takes any object (another type gets
    NotImplemented, so False), not only its own class; and ``__hash__ = None`` (an
    unhashable class, as at runtime) is written as typeshed writes it."""
    text = re.sub(r"def __(eq|ne)__\(self, (\w+): [\w.]+\) -> bool:", r"def __\1__(self, \2: object) -> bool:", text)
    return re.sub(r"^(\s+)__hash__: typing\.ClassVar\[None\] = None$",
                  r"\1__hash__: typing.ClassVar[None]  # type: ignore[assignment]  # unhashable, as at runtime",
                  text, flags=re.M)


if __name__ == "__main__":
    print(generate(Path(sys.argv[1])))
