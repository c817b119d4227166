r"""Agreement and uncertainty metrics (``tg.consensus.metrics``).

Names follow crowd-kit's ``crowdkit.metrics`` where it has one
(:func:`alpha_krippendorff`, :func:`uncertainty`, :func:`consistency`,
:func:`accuracy_on_aggregates`); :func:`krippendorff_alpha` takes the
arguments of the ``krippendorff`` package's ``alpha`` and gives its values
(to 1e-9, tested). The sums run in C++ (``tagger/consensus.h``, metrics.cc).

Krippendorff's alpha: with the coincidence matrix
:math:`o_{ck} = \sum_u n_{uc}(n_{uk} - [c=k]) / (n_u - 1)` over units with
:math:`n_u \ge 2` values, :math:`n_c = \sum_k o_{ck}`, :math:`n = \sum_c n_c`
and :math:`e_{ck} = (n_c n_k - [c=k] n_c)/(n-1)`,
:math:`\alpha = 1 - \sum o_{ck}\,\delta_{ck} / \sum e_{ck}\,\delta_{ck}`,
where :math:`\delta` is the level's distance: nominal :math:`[c \ne k]`,
ordinal :math:`(\sum_{g=c}^{k} n_g - (n_c+n_k)/2)^2`, interval
:math:`(v_c - v_k)^2`, ratio :math:`((v_c-v_k)/(v_c+v_k))^2`.

Fleiss' kappa over tasks with at least 2 answers:
:math:`\kappa = (\bar P - P_e)/(1 - P_e)`, with
:math:`P_t = \sum_k n_{tk}(n_{tk}-1) / (n_t(n_t-1))`,
:math:`\bar P` their mean and :math:`P_e = \sum_k p_k^2`, :math:`p_k` the
share of label :math:`k` among those tasks' answers.

Where a metric is undefined (no task with two answers, no variation at all),
:class:`~tagger.errors.InvalidArgument` says so instead of returning NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument
from ._checks import one_row_each
from .base import Answers, BaseClassifier, _plain, _sorted_by_index, check_confidence, factorize

__all__ = ["krippendorff_alpha", "alpha_krippendorff", "fleiss_kappa", "uncertainty", "consistency",
           "accuracy_on_aggregates", "worker_consistency", "item_uncertainty", "LEVELS"]

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _level(level: Any) -> str:
    if level not in LEVELS:
        raise InvalidArgument(f"level of measurement must be one of {list(LEVELS)}, not {level!r}")
    return str(level)


def _answers(answers: pd.DataFrame, needs: str = "at least one task with 2 answers") -> Answers:
    a, _ = factorize(answers)
    if a.n == 0:
        raise InvalidArgument(f"answers are empty: the metric needs {needs}")
    return a


def _scale(a: Answers, column: pd.Series, level: str) -> tuple[np.ndarray, np.ndarray]:
    """The label codes and the increasing values the alpha of ``level`` takes: the label index
    itself for nominal; else the labels renumbered in the scale's order, with their numbers
    (interval, ratio) or ranks (ordinal). The order is an ordered Categorical's for ordinal (a
    declared "low" < "mid" < "high" was read alphabetically), else the numeric one where the
    labels are numbers, also as text ("10" after "9"; interval and ratio refused such labels,
    whose text order is not increasing), else the sorted one."""
    if level == "nominal":
        return a.label, np.arange(len(a.label_names), dtype=np.float64)
    dtype = column.dtype
    if level == "ordinal" and isinstance(dtype, pd.CategoricalDtype) and dtype.ordered:
        values = dtype.categories.get_indexer(a.label_names).astype(np.float64)
    else:
        values = _numeric_values(a.label_names, level)
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    same = np.flatnonzero(ranked[1:] == ranked[:-1])
    if len(same):
        i, j = order[same[0]], order[same[0] + 1]
        raise InvalidArgument(f"{level} alpha: labels {_plain(a.label_names[i])!r} and {_plain(a.label_names[j])!r} are "
                              f"the same number ({ranked[same[0]]:g}); write each value one way")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    if level == "ordinal":
        ranked = np.arange(len(order), dtype=np.float64)
    return rank[a.label], ranked


def _numeric_values(names: pd.Index, level: str) -> np.ndarray:
    if level == "nominal":
        return np.arange(len(names), dtype=np.float64)
    try:
        values = np.asarray(names, dtype=np.float64)
    except (TypeError, ValueError):
        if level == "ordinal":  # ordered labels that are not numbers: their sorted order is the scale
            return np.arange(len(names), dtype=np.float64)
        raise InvalidArgument(f"{level} alpha needs numeric labels; got {[_plain(v) for v in names[:5]]!r}") from None
    if not np.all(np.isfinite(values)):
        raise InvalidArgument(f"{level} alpha needs finite labels")
    return values


def krippendorff_alpha(reliability_data: Any = None, value_counts: Any = None, value_domain: Any = None,
                       level_of_measurement: str = "interval", dtype: Any = np.float64) -> float:
    """Krippendorff's alpha with the ``krippendorff`` package's arguments.

    ``reliability_data``: (coders x units) array, NaN = missing; or
    ``value_counts``: (units x values) counts. ``value_domain``: the ordered
    values (default: the sorted values present, or ``range(V)`` for counts).
    ``level_of_measurement``: ``"nominal"``, ``"ordinal"``, ``"interval"``
    (the default, as the package) or ``"ratio"``. ``dtype``: taken for the package's signature;
    a floating type, and the sums always run in float64.
    """
    level = _level(level_of_measurement)
    try:
        floating = np.issubdtype(np.dtype(dtype), np.floating)
    except TypeError:
        floating = False
    if not floating:
        raise InvalidArgument(f"dtype must be a floating type (the sums run in float64), not {dtype!r}")
    if (reliability_data is None) == (value_counts is None):
        raise InvalidArgument("give either reliability_data or value_counts, not both and not neither")
    if value_counts is None:
        if isinstance(reliability_data, pd.DataFrame) and {"task", "worker", "label"} <= set(reliability_data.columns):
            # Read as a matrix, a long frame of answers gives a number that means nothing.
            raise InvalidArgument("reliability_data looks like answers (columns task, worker, label): use "
                                  "alpha_krippendorff(answers, distance=...), or pass the coders x units matrix "
                                  "answers.pivot(index='worker', columns='task', values='label')")
        data = np.asarray(reliability_data)
        if data.ndim != 2:
            raise InvalidArgument(f"reliability_data must be 2-d (coders x units), got {data.ndim}-d")
        missing: np.ndarray | None = None
        if data.dtype == object:
            data, missing = _plain_matrix(data)
        if data.dtype.kind in "iuf":
            data = data.astype(np.float64)
            missing = np.isnan(data)
            present = np.unique(data[~missing])
        elif data.dtype.kind in "US":
            if missing is None:  # a str array: NaN became the text "nan" when it was built
                missing = data == "nan"
            present = np.unique(data[~missing])
            if value_domain is None and level != "nominal":
                raise InvalidArgument("string reliability data needs an ordered value_domain unless the level is nominal")
        else:
            raise InvalidArgument(f"reliability_data must hold numbers or strings, not dtype {data.dtype}")
        domain = present if value_domain is None else np.asarray(value_domain)
        if value_domain is not None and not np.isin(present, domain).all():
            raise InvalidArgument("reliability_data holds values outside value_domain: "
                                  f"{list(present[~np.isin(present, domain)][:5])}")
    else:
        try:
            counts = np.asarray(value_counts, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidArgument("value_counts must hold numbers (counts per unit and value), not "
                                  f"{np.asarray(value_counts).dtype} values") from None
        if counts.ndim != 2:
            raise InvalidArgument(f"value_counts must be 2-d (units x values), got {counts.ndim}-d")
        domain = np.arange(counts.shape[1]) if value_domain is None else np.asarray(value_domain)
        if len(domain) != counts.shape[1]:
            raise InvalidArgument(f"value_domain has {len(domain)} values for {counts.shape[1]} value_counts columns")
    if domain.ndim != 1:
        raise InvalidArgument(f"value_domain must be 1-d (the values, in order), got {domain.ndim}-d")
    if len(np.unique(domain)) != len(domain):
        _, first, seen = np.unique(domain, return_index=True, return_counts=True)
        raise InvalidArgument(f"value_domain lists {domain[first[seen > 1][0]].tolist()!r} more than once; each value once")
    if level == "nominal" or domain.dtype.kind not in "iuf":
        if level in ("interval", "ratio"):
            raise InvalidArgument(f"{level} alpha needs a numeric value_domain")
        values = np.arange(len(domain), dtype=np.float64)
    else:
        values = domain.astype(np.float64)
    if value_counts is not None:
        return float(_core.consensus_metrics.krippendorff_alpha_counts(counts, values, level))
    # The answers present, as (unit, coder, value index) triples: the package's units x coders x
    # values comparison cube is 10^11 cells for 10,000 continuous ratings by 10 coders.
    assert missing is not None
    coder, unit = np.nonzero(~missing)
    cells = data[coder, unit]
    order = np.argsort(domain, kind="stable")
    index = order[np.searchsorted(domain[order], cells)]
    return float(_core.consensus_metrics.krippendorff_alpha(
        unit.astype(np.int32), coder.astype(np.int32), index.astype(np.int32), data.shape[1], data.shape[0],
        len(domain), values, level))


def _plain_matrix(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An object matrix (what ``answers.pivot(...)`` gives for string labels, or pandas' nullable
    columns) as numbers or strings, and the mask of its missing entries (None, NaN, pd.NA): a
    label that is the text "nan" is a label (it was read as missing)."""
    missing = np.asarray(pd.isna(data), dtype=bool)
    present = data[~missing]
    kind = pd.api.types.infer_dtype(present, skipna=True)  # one pass in C, not a Python loop per cell
    if kind in ("integer", "floating", "mixed-integer-float", "decimal", "empty"):
        out = np.full(data.shape, np.nan)
        out[~missing] = present.astype(np.float64)
        return out, missing
    if kind == "string":
        return np.where(missing, "", data).astype(str), missing
    kinds = sorted({type(v).__name__ for v in present[:1000]})
    raise InvalidArgument("reliability_data must hold numbers or strings (None/NaN for missing), not "
                          f"{'a mix of ' if len(kinds) > 1 else ''}{', '.join(kinds)} values")


