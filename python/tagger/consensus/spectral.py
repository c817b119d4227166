"""Message passing over the worker-task graph: KOS."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import _core
from ..errors import InvalidArgument
from .base import Answers, BaseClassifier

__all__ = ["KOS"]


class KOS(BaseClassifier):
    r"""KOS, binary labels: with :math:`A_j = \pm 1` (+1 for the label that
    appears first in the data), task messages
    :math:`x_{t \to w} = \sum_{w' \in t \setminus w} A_{tw'} y_{w' \to t}` and
    worker messages :math:`y_{w \to t} = \sum_{t' \in w \setminus t} A_{t'w} x_{t' \to w}`
    for ``n_iter`` rounds, started from :math:`y \sim N(1, 1)` drawn as numpy's
    ``np.random.seed(random_state); np.random.normal(1, 1, n)`` (legacy MT19937
    stream, reproduced in C++); label = :math:`\mathrm{sign}\sum_{w \in t} A_{tw} y_{w \to t}`.
    As crowd-kit 1.4, step for step (it stops early once a message exceeds
    1e300). A sum of exactly 0 gives the first label (crowd-kit raises a
    KeyError there). ``probas_`` is one-hot (KOS has no posterior).

    D. R. Karger, S. Oh, D. Shah, "Budget-Optimal Task Allocation for Reliable
    Crowdsourcing Systems", Operations Research 62(1):1-24, 2014.
    """

    _method = "kos"
    _iterative = True

    def __init__(self, n_iter: int = 100, random_state: int = 0, **kw: Any) -> None:
        super().__init__(**kw)
        self.n_iter, self.random_state = n_iter, random_state

    def _init_args(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter, "random_state": self.random_state}

    def fit(self, data: pd.DataFrame, true_labels: pd.Series | None = None) -> "KOS":
        if isinstance(data, pd.DataFrame) and len(data) == 0:
            raise InvalidArgument("KOS: data is empty (no answers to aggregate)")
        return self._fit(data, true_labels)  # type: ignore[return-value]

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        if answers.n == 0:
            raise InvalidArgument("KOS: data is empty (no answers to aggregate)")
        if len(answers.label_names) != 2:
            raise InvalidArgument(f"KOS aggregation method is for binary classification only; the answers have "
                                  f"{len(answers.label_names)} label(s) {list(answers.label_names)[:5]}")
        if common.get("class_priors") is not None:
            raise InvalidArgument("KOS takes no class_priors")
        positive = int(answers.label_names.get_indexer(pd.Index([self._first_label]))[0])
        out = _core.consensus_crowdkit.kos(*answers.core_args(), positive=positive, n_iter=self.n_iter,
                                           seed=self.random_state)
        if common.get("gold") is not None:  # gold tasks keep their gold label
            g = common["gold"]
            lab = out["labels"]
            lab[g >= 0] = g[g >= 0]
            out["probas"][:] = 0.0
            out["probas"][range(len(lab)), lab] = 1.0
        return out
