"""Voting methods: majority vote and weighted majority vote."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument
from .base import Answers, BaseClassifier

__all__ = ["MajorityVote", "WeightedMajorityVote"]


class MajorityVote(BaseClassifier):
    r"""Majority vote: :math:`P(z_t = k) = |\{j \in t : y_j = k\}| / |t|`.

    The label is the most voted one; **ties go to the smallest label** (labels
    are ordered by sorting their values), so the result is deterministic and
    independent of row order. ``skills_`` is each worker's agreement with the
    result. (crowd-kit breaks ties by pandas column order, which follows the
    order labels first appear in the data.)

    >>> import pandas as pd, tagger as tg
    >>> df = pd.DataFrame({"task": [1, 1, 1], "worker": ["a", "b", "c"], "label": ["x", "y", "y"]})
    >>> tg.consensus.MajorityVote().fit_predict(df).tolist()
    ['y']
    """

    _method = "majority_vote"

    def __init__(self, *, backend: str = "local", n_shards: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.backend, self.n_shards = backend, n_shards

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        if self.backend != "local":  # sharded: same results (tagger.consensus.distributed)
            from .distributed import fit_answers
            return fit_answers(self._method, answers, backend=self.backend, n_shards=self.n_shards, **common)
        return super()._core_call(answers, **common)


class WeightedMajorityVote(BaseClassifier):
    r"""Weighted majority vote: :math:`P(z_t = k) \propto \sum_{j \in t: y_j = k} s_{w_j}`.

    ``skills``: a Series worker -> weight (>= 0). Workers missing from it get
    ``default_skill`` (an error if that is None). Without ``skills`` the
    weights are estimated as in :class:`Wawa` (agreement with majority vote).
    Ties as in :class:`MajorityVote`. Littlestone & Warmuth, "The Weighted
    Majority Algorithm", Information and Computation 108(2), 1994.
    """

    _method = "weighted_majority_vote"

    def __init__(self, skills: pd.Series | None = None, default_skill: float | None = None, *, backend: str = "local",
                 n_shards: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.skills = skills
        self.default_skill = default_skill
        self.backend, self.n_shards = backend, n_shards

    def _init_args(self) -> dict[str, Any]:
        return {"default_skill": self.default_skill}

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        sharded = self.backend != "local"  # same results (tagger.consensus.distributed)
        if sharded:
            from .distributed import fit_answers
        if self.skills is None:
            if sharded:
                return fit_answers("wawa", answers, backend=self.backend, n_shards=self.n_shards, **common)
            return _core.consensus.wawa(*answers.core_args(), **common)
        s = pd.Series(self.skills).reindex(answers.worker_names).to_numpy(dtype=float)
        if np.isnan(s).any():
            if self.default_skill is None:
                missing = answers.worker_names[np.isnan(s)][0]
                raise InvalidArgument(f"no skill for worker {missing!r} (pass default_skill= to use a default)")
            s = np.where(np.isnan(s), float(self.default_skill), s)
        if sharded:
            return fit_answers("weighted_majority_vote", answers, backend=self.backend, n_shards=self.n_shards,
                               skills=s, **common)
        return _core.consensus.weighted_majority_vote(*answers.core_args(), skills=s, **common)