def alpha_krippendorff(answers: pd.DataFrame, distance: str = "nominal") -> float:
    """Krippendorff's alpha of a ``task, worker, label`` frame (crowd-kit's
    name; crowd-kit's default binary distance is ``"nominal"``). For
    ``"ordinal"`` the labels' order is the scale (numeric order where they are numbers); ``"interval"`` and
    ``"ratio"`` read the labels as numbers (also when they are text, ``"10"``). An ordered
    pandas Categorical label column gives the ordinal scale its categories' order."""
    level = _level(distance)
    a = _answers(answers)
    task, worker, _, n_tasks, n_workers, n_labels = a.core_args()
    label, values = _scale(a, answers["label"], level)
    return float(_core.consensus_metrics.krippendorff_alpha(task, worker, label, n_tasks, n_workers, n_labels,
                                                            values, level))


def fleiss_kappa(answers: pd.DataFrame) -> float:
    """Fleiss' kappa of a ``task, worker, label`` frame (formula in the module
    docstring); tasks with fewer than 2 answers are left out."""
    return float(_core.consensus_metrics.fleiss_kappa(*_answers(answers).core_args()))


def _skills(a: Answers, workers_skills: pd.Series | None, aggregator: BaseClassifier | None,
            answers: pd.DataFrame) -> np.ndarray | None:
    if workers_skills is None and aggregator is not None:
        aggregator = _aggregate(answers, aggregator)
        workers_skills = getattr(aggregator, "skills_", None)
        if workers_skills is None:
            raise InvalidArgument(f"{type(aggregator).__name__} estimates no worker skills to weight by")
    if workers_skills is None:
        return None
    if not isinstance(workers_skills, (pd.Series, dict)):
        raise InvalidArgument("workers_skills must be a pandas Series (or dict) indexed by worker, not "
                              f"{type(workers_skills).__name__}: an array has no worker names to match")
    if isinstance(workers_skills, pd.Series):
        one_row_each(workers_skills.index, "workers_skills has more than one skill for worker")
    given = pd.Series(workers_skills)
    w = given.reindex(a.worker_names)
    if w.isna().any():
        gone = a.worker_names[w.isna().to_numpy()]
        listed = gone.isin(given.index)
        if listed.any():
            raise InvalidArgument(f"workers_skills has no value (NaN) for worker(s) {[_plain(v) for v in gone[listed][:5]]}")
        raise InvalidArgument(f"workers_skills lacks worker(s) {[_plain(v) for v in gone[:5]]}")
    return w.to_numpy(dtype=np.float64)


