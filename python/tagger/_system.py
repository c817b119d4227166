"""What this machine offers, read by the checks made before a large allocation (an allocation
beyond RAM can succeed under Linux's overcommit and the process be killed on first touch)."""

from __future__ import annotations

import os


def physical_memory() -> int:
    """Bytes of RAM on this machine (0 when the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 0
