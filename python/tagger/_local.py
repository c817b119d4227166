"""A flag that code running in one thread raises for a block (the other threads see it down)."""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

__all__ = ["ThreadFlag"]


class ThreadFlag:
    """``with flag.raised():`` raises it in this thread for the block (nested blocks too);
    ``bool(flag)`` says whether it is raised in the calling thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __bool__(self) -> bool:
        return getattr(self._local, "on", False)

    @contextlib.contextmanager
    def raised(self) -> Iterator[None]:
        before = bool(self)
        self._local.on = True
        try:
            yield
        finally:
            self._local.on = before
