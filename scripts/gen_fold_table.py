"""Writes cpp/src/match/fold_table.h: how BERT's BasicTokenizer folds each character of Latin
Extended-B, Greek and Coptic, Cyrillic, Latin Extended Additional and Greek Extended (lowercase,
then NFD without the combining marks), from this Python's unicodedata.

    python scripts/gen_fold_table.py [out]
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

RANGES = [(0x180, 0x250), (0x370, 0x530), (0x1E00, 0x2000)]

HEADER = """// Generated from Python {py}'s unicodedata (Unicode {uni}), as BERT's BasicTokenizer folds a
// character: lowercase, then NFD with the combining marks (Mn) removed; 0 drops it. Covers
// Latin Extended-B, Greek and Coptic, Cyrillic (and its supplement), Latin Extended Additional
// and Greek Extended; Latin-1 and Latin Extended-A are folded by code in wordpiece.cc. Sorted by
// code point. Regenerate with scripts/gen_fold_table.py.
#pragma once

#include <cstdint>

namespace tagger::match::detail {{

struct FoldPair {{
  char32_t from, to;
}};

inline constexpr FoldPair kFoldTable[] = {{
{rows}
}};

}}  // namespace tagger::match::detail
"""


def pairs() -> list[tuple[int, int]]:
    out = []
    for lo, hi in RANGES:
        for cp in range(lo, hi):
            ch = chr(cp)
            cat = unicodedata.category(ch)
            if cat == "Cn":
                continue
            if cat == "Mn":
                out.append((cp, 0))
                continue
            low = ch.lower()
            if len(low) != 1:  # (a lowercase of two characters: left as it is)
                continue
            base = "".join(c for c in unicodedata.normalize("NFD", low) if unicodedata.category(c) != "Mn")
            if len(base) == 1 and ord(base) != cp:
                out.append((cp, ord(base)))
    return out


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "cpp/src/match/fold_table.h"
    cells = ["{0x%04X, 0x%04X}" % p for p in pairs()]
    rows = "\n".join("    " + ", ".join(cells[i:i + 6]) + "," for i in range(0, len(cells), 6))
    out.write_text(HEADER.format(py=sys.version.split()[0], uni=unicodedata.unidata_version, rows=rows))


if __name__ == "__main__":
    main()
