"""The copilot's model adapter: any model's class probabilities in a task's label order.

A task's copilot (``publish_task(copilot=True)``) pre-annotates items with a model:
a :class:`tagger.match.CategoryIndex`, anything with ``predict_proba`` (scikit-learn
style, columns named by ``classes_``), or a callable returning probabilities (an array
in the task's label order, or a DataFrame whose columns are labels). Rows the model
cannot score (NaN, negative or all-zero) are dropped with their positions, so one odd
item never costs the rest of the batch a suggestion.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .errors import InvalidArgument

PPM = 1_000_000


def _column_names(model: Any) -> list | None:
    """The label of each probability column, where the model names them."""
    for attr in ("categories", "classes_"):
        names = getattr(model, attr, None)
        if names is not None:
            return list(names)
    return None


def model_probabilities(model: Any, data: Sequence[Any], labels: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(probs, ok)``: ``probs[i]`` is row i's distribution over ``labels`` (rows sum to
    1 where ``ok``); ``ok[i]`` is False where the model gave no usable probabilities."""
    if hasattr(model, "predict_proba"):
        kwargs = {"on_invalid": "skip"} if type(model).__module__.startswith("tagger.") else {}
        raw = model.predict_proba(list(data), **kwargs)
        names = _column_names(model)
    elif callable(model):
        raw = model(list(data))
        names = None
    else:
        raise InvalidArgument(f"the copilot's model must be a tg.match.CategoryIndex, have predict_proba, or be a "
                              f"callable returning probabilities; got {type(model).__name__}")
    if isinstance(raw, pd.DataFrame):
        names, raw = list(raw.columns), raw.to_numpy()
    p = np.asarray(raw, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != len(data):
        raise InvalidArgument(f"the copilot's model returned shape {p.shape}; expected ({len(data)}, n_labels)")
    if names is None:
        if p.shape[1] != len(labels):
            raise InvalidArgument(f"the copilot's model returned {p.shape[1]} unnamed columns for the task's "
                                  f"{len(labels)} labels; name them (a DataFrame, or classes_ / categories)")
        names = list(labels)
    known = pd.Index(names).get_indexer(pd.Index(labels))
    if (known < 0).all():
        raise InvalidArgument(f"none of the model's classes {names[:8]} is a label of the task {list(labels)[:8]}")
    out = np.zeros((p.shape[0], len(labels)))
    out[:, known >= 0] = p[:, known[known >= 0]]
    # Mass on classes outside the task's labels is not evidence for any of them: renormalize.
    total = out.sum(axis=1)
    ok = np.isfinite(out).all(axis=1) & (out >= 0).all(axis=1) & (total > 0)
    out[ok] /= total[ok, None]
    out[~ok] = 0.0
    return out, ok


def suggestion_codes(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The suggested label code of each row and its confidence in parts per million (floored)."""
    label = probs.argmax(axis=1).astype(np.int32)
    conf = np.floor(np.clip(probs.max(axis=1), 0.0, 1.0) * PPM).astype(np.uint32)
    return label, conf

