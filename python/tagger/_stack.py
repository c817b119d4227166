"""Where a warning raised deep inside tagger points: the user's line."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from typing import Any

_ROOT = os.path.dirname(os.path.abspath(__file__)) + os.sep
# Frames between tagger's own and the caller's that are not the caller: dataclasses.replace and
# contextlib's context managers, and a dataclass's generated __init__ (file "<string>", like code
# run by `python -c` or exec(), which is the caller: told apart by the function's name).
_PASS_THROUGH = {os.path.abspath(dataclasses.__file__), os.path.abspath(contextlib.__file__)}


def _glue(code: Any) -> bool:
    name = code.co_filename
    if name.startswith("<"):
        return name == "<string>" and code.co_name == "__init__"
    path = os.path.abspath(name)
    return path.startswith(_ROOT) or path in _PASS_THROUGH


def outside_tagger() -> int:
    """The ``stacklevel`` for ``warnings.warn`` called by the caller of this function that names
    the first frame outside the tagger package (and the standard-library glue above)."""
    frame: Any = sys._getframe(1)
    level = 1
    while frame is not None and _glue(frame.f_code):
        frame, level = frame.f_back, level + 1
    return level