def uncertainty(answers: pd.DataFrame, workers_skills: pd.Series | None = None,
                aggregator: BaseClassifier | None = None, compute_by: str = "task",
                aggregate: bool = True) -> float | pd.Series:
    r"""Entropy (nats) of the label distribution of each task (``compute_by="task"``) or each
    worker (``"worker"``), as crowd-kit's ``uncertainty``; ``aggregate=True`` returns the mean,
    else a Series.

    Without skills each answer counts once (the entropy of the answers' label shares). With
    ``workers_skills`` (Series worker -> accuracy in [0, 1]), or the ``skills_`` a given
    ``aggregator`` fits, an answer of a worker with skill :math:`s` puts :math:`s` on its label
    and :math:`(1-s)/(K-1)` on each of the other :math:`K-1` labels of the data; the group's sums
    are normalized and their entropy taken. Skills outside [0, 1] (e.g. MMSR's log-odds) are
    refused: they would make negative "probabilities"."""
    if compute_by not in ("task", "worker"):
        raise InvalidArgument(f"compute_by must be 'task' or 'worker', not {compute_by!r}")
    a = _answers(answers, "at least one answer")
    s = _skills(a, workers_skills, aggregator, answers)
    by_task = compute_by == "task"
    names = (a.task_names.rename("task") if by_task else a.worker_names.rename("worker"))
    if s is None:
        nt, nw, nl = a.sizes
        h = (_core.consensus_metrics.answer_entropy(*a.core_args(), None) if by_task else
             _core.consensus_metrics.answer_entropy(a.worker, a.task, a.label, nw, nt, nl, None))
    else:
        h = _spread_entropy(a, s, a.task if by_task else a.worker, len(names))
    out = _sorted_by_index(pd.Series(h, index=names))  # crowd-kit's sorting groupby; unnamed, as its Series
    return float(out.mean()) if aggregate else out


