"""Dawid-Skene family: full confusion matrices and the one-coin model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument
from .base import Answers, BaseClassifier, errors_frame

__all__ = ["DawidSkene", "OneCoinDawidSkene"]


class DawidSkene(BaseClassifier):
    r"""Dawid-Skene: each worker :math:`w` has a confusion matrix
    :math:`e^w_{k,l} = P(y = l \mid z = k)`; classes have priors :math:`\pi`.

    EM, started from the majority-vote shares:

    * E-step: :math:`P(z_t = k) \propto \pi_k \prod_{j \in t} e^{w_j}_{k, y_j}` (log space);
    * M-step: :math:`e^w_{k,l} \propto \max(\sum_{j: w_j = w, y_j = l} P(z_{t_j} = k) + \lambda, 10^{-10})`,
      :math:`\pi_k \propto \sum_t P(z_t = k) + \lambda` (``smoothing`` = :math:`\lambda`, Laplace).

    ``variant`` picks the engine:

    * ``"crowdkit"`` (the default for a local fit) is crowd-kit 1.4's EM step
      for step: the M-step clips counts at :math:`10^{-10}` over the (worker,
      label) pairs that occur only, so a label a worker never gave has
      probability 0; after each M-step the objective is crowd-kit's ELBO per
      answer, and EM stops once it rises by less than ``tol``.
      ``initial_error_strategy`` (``"assign"``/``"addition"``) with
      ``fit(data, initial_error=...)`` seeds the first M-step as crowd-kit
      documents. C++ on ``threads`` threads, the same bits for any number
      (cpp/src/consensus/crowdkit_em.cc).
    * ``"tagger"`` is the engine the ledger re-executes at finalize
      (multi-threaded, bit-identical for any thread count): every confusion
      entry is clipped at :math:`10^{-10}` and ``smoothing`` adds a Laplace
      count; it stops when the log-likelihood per answer rises by less than
      ``tol``. ``backend="ray"``/``"inprocess"`` (sharded, docs/scale.md),
      ``smoothing`` and ``class_priors`` need it: with the default
      ``variant=None`` they select it, with ``variant="crowdkit"`` they are
      refused. Labels differ from crowd-kit's on a few tasks where workers
      answer a handful of items (docs/consensus.md).

    Gold labels (``fit(data, true_labels)``) are
    clamped to one-hot posteriors. ``errors_`` is crowd-kit's frame:
    ``errors_.loc[(worker, observed), true]``; ``skills_`` is
    :math:`\sum_k \pi_k e^w_{k,k}`.

    A. P. Dawid and A. M. Skene, "Maximum Likelihood Estimation of Observer
    Error-Rates Using the EM Algorithm", J. R. Stat. Soc. C 28(1):20-28, 1979.

    >>> import pandas as pd, tagger as tg
    >>> df = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": list("abcabc"), "label": [0, 0, 1, 1, 1, 1]})
    >>> tg.consensus.DawidSkene(n_iter=10).fit_predict(df).tolist()
    [0, 1]
    """

    _method = "dawid_skene"
    _iterative = True
    _errors: pd.DataFrame | None  # built on first use of errors_

    # crowd-kit's columns and priors follow the start's (MajorityVote's value_counts: first appearance).
    _task_order = _label_order = _priors_order = "appearance"

    def _confusion_tables(self) -> int:
        return 4  # expected counts, errors, their logs and the reported errors (crowd-kit's engine)

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, initial_error_strategy: str | None = None,
                 smoothing: float = 0.0, *, variant: str | None = None, backend: str = "local",
                 n_shards: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.n_iter, self.tol, self.smoothing = n_iter, tol, smoothing
        self.initial_error_strategy, self.variant = initial_error_strategy, variant
        self.backend, self.n_shards = backend, n_shards

    def _init_args(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter, "tol": self.tol, "smoothing": self.smoothing, "variant": self.variant}

    def _params(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter, "tol": self.tol, "smoothing": self.smoothing}

    @property
    def variant_(self) -> str:
        """The engine a fit runs: ``"crowdkit"`` or ``"tagger"`` (see the class docs)."""
        owner = type(self).__name__
        v = self.variant
        needs_tagger = [name for name, on in (("backend=" + repr(self.backend), self.backend != "local"),
                                              ("smoothing", bool(self.smoothing)),
                                              ("class_priors", self.class_priors is not None)) if on]
        if v is None:
            return "tagger" if needs_tagger else "crowdkit"
        if v not in ("crowdkit", "tagger"):
            raise InvalidArgument(f"{owner}: variant must be 'crowdkit', 'tagger' or None, not {v!r}")
        if v == "crowdkit" and needs_tagger:
            raise InvalidArgument(f"{owner}: {', '.join(needs_tagger)} run(s) on tagger's engine (the one the ledger "
                                  "re-executes); use variant='tagger' (or None) with them")
        return v

    def fit(self, data: pd.DataFrame, true_labels: pd.Series | None = None,
            initial_error: pd.DataFrame | None = None) -> DawidSkene:
        """EM on ``data``; ``true_labels`` clamps gold tasks; ``initial_error``
        (a frame indexed by (worker, label), a column per true label) seeds the
        first M-step by ``initial_error_strategy``."""
        self._initial_error = initial_error
        try:
            self._fit(data, true_labels)
        finally:
            self._initial_error = None
        return self

    def _initial(self, answers: Answers) -> dict[str, Any]:
        ie = getattr(self, "_initial_error", None)
        strategy = self.initial_error_strategy
        if strategy not in (None, "assign", "addition"):
            raise InvalidArgument(f"Invalid initial_error_strategy: {strategy!r}, should be 'assign' or 'addition'")
        if ie is None or strategy is None:
            return {}
        owner = type(self).__name__
        if not isinstance(ie, pd.DataFrame):
            raise InvalidArgument(f"{owner}: initial_error must be a DataFrame indexed by (worker, label)")
        if list(ie.index.names) != ["worker", "label"]:
            raise InvalidArgument(f"{owner}: the index of initial_error must be ['worker', 'label'], got {list(ie.index.names)}")
        W, K = len(answers.worker_names), len(answers.label_names)
        vals = ie.reindex(columns=answers.label_names).to_numpy(dtype=float)
        if strategy == "assign" and np.isnan(vals).any():
            raise InvalidArgument(f"{owner}: initial_error (assign) needs a finite column for every label "
                                  f"{list(answers.label_names)}")
        vals = np.nan_to_num(vals, nan=0.0)
        if not np.isfinite(vals).all() or (vals < 0).any():
            raise InvalidArgument(f"{owner}: initial_error values must be finite and >= 0")
        wpos = answers.worker_names.get_indexer(ie.index.get_level_values("worker"))
        lpos = answers.label_names.get_indexer(ie.index.get_level_values("label"))
        ok = (wpos >= 0) & (lpos >= 0)  # rows of workers or labels not in the data play no part
        values = np.zeros((W, K, K))
        values[wpos[ok], :, lpos[ok]] = vals[ok]
        given = np.zeros((W, K), dtype=np.uint8)
        given[wpos[ok], lpos[ok]] = 1
        if strategy == "assign":
            seen = np.zeros((W, K), dtype=bool)
            seen[answers.worker, answers.label] = True
            lack = seen & (given == 0)
            if lack.any():
                w = np.flatnonzero(lack.any(axis=1))
                raise InvalidArgument(f"All the workers in data should be in initial_error: can not find {len(w)} "
                                      f"workers' error matrix (first {answers.worker_names[w[0]]!r}) in initial_error")
            if (vals <= 1.0).all():
                sums = pd.DataFrame(vals[ok], index=wpos[ok]).groupby(level=0).sum().to_numpy()
                if not np.allclose(sums, 1.0):
                    raise InvalidArgument("The sum of each worker's error matrix in initial_error should be 1.0")
        return {"strategy": 1 if strategy == "assign" else 2, "initial_error": values, "given": given}

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        variant = self.variant_
        init = self._initial(answers) if self._method == "dawid_skene" else {}
        if variant == "crowdkit":
            fn = getattr(_core.consensus_crowdkit, self._method)
            out = fn(*answers.core_args(), n_iter=common["n_iter"], tol=common["tol"], gold=common["gold"],
                     threads=common["threads"], callback=common.get("callback"), **init)
            if out["errors"] is not None and not len(out["skills"]):
                diag = np.nan_to_num(np.diagonal(out["errors"], axis1=1, axis2=2))
                # Not `diag @ priors`: a matrix product wakes OpenBLAS's threads, which then spin
                # for a while beside the next fit's C++ team (~2 % of a 1M-answer fit on 2 cores).
                out["skills"] = (diag * out["priors"]).sum(axis=1)
            return out
        if init:
            raise InvalidArgument(f"{type(self).__name__}: initial_error is taken by variant='crowdkit' only")
        if self.backend != "local" and answers.n:  # sharded: same results (tagger.consensus.distributed)
            from .distributed import fit_answers
            return fit_answers(self._method, answers, backend=self.backend, n_shards=self.n_shards, **common)
        fn = getattr(_core.consensus, self._method)
        return fn(*answers.core_args(), **common)

    def _extra(self, answers: Answers, out: dict[str, Any]) -> None:
        self._errors = None

    # Built on first use (a (workers x labels) x labels frame).
    @property
    def errors_(self) -> pd.DataFrame:
        """Confusion matrices as crowd-kit's frame: ``errors_.loc[(worker, observed), true]``."""
        errors: pd.DataFrame | None = self.__dict__.get("_errors")
        if errors is None:
            if "_out" not in self.__dict__:
                raise AttributeError(f"{type(self).__name__} is not fitted: errors_ is set by fit")
            err = self._out["errors"]
            errors = errors_frame(self.answers_, err) if err is not None else pd.DataFrame()
            a = self.answers_  # (a streamed fit keeps no answers: its frame stays in label order)
            if err is not None and len(a.worker) and (self.variant_ == "crowdkit" or np.isnan(err).any()):
                # crowd-kit's frame: the (worker, label) rows in use only, in order of first
                # appearance (its groupby(sort=False)), the columns in probas_'s order.
                pairs = pd.unique(a.worker.astype(np.int64) * len(a.label_names) + a.label)
                errors = errors.iloc[pairs]
                pos = self._seen_positions(errors.columns)
                if pos is not None:
                    errors = errors.iloc[:, pos]
            errors = errors.rename_axis(None, axis=1)  # crowd-kit's columns axis has no name
            self._errors = errors
        return errors

    @errors_.setter
    def errors_(self, value: pd.DataFrame) -> None:
        self._errors = value


class OneCoinDawidSkene(DawidSkene):
    r"""One-coin Dawid-Skene: worker :math:`w` is right with probability
    :math:`s_w` and otherwise answers uniformly among the other :math:`K-1`
    labels, i.e. :math:`e^w_{k,k} = s_w`, :math:`e^w_{k,l} = (1-s_w)/(K-1)`.
    M-step: :math:`s_w = \text{mean}_{j: w_j = w} P(z_{t_j} = y_j)`.

    ``variant="crowdkit"`` (default) is crowd-kit 1.4's: error rows exist only
    for the labels a worker gave, are clipped to :math:`[10^{-10}, 1-10^{-10}]`
    and not renormalized; ``"tagger"`` is the ledger's engine.

    Y. Zheng, G. Li, Y. Li, C. Shan, R. Cheng, "Truth Inference in
    Crowdsourcing: Is the Problem Solved?", PVLDB 10(5), 2017 (the "ZC" model).
    """

    _method = "one_coin_dawid_skene"
