"""How deep brackets nest in JSON text, checked before parsing it: with a raised recursion limit
(hypothesis raises it while it runs, and so may any program) the C parser recurses until the C
stack overflows and the process dies (a 100,000-deep JSON header of a saved index did, in the
test suite). Shared by the upload checks and the readers of tagger's own files."""

from __future__ import annotations

import re

import numpy as np

__all__ = ["MAX_JSON_DEPTH", "too_deep"]

MAX_JSON_DEPTH = 512


# A string is skipped in one pass, closed or not (the closing quote is optional, so a match that
# started never fails and is never retried): with a required closing quote, an unterminated
# string full of \" was rescanned from each quote to the end, quadratic (40 KB took 3.5 s).
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


def too_deep(text: str) -> bool:
    """Whether brackets nest deeper than MAX_JSON_DEPTH outside strings. Checked before
    parsing: with a raised recursion limit the parser would recurse until the C stack
    overflows and the process dies."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    b = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    step = ((b == 0x5B) | (b == 0x7B)).astype(np.int32) - ((b == 0x5D) | (b == 0x7D)).astype(np.int32)
    if np.cumsum(step).max() <= MAX_JSON_DEPTH:
        return False
    # Brackets inside strings count for nothing ({"name": "[[[...["} is shallow): counted
    # again with the strings skipped whole (the regex runs in C).
    depth = 0
    for m in _STRING_OR_BRACKET.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif c in "]}":
            depth -= 1
    return False