def _accuracies(a: Answers, skills: np.ndarray, what: str, hint: str = "") -> None:
    """InvalidArgument naming the first worker whose skill is not an accuracy in [0, 1]."""
    bad = ~((skills >= 0) & (skills <= 1))
    if bad.any():
        w = int(np.flatnonzero(bad)[0])
        raise InvalidArgument(f"{what} takes skills as accuracies in [0, 1]; worker {_plain(a.worker_names[w])!r} has "
                              f"{float(skills[w])}{hint}")


def _spread_entropy(a: Answers, skills: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """crowd-kit's skill-spread label distribution per group, and its entropy (see uncertainty)."""
    _accuracies(a, skills, "uncertainty")
    k = len(a.label_names)
    s = skills[a.worker]
    # Every answer spreads (1 - s) / (K - 1) over all labels, then tops its own label up to s.
    spread = (1.0 - s) / (k - 1) if k > 1 else np.zeros_like(s)
    g = group.astype(np.int64)
    p = np.repeat(np.bincount(g, weights=spread, minlength=n_groups)[:, None], k, axis=1)
    p += np.bincount(g * k + a.label, weights=s - spread, minlength=n_groups * k).reshape(n_groups, k)
    total = p.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = p / total
        h = -np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0).sum(axis=1)
    h[total[:, 0] <= 0] = np.nan  # every answer with skill 0 and one label: no distribution (crowd-kit: NaN)
    return h


