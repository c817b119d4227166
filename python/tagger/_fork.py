"""Locks that a child of ``os.fork()`` gets back unlocked.

``fork`` copies a lock that another thread of the parent holds as held, and that thread does
not exist in the child: the child's first use of the lock waited forever (an estimator fitting
in a thread when a ``multiprocessing`` 'fork' pool started: every worker hung reading its
``probas_``). Each lock registered here is replaced in the child by a new one from its factory,
as the standard library does for its own (``logging``, ``threading``). The child then sees the
object as the parent's fork left it: a fit that was running in another thread never finishes
there.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any, Callable

__all__ = ["renew_after_fork", "in_forked_child"]

_guard = threading.Lock()
_owners: weakref.WeakKeyDictionary[Any, dict[str, Callable[[], Any]]] = weakref.WeakKeyDictionary()


def renew_after_fork(owner: Any, name: str, factory: Callable[[], Any] = threading.Lock) -> None:
    """In a forked child, ``owner.<name>`` (an instance, a class or a module) becomes ``factory()``."""
    with _guard:
        _owners.setdefault(owner, {})[name] = factory


def in_forked_child(fn: Callable[[], None]) -> None:
    """Runs ``fn()`` in a forked child (locks kept elsewhere than an attribute, e.g. in a dict)."""
    if hasattr(os, "register_at_fork"):  # (POSIX)
        os.register_at_fork(after_in_child=fn)


def _renew_in_child() -> None:
    global _guard
    _guard = threading.Lock()
    for owner, names in list(_owners.items()):
        for name, factory in names.items():
            setattr(owner, name, factory())


in_forked_child(_renew_in_child)
