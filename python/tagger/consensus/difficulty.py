"""GLAD: worker ability and task difficulty."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument
from .base import Answers, BaseClassifier

__all__ = ["GLAD"]


class GLAD(BaseClassifier):
    r"""GLAD: :math:`P(y_j = z_t) = \sigma(\alpha_w \beta_t)`, :math:`\beta_t = e^{b_t}`;
    a wrong answer is uniform over the other :math:`K-1` labels.

    EM: the E-step computes :math:`P(z_t = k)`; the M-step maximizes
    :math:`Q = \sum_j [p_j \log\sigma(\alpha\beta) + (1-p_j)(\log(1-\sigma(\alpha\beta)) - \log(K-1))]
    + \sum_w \log N(\alpha_w - \mu_\alpha) + \sum_t \log N(b_t - \mu_b)`
    (:math:`p_j` = posterior that answer j is right). Parameters as
    crowd-kit's (``m_step_max_iter``, ``m_step_tol``, ``alphas_priors_mean``,
    ``betas_priors_mean``, ``labels_priors``, ``silent``); tagger's
    ``m_steps``/``m_tol``/``alpha_prior``/``beta_prior`` and ``class_priors``
    are keyword aliases.

    ``variant`` picks the engine:

    * ``"crowdkit"`` (the default for a local fit) is crowd-kit 1.4's GLAD step
      for step: start at :math:`\alpha = b = 1`, its E-step and objective
      (softplus clipped at :math:`|x| > 30`, label priors as given, not
      normalized), and the M-step as scipy's ``minimize(method="CG")``:
      Polak-Ribière+ conjugate gradient with MINPACK's dcsrch line search and
      the Wolfe zoom fallback, ``gtol = m_step_tol`` on the largest gradient
      entry, at most ``m_step_max_iter`` steps. ``loss_history_`` is Q over
      (answers x labels) after each M-step, and EM stops once it rises by less
      than ``tol`` (the first iteration compares with the start's
      un-normalized Q, as crowd-kit does). C++ on ``threads`` threads, the same
      bits for any number (cpp/src/consensus/crowdkit_glad.cc). Parameters
      follow scipy's to rounding, not bit for bit (numpy's SIMD ``exp`` and
      BLAS's dot order are not reproduced); conjugate gradient amplifies that
      rounding over the iterations, so labels agree with crowd-kit's on all
      but rare near-tied tasks (measured in docs/consensus.md).
    * ``"tagger"`` is the engine the ledger re-executes: the M-step is block
      Fisher scoring (multi-threaded, bit-identical for any thread count),
      started at the prior means, class priors normalized. ``backend="ray"`` or
      ``"inprocess"`` (with ``n_shards``, tagger.consensus.distributed) fits
      over task shards with the same results and needs it: with the default
      ``variant=None`` it selects it, with ``variant="crowdkit"`` it is refused.

    Gold labels (``fit(data, true_labels)``, a tagger extension) are one-hot
    posteriors in every E-step. Fitted: ``alphas_`` (worker ability),
    ``betas_`` (log of :math:`\beta_t`, as crowd-kit), ``skills_`` (mean
    :math:`\sigma(\alpha_w\beta_t)` over the worker's tasks), ``variant_``.

    J. Whitehill, P. Ruvolo, T. Wu, J. Bergsma, J. Movellan, "Whose Vote Should
    Count More: Optimal Integration of Labels from Labelers of Unknown
    Expertise", NIPS 2009.
    """

    _method = "glad"
    # tagger's names whose value a crowd-kit parameter carries (class_priors: labels_priors,
    # verbose: silent, m_steps: m_step_max_iter, m_tol: m_step_tol)
    _not_attrs_fields = ("class_priors", "verbose", "m_steps", "m_tol")
    _priors_order = "appearance"  # crowd-kit's priors_ follow the labels' first appearance
    _probas_columns_name = "variable"  # (its probas_ come out of a melt)
    _priors_names = (None, None)
    _iterative = True

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, silent: bool = True, labels_priors: pd.Series | None = None,
                 alphas_priors_mean: Any = None, betas_priors_mean: Any = None, m_step_max_iter: int = 25,
                 m_step_tol: float = 1e-2, *, m_steps: int | None = None, m_tol: float | None = None,
                 alpha_prior: float = 1.0,
                 beta_prior: float = 1.0, variant: str | None = None, backend: str = "local",
                 n_shards: int | None = None, **kw: Any) -> None:
        if labels_priors is not None:
            if kw.get("class_priors") is not None and kw["class_priors"] is not labels_priors:
                raise InvalidArgument("GLAD: give labels_priors or class_priors (its alias), not both")
            kw["class_priors"] = labels_priors
        kw.setdefault("verbose", not silent)
        super().__init__(**kw)
        self.n_iter, self.tol = n_iter, tol  # silent and labels_priors are views of verbose and class_priors
        # crowd-kit's names (and defaults); tagger's (m_steps, m_tol, alpha_prior, beta_prior) stay as
        # aliases. An alias and its name both moved from the default to different values is refused:
        # one of them would be dropped without a word (attrs.evolve(glad, m_steps=2) passes both).
        self.m_step_max_iter = self._alias("m_step_max_iter", m_step_max_iter, 25, "m_steps", m_steps)
        self.m_step_tol = self._alias("m_step_tol", m_step_tol, 1e-2, "m_tol", m_tol)
        self.alphas_priors_mean, self.betas_priors_mean = alphas_priors_mean, betas_priors_mean
        self.alpha_prior, self.beta_prior = alpha_prior, beta_prior
        self.variant, self.backend, self.n_shards = variant, backend, n_shards

    @staticmethod
    def _alias(name: str, value: Any, default: Any, alias: str, alias_value: Any) -> Any:
        if alias_value is None:
            return value
        if value != default and value != alias_value:
            raise InvalidArgument(f"GLAD: give {name} or {alias} (its alias), not both ({value!r} and {alias_value!r})")
        return alias_value

    @property
    def variant_(self) -> str:
        """The engine a fit runs: ``"crowdkit"`` or ``"tagger"`` (see the class docs)."""
        v = self.variant
        if v is None:
            return "crowdkit" if self.backend == "local" else "tagger"
        if v not in ("crowdkit", "tagger"):
            raise InvalidArgument(f"GLAD: variant must be 'crowdkit', 'tagger' or None, not {v!r}")
        if v == "crowdkit" and self.backend != "local":
            raise InvalidArgument(f"GLAD: backend={self.backend!r} runs on tagger's engine (the one the ledger "
                                  "re-executes); use variant='tagger' (or None) with it")
        return v

    # crowd-kit's names for verbose and class_priors, as views: a copy kept beside them went stale
    # when one was set after construction (g.labels_priors = p was ignored by the fit).
    @property
    def silent(self) -> bool:
        """crowd-kit's name: ``not verbose`` (setting it sets ``verbose``)."""
        return not self.verbose

    @silent.setter
    def silent(self, value: bool) -> None:
        self.verbose = not value

    @property
    def labels_priors(self) -> Any:
        """crowd-kit's name for ``class_priors`` (setting it sets ``class_priors``)."""
        return self.class_priors

    @labels_priors.setter
    def labels_priors(self, value: Any) -> None:
        self.class_priors = value

    @property
    def m_steps(self) -> int:
        """tagger's older name for ``m_step_max_iter`` (read only)."""
        return self.m_step_max_iter

    @property
    def m_tol(self) -> float:
        """tagger's older name for ``m_step_tol`` (read only)."""
        return self.m_step_tol

    def _init_args(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter, "tol": self.tol, "m_step_max_iter": self.m_step_max_iter,
                "variant": self.variant}

    @staticmethod
    def _prior_mean(value: Any, default: float, name: str) -> float:
        """The prior mean as the one number the core takes (a Series of equal values is that value)."""
        if value is None:
            return float(default)
        if isinstance(value, pd.Series):
            v = np.unique(value.to_numpy(dtype=float))
            if len(v) != 1:
                raise InvalidArgument(f"GLAD: {name} must hold one value for all (per-item prior means are not supported)")
            return float(v[0])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidArgument(f"GLAD: {name} must be a number or a Series, got {value!r}")
        return float(value)

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        ap = self._prior_mean(self.alphas_priors_mean, self.alpha_prior, "alphas_priors_mean")
        bp = self._prior_mean(self.betas_priors_mean, self.beta_prior, "betas_priors_mean")
        if self.variant_ == "crowdkit":
            return _core.consensus_crowdkit.glad(
                *answers.core_args(), n_iter=self.n_iter, tol=self.tol, gold=common["gold"],
                class_priors=common["class_priors"], label_order=self._label_order_ck(answers),
                alpha_prior=ap, beta_prior=bp, m_step_max_iter=self.m_step_max_iter, m_step_tol=self.m_step_tol,
                threads=common["threads"], callback=common.get("callback"))
        if self.backend != "local" and answers.n:  # sharded: same results (tagger.consensus.distributed)
            from .distributed import fit_answers
            return fit_answers("glad", answers, backend=self.backend, n_shards=self.n_shards,
                               m_steps=self.m_step_max_iter, m_tol=self.m_step_tol, alpha_prior=ap, beta_prior=bp,
                               n_iter=self.n_iter, tol=self.tol, **common)
        return _core.consensus.glad(*answers.core_args(), m_steps=self.m_step_max_iter, m_tol=self.m_step_tol,
                                    alpha_prior=ap, beta_prior=bp, n_iter=self.n_iter, tol=self.tol, **common)

    def _label_order_ck(self, answers: Answers) -> np.ndarray:
        """crowd-kit's label order (its frame's order, which fixes its sums' order):
        ``labels_priors``' index, else first appearance in the data; labels
        declared with ``labels=`` but never answered come last."""
        K = len(answers.label_names)
        priors = self.class_priors
        if isinstance(priors, pd.Series):
            pos = answers.label_names.get_indexer(priors.index)
            first = pos[pos >= 0]
        else:
            codes, idx = np.unique(answers.label, return_index=True)
            first = codes[np.argsort(idx, kind="stable")]
        rest = np.setdiff1d(np.arange(K), first)
        return np.concatenate([first, rest]).astype(np.int32)

    def _extra(self, answers: Answers, out: dict[str, Any]) -> None:
        out.setdefault("abilities", np.zeros(0))
        out.setdefault("difficulties", np.zeros(0))
        self.alphas_ = pd.Series(out["abilities"], index=answers.worker_names.rename("worker"), name="alpha")
        self.betas_ = pd.Series(np.log(out["difficulties"]), index=answers.task_names.rename("task"), name="beta")