def _aggregate(answers: pd.DataFrame, aggregator: BaseClassifier | None) -> BaseClassifier:
    """``aggregator`` fitted on ``answers``, without touching the caller's estimator: itself when
    it is already fitted on these very answers (its own options, e.g. MajorityVote's skills or
    CROWDLAB's model, kept; a copy of it), else a copy fitted here (MajorityVote when None). The metrics
    used to refit the estimator passed in, replacing the caller's fit."""
    import copy

    from .voting import MajorityVote

    if aggregator is None:
        return MajorityVote().fit(answers)
    check_aggregator(aggregator)
    # A copy, taken under the estimator's lock, is one whole fit even while another thread refits
    # the estimator (its answers_ then its labels_ and skills_ read from the live one could come
    # from two fits: the metric of a fit on other answers).
    est = copy.copy(aggregator)
    fitted = est.__dict__.get("answers_")
    # After a predict on other answers (Wawa, ZeroBasedSkill, GoldMajorityVote, MMSR) labels_ and
    # probas_ are of those: read beside answers_, consistency gave 0 for every task.
    voted = est.__dict__.get("_voted_on")
    if fitted is not None and "_out" in est.__dict__ and _same_answers(fitted, answers) \
            and (voted is None or _same_answers(voted, answers)):
        return est
    est.fit_predict(answers)  # (the two-stage Wawa/ZBS: labels_ of the weighted vote, as crowd-kit's metrics)
    return est


def check_aggregator(aggregator: Any, needs_posteriors: str = "") -> None:
    """InvalidArgument unless ``aggregator`` is an estimator instance (any with ``fit_predict``,
    crowd-kit's too) and, where ``needs_posteriors`` names the caller, a tagger classifier whose
    ``quality()`` gives the posteriors it reads."""
    if isinstance(aggregator, type) or not callable(getattr(aggregator, "fit_predict", None)):
        what = f"the class {aggregator.__name__}" if isinstance(aggregator, type) else repr(aggregator)[:60]
        raise InvalidArgument(f"aggregator must be an estimator instance such as MajorityVote() or DawidSkene(), "
                              f"not {what}")
    if needs_posteriors:
        if not isinstance(aggregator, BaseClassifier):
            raise InvalidArgument(f"{needs_posteriors} needs a classification aggregator of tagger.consensus (its "
                                  f"posteriors per label); {type(aggregator).__name__} is not one")
        aggregator._require_posteriors(needs_posteriors)


def _same_answers(fitted: Answers, answers: pd.DataFrame) -> bool:
    try:
        a, _ = factorize(answers, labels=list(fitted.label_names))
    except InvalidArgument:
        return False
    return (a.n == fitted.n and a.task_names.equals(fitted.task_names) and a.worker_names.equals(fitted.worker_names)
            and np.array_equal(a.task, fitted.task) and np.array_equal(a.worker, fitted.worker)
            and np.array_equal(a.label, fitted.label))



