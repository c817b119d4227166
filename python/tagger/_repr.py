"""Small HTML builders for notebook reprs (``_repr_html_``), and amount formatting."""

from __future__ import annotations

import html
from typing import Sequence

__all__ = ["html_table", "format_tag"]


def format_tag(amount: int, unit: int | None = None) -> str:
    """Format base units as TAG exactly: ``format_tag(1_500_000) == '1.5 TAG'``."""
    if unit is None:
        from . import TAG
        unit = TAG
    whole, frac = divmod(int(amount), unit)
    digits = len(str(unit)) - 1
    s = f"{whole:,}"
    if frac:
        s += "." + f"{frac:0{digits}d}".rstrip("0")
    return s + " TAG"


def html_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]],
               footer: str | None = None) -> str:
    esc = html.escape
    out = [f"<div><b>{esc(title)}</b>", "<table>", "<tr>" + "".join(f"<th>{esc(str(h))}</th>" for h in header) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in r) + "</tr>")
    out.append("</table>")
    if footer:
        out.append(f"<small>{esc(footer)}</small>")
    out.append("</div>")
    return "".join(out)
