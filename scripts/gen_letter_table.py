"""Writes cpp/src/match/letter_table.h: which code points `text_signal` and `validate_text`
count as Latin letters and which as letters of another script, from this Python's unicodedata.

A letter is a code point of general category L*. It counts as Latin when its name starts with
LATIN, or when NFKC (which the tokenizer applies) makes it Latin letters only ("ⓒ" is "c", "Ａ"
is "A", "ª" is "a"); any other letter is of another script. Before this table, letters outside
a hand-made list of script ranges (Hangul compatibility jamo, halfwidth katakana, Runic, IPA
...) counted as no letters at all.

    python scripts/gen_letter_table.py [out]
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

HEADER = """// Generated from Python {py}'s unicodedata (Unicode {uni}) by scripts/gen_letter_table.py:
// kLatinRanges, the code points that are Latin letters or that NFKC makes Latin letters only;
// kOtherLetterRanges, every other letter (general category L*). Both sorted, inclusive,
// disjoint. ASCII is handled by code in text.cc.
#pragma once

namespace tagger::match::detail {{

struct CodeRange {{
  char32_t lo, hi;
}};

inline constexpr CodeRange kLatinRanges[] = {{
{latin}
}};

inline constexpr CodeRange kOtherLetterRanges[] = {{
{other}
}};

}}  // namespace tagger::match::detail
"""


def _latin_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L") and unicodedata.name(ch, "").startswith("LATIN")


def classify(cp: int) -> str | None:
    ch = chr(cp)
    if _latin_letter(ch):
        return "latin"
    folded = unicodedata.normalize("NFKC", ch)
    if folded and folded != ch and all(_latin_letter(f) for f in folded):
        return "latin"
    if unicodedata.category(ch).startswith("L"):
        return "other"
    return None


def ranges(kind: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp <= 0xDFFF or classify(cp) != kind:
            continue
        if out and out[-1][1] == cp - 1:
            out[-1] = (out[-1][0], cp)
        else:
            out.append((cp, cp))
    return out


def rows(rs: list[tuple[int, int]]) -> str:
    cells = [f"{{0x{lo:05X}, 0x{hi:05X}}}," for lo, hi in rs]
    return "\n".join("    " + " ".join(cells[i:i + 5]) for i in range(0, len(cells), 5))


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "cpp/src/match/letter_table.h"
    text = HEADER.format(py=sys.version.split()[0], uni=unicodedata.unidata_version,
                         latin=rows(ranges("latin")), other=rows(ranges("other")))
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