def consistency(answers: pd.DataFrame, workers_skills: pd.Series | None = None,
                aggregator: BaseClassifier | None = None, by_task: bool = False) -> float | pd.Series:
    r"""Posterior probability of each task's aggregated label under a one-coin model of the
    workers, as crowd-kit's ``consistency``: with skills :math:`s_w` (``workers_skills``, else
    the ``skills_`` that ``aggregator``, default MajorityVote, fits; accuracies in [0, 1]),

    .. math:: P(z_t = \hat z_t) = \frac{\prod_{j \in t} p_j(\hat z_t)}{\sum_k \prod_{j \in t} p_j(k)},
              \quad p_j(k) = s_{w_j} \text{ if } y_j = k \text{ else } \frac{1 - s_{w_j}}{K - 1}

    over the K labels of the data, :math:`\hat z_t` the aggregator's label (0 where every
    product is 0). The products are taken in log space, so a task with hundreds of answers does
    not underflow to 0 as it does in crowd-kit. The mean over tasks, or the per-task Series with
    ``by_task=True`` (sorted by task, as crowd-kit's)."""
    a, answers = factorize(answers)
    if a.n == 0:
        raise InvalidArgument("answers are empty: the metric needs at least one answer")
    est = _aggregate(answers, aggregator)
    aggregated = est.labels_
    if workers_skills is None:
        workers_skills = getattr(est, "skills_", None)
        if workers_skills is None:
            raise InvalidArgument(f"{type(est).__name__} estimates no worker skills; pass workers_skills=")
    s = _skills(a, workers_skills, None, answers)
    assert s is not None
    _accuracies(a, s, "consistency", " (pass workers_skills= for an aggregator whose skills_ are weights)")
    k, n_tasks = len(a.label_names), len(a.task_names)
    sk = s[a.worker]
    with np.errstate(divide="ignore"):
        log_own = np.log(sk)
        log_other = np.log((1.0 - sk) / (k - 1)) if k > 1 else np.full_like(sk, -np.inf)
    # log prod_j p_j(k), column by column: an answer's own label gets log s, the others
    # log (1 - s)/(K - 1); a skill of 0 or 1 gives -inf terms (a label ruled out), summed as such.
    contrib = np.repeat(log_other[:, None], k, axis=1)
    contrib[np.arange(a.n), a.label] = log_own
    logp = np.zeros((n_tasks, k))
    np.add.at(logp, a.task, contrib)
    agg_code = a.label_names.get_indexer(pd.Index(aggregated.reindex(a.task_names).to_numpy()))
    top = logp.max(axis=1)
    out = np.zeros(n_tasks)
    ok = np.isfinite(top) & (agg_code >= 0)
    with np.errstate(over="ignore", invalid="ignore"):
        z = np.exp(logp[ok] - top[ok, None])
        out[ok] = z[np.arange(int(ok.sum())), agg_code[ok]] / z.sum(axis=1)
    series = _sorted_by_index(pd.Series(out, index=a.task_names.rename("task")))  # unnamed, as crowd-kit's
    return series if by_task else float(series.mean())


