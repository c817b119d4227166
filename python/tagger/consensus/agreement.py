"""Agreement-weighted voting: Wawa and zero-based skill."""

from __future__ import annotations

from typing import Any

from .. import _core
from .base import Answers
from .voting import _Predicting

__all__ = ["Wawa", "ZeroBasedSkill"]


class Wawa(_Predicting):
    r"""Worker agreement with aggregate: majority vote, then
    :math:`s_w` = share of the worker's answers equal to the MV label, then a
    weighted vote :math:`P(z_t = k) \propto \sum_{j \in t: y_j = k} s_{w_j}`.
    ``skills_`` = :math:`s_w`. (Appen/Figure Eight's "WAWA", as crowd-kit has it:
    D. Ustalov, N. Pavlichenko, B. Tseitlin, "Learning from Crowds with
    Crowd-Kit", JOSS 2024.) The first vote breaks ties as :class:`MajorityVote`
    does (to the smallest label), which crowd-kit's does not: on sets with
    tied tasks the skills, and a few labels, differ from crowd-kit's.
    ``predict(data)``/``predict_proba(data)`` vote with the fitted skills on
    other answers (every worker needs a skill).
    """

    _method = "wawa"


class ZeroBasedSkill(_Predicting):
    r"""Zero-based skill: skills start at :math:`1/K + \epsilon`; each iteration
    runs a weighted vote with them and moves each skill toward the worker's
    agreement with that vote, :math:`s_w \leftarrow s_w + \eta(a_w - s_w)`;
    :math:`\eta` starts at ``lr_init`` and is multiplied by
    ``lr_reduce_factor`` every ``lr_steps_to_reduce`` iterations. Stops when no
    skill moves more than ``eps`` (crowd-kit always runs ``n_iter``; the skills
    left to move are below ``eps``, so the labels are the same).
    ``predict(data)``/``predict_proba(data)`` vote with the fitted skills.
    (crowd-kit's method: D. Ustalov, N. Pavlichenko, B. Tseitlin, "Learning from
    Crowds with Crowd-Kit", JOSS 2024.)
    """

    _method = "zero_based_skill"
    _iterative = True

    def __init__(self, n_iter: int = 100, lr_init: float = 1.0, lr_steps_to_reduce: int = 20,
                 lr_reduce_factor: float = 0.5, eps: float = 1e-5, **kw: Any) -> None:
        super().__init__(**kw)
        self.n_iter, self.lr_init, self.lr_steps_to_reduce = n_iter, lr_init, lr_steps_to_reduce
        self.lr_reduce_factor, self.eps = lr_reduce_factor, eps

    def _init_args(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter, "lr_init": self.lr_init}

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        return _core.consensus.zero_based_skill(*answers.core_args(), lr_init=self.lr_init,
                                                lr_steps_to_reduce=self.lr_steps_to_reduce,
                                                lr_reduce_factor=self.lr_reduce_factor, eps=self.eps,
                                                n_iter=self.n_iter, **common)
