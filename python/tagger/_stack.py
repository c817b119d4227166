"""Where a warning raised deep inside tagger points: the user's line."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from typing import Any

_ROOT = os.path.dirname(os.path.abspath(__file__)) + os.sep
# Frames between tagger's own and the caller's that are not the caller: a dataclass's generated
# __init__ ("<string>"), dataclasses.replace, contextlib's context managers.
_PASS_THROUGH = {os.path.abspath(dataclasses.__file__), os.path.abspath(contextlib.__file__)}


def outside_tagger() -> int:
    """The ``stacklevel`` for ``warnings.warn`` called by the caller of this function that names
    the first frame outside the tagger package (and the standard-library glue above)."""
    frame: Any = sys._getframe(1)
    level = 1
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name.startswith("<") or os.path.abspath(name).startswith(_ROOT) or os.path.abspath(name) in _PASS_THROUGH):
            break
        frame, level = frame.f_back, level + 1
    return level
