"""One estimator, several threads: its fit and predict calls run one at a time.

A fit sets many attributes (``answers_``, ``labels_``, the arrays behind the
lazy ``probas_``/``errors_``) and some subclasses stash call arguments on the
instance before fitting, so two threads fitting one estimator used to mix their
data (``probas_`` built from one fit's arrays and another's index failed, or
answered for the wrong tasks). Every estimator class that inherits
:class:`Serialized` has its public ``fit*``/``predict*`` methods and the getters of
its lazy fitted properties (names ending in ``_``) run under a lock of the
instance: each call sees one whole fit, and ``fit_predict`` returns its own
fit's labels; a pickle or copy waits for a running fit. The lock is re-entrant
(a ``fit_predict`` calls ``fit``) and is kept outside the instance, so
estimators still pickle and copy. Threads that want to fit in parallel use
one estimator each (``copy.copy(est)``).
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any, Callable

from .._fork import in_forked_child

__all__ = ["Serialized"]

_METHODS = frozenset({"fit", "fit_predict", "fit_predict_proba", "predict", "predict_proba", "predict_score",
                      "fit_predict_score", "fit_predict_scores", "fit_transform", "quality"})

_locks: dict[int, threading.RLock] = {}
_locks_guard = threading.Lock()


def _renew_in_child() -> None:
    """A lock held by another thread when the process forked stays held in the child, where that
    thread does not exist: every serialized call on that estimator there waited forever."""
    global _locks_guard
    _locks_guard = threading.Lock()
    for key in list(_locks):
        _locks[key] = threading.RLock()


in_forked_child(_renew_in_child)


def _lock_of(obj: Any) -> threading.RLock:
    key = id(obj)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = threading.RLock()
            weakref.finalize(obj, _locks.pop, key, None)  # before the id can be reused
        return lock


def _serialized(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock_of(self):
            return fn(self, *args, **kwargs)

    call._serialized = True  # type: ignore[attr-defined]
    return call


class Serialized:
    """Mixin: see the module docstring."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, attr in list(vars(cls).items()):
            if name in _METHODS and callable(attr) and not getattr(attr, "_serialized", False):
                setattr(cls, name, _serialized(attr))
            elif (isinstance(attr, property) and name.endswith("_") and not name.startswith("_")
                  and attr.fget is not None and not getattr(attr.fget, "_serialized", False)):
                setattr(cls, name, property(_serialized(attr.fget), attr.fset, attr.fdel, attr.__doc__))

    def __getstate__(self) -> dict[str, Any]:
        # pickle, copy.copy and copy.deepcopy read the state here: a copy taken while another
        # thread fits waits for that fit and holds one whole fit, not the new answers_ beside
        # the old labels_.
        with _lock_of(self):
            return dict(self.__dict__)