def accuracy_on_aggregates(answers: pd.DataFrame, aggregator: BaseClassifier | None = None,
                           aggregates: pd.Series | None = None, by: str | None = None) -> float | pd.Series:
    """Share of answers equal to the aggregated label (crowd-kit's name):
    overall, or per worker with ``by="worker"`` (a Series indexed by worker, sorted). ``aggregates``
    (Series task -> label) skips fitting; as crowd-kit, only the answers to tasks it labels are
    scored (a gold subset), and a ``weight`` column of the answers weights each one. Else
    ``aggregator`` (default MajorityVote) gives them: as fitted when it was fitted on these
    answers, else a copy fitted here (the estimator passed in is left as it was). A worker's
    repeated answer to a task counts once, as its last answer (the one the aggregators keep;
    crowd-kit scores both)."""
    if by not in (None, "worker"):
        raise InvalidArgument(f"by must be None or 'worker', not {by!r}")
    # The answers the aggregate was fitted on: a worker's repeated answer to a task replaces the
    # earlier one (on_duplicate="keep_last"), so the superseded one is not scored either.
    a, answers = factorize(answers)
    if a.n == 0:
        raise InvalidArgument("answers are empty: the metric needs at least one answer")
    if aggregates is None:
        aggregates = _aggregate(answers, aggregator).labels_
    elif not isinstance(aggregates, (pd.Series, dict)):
        raise InvalidArgument(f"aggregates must be a pandas Series indexed by task, not {type(aggregates).__name__}")
    aggregates = pd.Series(aggregates)
    one_row_each(aggregates.index, "aggregates has more than one label for task")
    ref = answers["task"].map(aggregates)
    scored = ref.notna().to_numpy()
    if not scored.any():
        sample = aggregates.index[:1].tolist()
        raise InvalidArgument("aggregates labels none of the answers' tasks (first task "
                              f"{_plain(answers['task'].iloc[0])!r}, first of aggregates {[_plain(v) for v in sample]}): "
                              "the task ids must be the same values and type")
    weight = np.ones(len(answers))
    if "weight" in answers.columns:
        weight = pd.to_numeric(answers["weight"], errors="coerce").to_numpy(dtype=np.float64)
        bad = scored & ~(np.isfinite(weight) & (weight >= 0))  # (rows not scored are not read, as crowd-kit)
        if bad.any():
            raise InvalidArgument(f"column 'weight' must hold finite numbers >= 0; row {int(np.flatnonzero(bad)[0])} "
                                  f"holds {_plain(answers['weight'].iloc[int(np.flatnonzero(bad)[0])])!r}")
        weight = np.where(scored, weight, 0.0)
    right = np.where(scored, answers["label"].to_numpy() == ref.to_numpy(), False) * weight
    weight = np.where(scored, weight, 0.0)
    if by is None:
        if not weight.sum() > 0:
            raise InvalidArgument("the scored answers' weights sum to 0: no accuracy to give")
        return float(right.sum() / weight.sum())
    workers = answers["worker"].to_numpy()[scored]
    score = pd.DataFrame({"score": right[scored], "weight": weight[scored]}).groupby(workers).sum()
    out = score["score"] / score["weight"]  # (a worker whose weights sum to 0: NaN, as crowd-kit's)
    return out.rename(None).rename_axis("worker")


def worker_consistency(answers: pd.DataFrame, aggregator: BaseClassifier | None = None,
                       confidence: float = 0.95) -> pd.DataFrame:
    """Per worker: ``n_answers``, ``agreement`` (share of answers equal to the
    consensus label of ``aggregator``, default MajorityVote), expected
    ``accuracy`` (mean posterior of the worker's labels) and its Wilson
    interval ``accuracy_low``/``accuracy_high`` at ``confidence``."""
    check_confidence(confidence, "worker_consistency")  # here: quality()'s message named quality()
    if aggregator is not None:  # before any fit, naming this function (not quality())
        check_aggregator(aggregator, "worker_consistency")
    _answers(answers, "at least one answer")
    est = _aggregate(answers, aggregator)
    q = est.quality(confidence=confidence)
    return q.workers[["n_answers", "agreement", "accuracy", "accuracy_low", "accuracy_high"]]


def item_uncertainty(answers: pd.DataFrame, aggregator: BaseClassifier | None = None) -> pd.DataFrame:
    """Per task: posterior ``entropy`` (nats), ``margin`` (top-1 minus top-2
    posterior) and the answer-distribution entropy ``answer_entropy``, from
    ``aggregator`` (default MajorityVote)."""
    if aggregator is not None:
        check_aggregator(aggregator, "item_uncertainty")
    a = _answers(answers, "at least one answer")
    est = _aggregate(answers, aggregator)
    q = est.quality()
    h = _core.consensus_metrics.answer_entropy(*a.core_args(), None)
    out = q.tasks[["entropy", "margin"]].copy()
    out["answer_entropy"] = pd.Series(h, index=a.task_names).reindex(out.index).to_numpy()
    return out
