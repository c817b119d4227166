"""Sharded consensus: the same EM as the single-process fit, with answers
split by task into shards that run the E-step (in the C++ core) where they
live, and an M-step on the summed sufficient statistics.

Backends:

* ``"inprocess"``: the shards live in this process (one after the other);
  useful to bound the working set of one E-step, and to test the sharding;
* ``"ray"``: one Ray actor per shard (``pip install 'tagger[ray]'``); the
  answers are put in Ray's object store once, as numpy columns (zero-copy),
  and each iteration sends only the parameters out and the statistics back.

Results are bit-identical to the single-process fit on any shard count: the
expected counts are summed in 64-bit fixed point (integer sums do not depend
on the partition) and shards start on the 2048-task blocks the log-likelihood
is summed in (``tagger._core.consensus_shard.TASK_ALIGN``), so the objective,
the convergence test and the iteration count are the same too.

GLAD's M-step is not a function of summed statistics (per worker, a float
sum over its answers in each Fisher round): the driver passes each worker's
running sums through the shards in task order (:meth:`ShardSet.chain`), so
they are added in the single-process order; the rest runs on every shard at
once.

Methods: ``dawid_skene``, ``one_coin_dawid_skene``, ``glad`` (EM), ``majority_vote``,
``weighted_majority_vote`` and ``wawa`` (one round: per-shard votes, then
per-worker agreement counts summed). Others raise InvalidArgument.

>>> import numpy as np, tagger as tg
>>> rng = np.random.default_rng(0)
>>> t = np.repeat(np.arange(5000, dtype=np.int32), 3)
>>> w = rng.integers(0, 50, t.size).astype(np.int32)
>>> y = rng.integers(0, 2, t.size).astype(np.int32)
>>> one = tg.consensus.dawid_skene(t, w, y, 2)
>>> two = fit_sharded("dawid_skene", t, w, y, 5000, 50, 2, n_shards=2)
>>> bool((one.labels == two["labels"]).all())
True
"""

from __future__ import annotations

import hashlib
import numbers
import threading

from typing import Any, Callable, Sequence

import numpy as np

from .. import _core
from .._fork import renew_after_fork
from ..errors import InvalidArgument

__all__ = ["SHARDED_METHODS", "partition", "fit_sharded", "ShardSet", "bytes_per_iteration"]

SHARDED_METHODS = ("dawid_skene", "one_coin_dawid_skene", "glad", "majority_vote", "weighted_majority_vote", "wawa")
GLAD_OPTIONS = ("m_steps", "m_tol", "alpha_prior", "beta_prior")
BACKENDS = ("inprocess", "ray")


def _cs() -> Any:
    return _core.consensus_shard


def partition(task: np.ndarray, n_tasks: int, n_shards: int) -> list[tuple[int, int]]:
    """Task ranges ``[t0, t1)`` of about equal answer counts, each starting on a
    multiple of ``TASK_ALIGN`` tasks (fewer ranges than asked when there are
    not enough blocks of tasks; never an empty range unless there are no tasks)."""
    if n_shards < 1:
        raise InvalidArgument(f"n_shards must be >= 1, got {n_shards}")
    align = int(_cs().TASK_ALIGN)
    if n_tasks <= 0:
        return [(0, 0)]
    per_task = np.bincount(task, minlength=n_tasks)[:n_tasks]
    n_blocks = (n_tasks + align - 1) // align
    block_answers = np.add.reduceat(per_task, np.arange(0, n_tasks, align)) if n_tasks else np.zeros(0, np.int64)
    cum = np.concatenate([[0], np.cumsum(block_answers)])  # answers before block b
    total = int(cum[-1])
    bounds = [0]
    for i in range(1, n_shards):
        target = total * i / n_shards
        b = int(np.searchsorted(cum, target))
        b = min(max(b, bounds[-1] + 1), n_blocks)
        if b >= n_blocks:
            break
        bounds.append(b)
    bounds.append(n_blocks)
    return [(b0 * align, min(b1 * align, n_tasks)) for b0, b1 in zip(bounds[:-1], bounds[1:])]


def _codes(values: Any, name: str, size: int) -> np.ndarray:
    """``values`` as int32 codes in [0, size), or InvalidArgument as the core gives it: ids from
    ``size`` on fell past the last shard's range and were dropped without a word."""
    a = np.asarray(values)
    if a.dtype.kind not in "iu" and len(a):
        raise InvalidArgument(f"{name} must hold integer codes, got dtype {a.dtype}")
    if len(a):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi >= size:
            bad = lo if lo < 0 else hi
            raise InvalidArgument(f"{name} index {bad} at row {int(np.flatnonzero(a == bad)[0])} is outside "
                                  f"[0, {size}) (n_{name}s = {size})")
    return np.ascontiguousarray(a, dtype=np.int32)


def _fingerprint(*arrays: np.ndarray) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.int64).data)  # (int64: codes past 2**32 must not wrap)
    return h.digest()


def _options_fingerprint(options: dict[str, Any] | None) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for k, v in sorted((options or {}).items()):
        h.update(k.encode())
        h.update(b"none" if v is None else np.ascontiguousarray(v, dtype=np.float64).data)
    return h.digest()


_VOTES = ("majority_vote", "weighted_majority_vote", "wawa")
# fit_sharded's defaults for the options a GLAD shard is built with (a ShardSet built without
# options holds these).
_GLAD_SHARD_DEFAULTS: dict[str, Any] = {"m_steps": 25, "m_tol": 1e-2, "alpha_prior": 1.0, "beta_prior": 1.0,
                                        "class_priors": None}


def _split(task: np.ndarray, worker: np.ndarray, label: np.ndarray, ranges: Sequence[tuple[int, int]]
           ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Answers of each task range, grouped by task in input order inside a
    task (the order the single-process fit uses), task ids made range-local."""
    task = np.asarray(task, dtype=np.int32)
    order = np.argsort(task, kind="stable") if (len(task) and (np.diff(task) < 0).any()) else None
    t = task if order is None else task[order]
    w = np.asarray(worker, dtype=np.int32) if order is None else np.asarray(worker, dtype=np.int32)[order]
    y = np.asarray(label, dtype=np.int32) if order is None else np.asarray(label, dtype=np.int32)[order]
    out = []
    for t0, t1 in ranges:
        i0, i1 = np.searchsorted(t, [t0, t1])
        out.append(((t[i0:i1] - t0).astype(np.int32), np.ascontiguousarray(w[i0:i1]), np.ascontiguousarray(y[i0:i1])))
    return out


class _Shard:
    """One shard's E-step state: the C++ shard object for the EM methods, or
    the shard's arrays for the voting methods. Lives in the driver
    (inprocess) or inside a Ray actor."""

    def __init__(self, method: str, task: np.ndarray, worker: np.ndarray, label: np.ndarray, n_tasks: int,
                 n_workers: int, n_labels: int, gold: np.ndarray | None, threads: int,
                 options: dict[str, Any] | None = None) -> None:
        self.method, self.n_tasks, self.n_workers, self.n_labels = method, n_tasks, n_workers, n_labels
        self.threads = threads
        args = (task, worker, label, n_tasks, n_workers, n_labels)
        self.em: Any
        if method == "glad":
            self.em = _cs().GladShard(*args, gold=gold, threads=threads, **(options or {}))
        elif method == "dawid_skene":
            self.em = _cs().DawidSkeneShard(*args, gold=gold, threads=threads)
        elif method == "one_coin_dawid_skene":
            self.em = _cs().OneCoinShard(*args, gold=gold, threads=threads)
        else:
            self.em = None
            self.arrays, self.gold = args, gold

    def start(self) -> dict:
        return self.em.start()

    def e_step(self, params: dict) -> dict:
        return self.em.e_step(**params)

    def posteriors(self, params: dict | None) -> tuple[np.ndarray, np.ndarray]:
        return self.em.posteriors(self.n_labels, **(params or {}))

    def glad(self, name: str, *args: Any) -> Any:
        """A GladShard method (the GLAD driver's steps)."""
        return getattr(self.em, name)(*args)

    def vote(self, weights: np.ndarray | None) -> dict:
        """Weighted (or plain) vote of this shard, and each worker's agreement
        counts with its labels (as the core's agreement(): integer counts)."""
        t, w, y = self.arrays[:3]
        kw: dict[str, Any] = dict(gold=self.gold, threads=self.threads)
        if weights is None:
            out = _core.consensus.majority_vote(*self.arrays, **kw)
        else:
            out = _core.consensus.weighted_majority_vote(*self.arrays, skills=weights, **kw)
        lab = out["labels"]
        valid = lab[t] >= 0
        hit = valid & (y == lab[t])
        return {"probas": out["probas"], "labels": lab,
                "agree": np.bincount(w[hit], minlength=self.n_workers).astype(np.int64),
                "seen": np.bincount(w[valid], minlength=self.n_workers).astype(np.int64)}


def _tree_sum(parts: list[np.ndarray]) -> np.ndarray:
    """Pairwise (tree) sum of integer arrays: exact, so equal to any order."""
    while len(parts) > 1:
        parts = [parts[i] + parts[i + 1] if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
    return parts[0]


def _ordered_sum(xs: Sequence[float]) -> float:
    """Left-to-right float sum, as the core sums the per-block objective
    (Python's sum() is compensated on 3.12+, numpy's is pairwise)."""
    s = 0.0
    for x in xs:
        s += float(x)
    return s


class ShardSet:
    """Shards of one answer set on a backend; ``call(name, *args)`` runs a
    shard method on every shard and returns the results in shard order."""

    def __init__(self, method: str, task: np.ndarray, worker: np.ndarray, label: np.ndarray, n_tasks: int,
                 n_workers: int, n_labels: int, *, n_shards: int = 2, gold: np.ndarray | None = None,
                 backend: str = "inprocess", threads: int = 0, options: dict[str, Any] | None = None) -> None:
        if method not in SHARDED_METHODS:
            raise InvalidArgument(f"no sharded fit for method {method!r}; sharded methods: {list(SHARDED_METHODS)}")
        if backend not in BACKENDS:
            raise InvalidArgument(f"backend must be one of {list(BACKENDS)}, not {backend!r}")
        n = len(task)
        if len(worker) != n or len(label) != n:
            raise InvalidArgument("task, worker and label must have the same length")
        task, worker, label = (_codes(a, name, size) for a, name, size in
                               ((task, "task", n_tasks), (worker, "worker", n_workers), (label, "label", n_labels)))
        if gold is not None and len(gold) != n_tasks:
            raise InvalidArgument(f"gold must have n_tasks = {n_tasks} entries (-1: no gold), got {len(gold)}")
        self.method, self.backend = method, backend
        self.closed = False
        # What fit_sharded(..., shards=self) checks the answers, gold and shard options it is given
        # against: the shards hold them, so other ones passed there were ignored.
        self.fingerprint = _fingerprint(task, worker, label)
        self.gold_fingerprint = None if gold is None else _fingerprint(np.asarray(gold))
        self.options_fingerprint = _options_fingerprint(
            dict(_GLAD_SHARD_DEFAULTS, **(options or {})) if method == "glad" else options)
        # One fit at a time: a fit is a sequence of shard calls over state the shards keep (GLAD's
        # b and posteriors), and two interleaved fits gave results matching neither.
        self.fitting = threading.RLock()
        renew_after_fork(self, "fitting", threading.RLock)  # (tagger/_fork.py)
        self.n, self.n_tasks, self.n_workers, self.n_labels = n, n_tasks, n_workers, n_labels
        self.ranges = partition(np.asarray(task), n_tasks, n_shards)
        parts = _split(task, worker, label, self.ranges)
        golds = [None if gold is None else np.ascontiguousarray(gold[t0:t1], dtype=np.int32) for t0, t1 in self.ranges]
        if backend == "inprocess":
            self._shards: list[Any] = [_Shard(method, *p, t1 - t0, n_workers, n_labels, g, threads, options)
                                       for p, (t0, t1), g in zip(parts, self.ranges, golds)]
            self._ray: Any = None
        else:
            from .._optional import require
            ray = require("ray", "backend='ray'")
            if not ray.is_initialized():
                ray.init(include_dashboard=False)
            actor = ray.remote(_Shard)
            self._ray = ray
            # Answers go to the object store once; actors read them zero-copy.
            self._shards = [actor.remote(method, *(ray.put(a) for a in p), t1 - t0, n_workers, n_labels,
                                         None if g is None else ray.put(g), threads, options)
                            for p, (t0, t1), g in zip(parts, self.ranges, golds)]

    def _open(self) -> None:
        if self.closed:
            raise InvalidArgument("this ShardSet is closed; build a new one")

    def call(self, name: str, *args: Any) -> list[Any]:
        self._open()
        if self._ray is None:
            return [getattr(s, name)(*args) for s in self._shards]
        ray = self._ray
        refs = [ray.put(a) if isinstance(a, (dict, np.ndarray)) else a for a in args]  # one copy, read by every actor
        return list(ray.get([getattr(s, name).remote(*refs) for s in self._shards]))

    def chain(self, name: str, *args: Any) -> Any:
        """Runs ``name(*args, *carry)`` on each shard in task order, each call's
        result the next one's carry (the last ``len(carry)`` arguments); returns
        the last result. Sums continued this way are added in the order of the
        single-process fit."""
        self._open()
        *fixed, carry = args
        for s in self._shards:
            if self._ray is None:
                out = getattr(s, name)(*fixed, *carry)
            else:
                out = self._ray.get(getattr(s, name).remote(*fixed, *carry))
            carry = out if isinstance(out, tuple) else (out,)
        return carry if len(carry) != 1 else carry[0]

    def close(self) -> None:
        if self._ray is not None:
            for s in self._shards:
                self._ray.kill(s)
        self._shards = []
        self.closed = True

    def __enter__(self) -> ShardSet:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def bytes_per_iteration(method: str, n_workers: int, n_labels: int, n_tasks: int, n_shards: int,
                        m_rounds: int = 1) -> int:
    """Bytes one EM iteration moves between the driver and the shards: the
    parameters to every shard and the statistics back (int64/float64 arrays).
    GLAD: ``m_rounds`` Fisher rounds in the M-step (at most ``m_steps``)."""
    W, K = n_workers, n_labels
    blocks = (n_tasks + int(_cs().TASK_ALIGN) - 1) // int(_cs().TASK_ALIGN)
    if method == "glad":
        # E-step and objective: alpha out; per round: alpha, grad and info
        # through every shard and back (the chain), alpha out for the b half
        # and one double back.
        per_round = n_shards * (8 * W + 2 * 16 * W + 8 * W + 8)
        return n_shards * 2 * 8 * W + m_rounds * per_round + blocks * 8
    if method == "dawid_skene":
        out, back = (W * K * K + K) * 8, (W * K * K + K) * 8
    elif method == "one_coin_dawid_skene":
        out, back = (2 * W + K) * 8, (W + K) * 8
    else:
        raise InvalidArgument(f"{method!r} has no iterations")
    return n_shards * (out + back) + blocks * 8


Progress = Callable[[int, int, float, float], bool]


class _Convergence:
    """The core's stopping rule for the sharded EM loops: from the second
    iteration on, stop when the objective gains less than ``tol``; otherwise the
    progress callback may stop the fit. Keeps the objective history."""

    def __init__(self, n_iter: int, tol: float, progress: Progress | None) -> None:
        self.n_iter, self.tol, self.progress = n_iter, tol, progress
        self.history: list[float] = []
        self.last, self.converged, self.it_run = -np.inf, n_iter == 0, 0

    def update(self, it: int, obj: float) -> bool:
        """Records iteration ``it``'s objective; True when the fit stops here."""
        change = obj - self.last
        self.history.append(obj)
        self.it_run, self.last = it, obj
        if it > 1 and change < self.tol:
            self.converged = True
            return True
        return self.progress is not None and self.progress(it, self.n_iter, obj, abs(change)) is False


def _em_dawid_skene(shards: ShardSet, n_iter: int, tol: float, smoothing: float, class_priors: np.ndarray | None,
                    progress: Progress | None) -> dict[str, Any]:
    """The control flow of the core's dawid_skene() over shards."""
    cs, W, K = _cs(), shards.n_workers, shards.n_labels

    def m_step(stats: list[dict]) -> dict:
        e, prior = cs.dawid_skene_m_step(_tree_sum([s["counts"] for s in stats]), _tree_sum([s["prior"] for s in stats]),
                                         W, K, smoothing=smoothing, class_priors=class_priors)
        return {"e": e, "prior": prior}

    params = m_step(shards.call("start"))
    post: list[tuple[np.ndarray, np.ndarray]] | None = None
    if n_iter == 0:
        post = shards.call("posteriors", None)
    conv = _Convergence(n_iter, tol, progress)
    for it in range(1, n_iter + 1):
        stats = shards.call("e_step", params)
        obj = _ordered_sum([x for s in stats for x in s["block_ll"]]) / max(shards.n, 1)
        stop = conv.update(it, obj) or it == n_iter
        if stop:
            post = shards.call("posteriors", params)
        params = m_step(stats)
        if stop:
            break
    assert post is not None
    e, prior = params["e"], params["prior"]
    errors = e.reshape(W, K, K).transpose(0, 2, 1).copy()  # [w, true, observed]
    skills = np.zeros(W)
    for k in range(K):
        skills = skills + prior[k] * errors[:, k, k]
    return _result(shards, post, prior, skills, errors, conv.history, conv.it_run, conv.converged)


def _em_one_coin(shards: ShardSet, n_iter: int, tol: float, smoothing: float, class_priors: np.ndarray | None,
                 progress: Progress | None) -> dict[str, Any]:
    """The control flow of the core's one_coin_dawid_skene() over shards."""
    cs, K = _cs(), shards.n_labels
    start = shards.call("start")
    n_answers = _tree_sum([s["n_answers"] for s in start])

    def m_step(stats: list[dict]) -> dict:
        return dict(cs.one_coin_m_step(n_answers, _tree_sum([s["counts"] for s in stats]),
                                       _tree_sum([s["prior"] for s in stats]), K, smoothing=smoothing,
                                       class_priors=class_priors))

    prm = m_step(start)
    prev = prm
    conv = _Convergence(n_iter, tol, progress)
    for it in range(1, n_iter + 1):
        stats = shards.call("e_step", {k: prm[k] for k in ("log_right", "log_wrong", "log_prior")})
        prev, prm = prm, m_step(stats)
        if conv.update(it, _ordered_sum([x for s in stats for x in s["block_ll"]]) / max(shards.n, 1)):
            break
    post = shards.call("posteriors", {k: prev[k] for k in ("log_right", "log_wrong", "log_prior")} if n_iter > 0 else None)
    # (the core's exp, as the local fit's report: numpy's rounds otherwise in the last bit)
    s, q = np.asarray(prm["right"]), np.asarray(prm["wrong"])
    errors = np.repeat(q[:, None, None], K, axis=1).repeat(K, axis=2)
    idx = np.arange(K)
    errors[:, idx, idx] = s[:, None]
    return _result(shards, post, np.asarray(prm["prior"]), prm["skills"], errors, conv.history, conv.it_run, conv.converged)


def _em_glad(shards: ShardSet, n_iter: int, tol: float, options: dict[str, Any], progress: Progress | None
             ) -> dict[str, Any]:
    """The control flow of the core's glad() over shards: E-step on every
    shard; per Fisher round, the alpha sums continued shard after shard (the
    single-process order), the alpha update here, the b half on every shard;
    the objective from the per-block parts."""
    cs, W, K = _cs(), shards.n_workers, shards.n_labels
    ap, m_steps, m_tol = float(options["alpha_prior"]), int(options["m_steps"]), float(options["m_tol"])
    alpha = np.full(W, ap)

    def run(name: str, *args: Any) -> list[Any]:
        return shards.call("glad", name, *args)

    run("start")  # a warm ShardSet's shards hold the previous fit's b and posteriors
    if n_iter == 0:
        run("e_step", alpha)
    conv = _Convergence(n_iter, tol, progress)
    n_ans = max(shards.n, 1)
    for it in range(1, n_iter + 1):
        run("e_step", alpha)
        for _ in range(m_steps):
            grad, info = shards.chain("glad", "alpha_sums", alpha, (-(alpha - ap), np.ones(W)))
            alpha, moved = cs.glad_alpha_update(grad, info, alpha)
            for v in run("b_step", alpha):
                if moved < v:  # std::max(moved, v), as the core: a NaN step is skipped
                    moved = v
            if moved < m_tol:
                break
        if conv.update(it, cs.glad_objective(np.concatenate(run("q_blocks", alpha)), alpha, ap) / n_ans):
            break
    post = run("posteriors", K)
    sums = shards.chain("glad", "skill_sums", alpha, (np.zeros(W),))
    n_w = _tree_sum(run("answers_per_worker"))
    skills = np.full(W, np.nan)
    np.divide(sums, n_w, out=skills, where=n_w > 0)
    out = _result(shards, [(p, lab) for p, lab, _ in post], run("priors")[0], skills, None, conv.history, conv.it_run, conv.converged)
    out["abilities"] = alpha
    out["difficulties"] = np.concatenate([d for _, _, d in post]) if post else np.zeros(0)
    return out


def _votes(shards: ShardSet, method: str, skills: np.ndarray | None) -> dict[str, Any]:
    def agreement(parts: list[dict]) -> np.ndarray:
        agree, seen = _tree_sum([p["agree"] for p in parts]), _tree_sum([p["seen"] for p in parts])
        out = np.full(shards.n_workers, np.nan)
        np.divide(agree, seen, out=out, where=seen > 0)
        return out

    if method == "weighted_majority_vote" and skills is not None:
        parts = shards.call("vote", np.ascontiguousarray(skills, dtype=np.float64))
        out_skills = np.asarray(skills, dtype=np.float64).copy()
    else:
        parts = shards.call("vote", None)
        out_skills = agreement(parts)
        if method != "majority_vote":  # wawa: the agreement as weights of a second vote
            parts = shards.call("vote", np.nan_to_num(out_skills, nan=0.0))
    post = [(p["probas"], p["labels"]) for p in parts]
    return _result(shards, post, np.zeros(0), out_skills, None, [], 0, True)


def _result(shards: ShardSet, post: list[tuple[np.ndarray, np.ndarray]], priors: np.ndarray, skills: np.ndarray,
            errors: np.ndarray | None, history: list[float], n_iter: int, converged: bool) -> dict[str, Any]:
    K = shards.n_labels
    if len(post) == 1:  # one shard, or a stream that wrote every chunk into one array: no copy
        probas, labels = post[0][0].reshape(-1, K), post[0][1].astype(np.int32, copy=False)
    else:
        probas = np.concatenate([p for p, _ in post]).reshape(-1, K) if post else np.zeros((0, K))
        labels = np.concatenate([lab for _, lab in post]).astype(np.int32) if post else np.zeros(0, np.int32)
    return {"probas": probas, "labels": labels, "priors": np.asarray(priors, dtype=np.float64),
            "skills": np.asarray(skills, dtype=np.float64), "errors": errors, "difficulties": np.zeros(0),
            "abilities": np.zeros(0), "spamming": np.zeros(0), "strategies": None, "model_weight": 0.0,
            "objective_history": np.asarray(history, dtype=np.float64), "n_iter": n_iter, "converged": converged}


def em_options_check(owner: str, tol: float, smoothing: float, class_priors: Any) -> None:
    """The EM options the core's local fit refuses, refused here too by the passes that drive the
    EM from Python (the shards, fit_parquet): they ran on, and class_priors=[nan, .5, .5] gave NaN
    posteriors and the first label everywhere, [1, 0, 0] the first label, a negative one a
    probability above 1, and a negative tol or smoothing a result."""
    if not float(tol) >= 0.0:
        raise InvalidArgument(f"{owner}: tol must be >= 0, got {tol!r}")
    if not 0.0 <= float(smoothing) < float("inf"):
        raise InvalidArgument(f"{owner}: smoothing must be finite and >= 0, got {smoothing!r}")
    if class_priors is not None:
        p = np.asarray(class_priors, dtype=np.float64)
        if not (np.isfinite(p) & (p > 0)).all():
            raise InvalidArgument(f"{owner}: class_priors must be finite and > 0, got {p.tolist()}")


def fit_sharded(method: str, task: np.ndarray, worker: np.ndarray, label: np.ndarray, n_tasks: int, n_workers: int,
                n_labels: int, *, n_shards: int = 2, backend: str = "inprocess", n_iter: int = 100,
                tol: float = 1e-5, smoothing: float = 0.0, gold: np.ndarray | None = None,
                class_priors: np.ndarray | None = None, skills: np.ndarray | None = None, threads: int = 0,
                progress: Progress | None = None, shards: ShardSet | None = None, m_steps: int = 25,
                m_tol: float = 1e-2, alpha_prior: float = 1.0, beta_prior: float = 1.0) -> dict[str, Any]:
    """Fits ``method`` over ``n_shards`` task shards on ``backend``; returns the
    same dict as the ``tagger._core.consensus`` function of that method
    (``probas``, ``labels``, ``priors``, ``skills``, ``errors``, ...).

    ``shards``: an existing :class:`ShardSet` of these answers (kept warm
    across fits, e.g. for several ``tol`` values); it is not closed here."""
    em_options_check(f"{method} (backend={backend!r})", tol, smoothing, class_priors)
    own = shards is None
    if shards is not None:
        # An existing ShardSet fits the answers it was built on: different answers, sizes or a
        # method it was not built for were ignored or failed deep inside a shard.
        same_kind = shards.method == method or (shards.method in _VOTES and method in _VOTES)
        if not same_kind:
            raise InvalidArgument(f"this ShardSet was built for {shards.method!r}; build one for {method!r}")
        if (n_tasks, n_workers, n_labels) != (shards.n_tasks, shards.n_workers, shards.n_labels):
            raise InvalidArgument(f"this ShardSet holds n_tasks, n_workers, n_labels = "
                                  f"{(shards.n_tasks, shards.n_workers, shards.n_labels)}, not "
                                  f"{(n_tasks, n_workers, n_labels)}")
        if len(task) != shards.n or _fingerprint(task, worker, label) != shards.fingerprint:
            raise InvalidArgument("these answers are not the ones the ShardSet was built on; build a ShardSet of them")
        if (None if gold is None else _fingerprint(np.asarray(gold))) != shards.gold_fingerprint:
            raise InvalidArgument("the ShardSet holds its gold (given when it was built); this gold differs from it: "
                                  "build a ShardSet with gold=")
    glad_opts = {"m_steps": m_steps, "m_tol": m_tol, "alpha_prior": alpha_prior, "beta_prior": beta_prior}
    if shards is None:
        options = None
        if method == "glad":
            options = dict(glad_opts, class_priors=None if class_priors is None
                           else np.ascontiguousarray(class_priors, dtype=np.float64))
        shards = ShardSet(method, task, worker, label, n_tasks, n_workers, n_labels, n_shards=n_shards, gold=gold,
                          backend=backend, threads=threads, options=options)
    elif method == "glad" and _options_fingerprint(
            dict(glad_opts, class_priors=None if class_priors is None
                 else np.ascontiguousarray(class_priors, dtype=np.float64))) != shards.options_fingerprint:
        raise InvalidArgument("the ShardSet holds GLAD's shard options (m_steps, m_tol, priors, class_priors, given "
                              "when it was built); these differ: build a ShardSet with options= of them")
    try:
        with shards.fitting:
            if method == "glad":
                return _em_glad(shards, n_iter, tol, glad_opts, progress)
            if method == "dawid_skene":
                return _em_dawid_skene(shards, n_iter, tol, smoothing, class_priors, progress)
            if method == "one_coin_dawid_skene":
                return _em_one_coin(shards, n_iter, tol, smoothing, class_priors, progress)
            return _votes(shards, method, skills)
    finally:
        if own:
            shards.close()


def fit_answers(method: str, answers: Any, *, backend: str, n_shards: int | None = None, callback: Progress | None = None,
                **opts: Any) -> dict[str, Any]:
    """:func:`fit_sharded` on factorized :class:`~tagger.consensus.Answers`
    (the estimators' ``backend=`` path). ``n_shards=None``: 2 in process, the
    cluster's CPU count on Ray."""
    if backend not in BACKENDS:
        raise InvalidArgument(f"backend must be 'local' or one of {list(BACKENDS)}, not {backend!r}")
    if n_shards is not None and (isinstance(n_shards, bool) or not isinstance(n_shards, numbers.Integral)
                                 or n_shards < 1):
        raise InvalidArgument(f"n_shards must be an int >= 1 (or None for the default), got {n_shards!r}")
    if n_shards is None:
        n_shards = 2
        if backend == "ray":
            from .._optional import require
            ray = require("ray", "backend='ray'")
            if not ray.is_initialized():
                ray.init(include_dashboard=False)
            n_shards = max(1, int(ray.cluster_resources().get("CPU", 2)))
    keep = {k: v for k, v in opts.items() if k in ("n_iter", "tol", "smoothing", "gold", "class_priors", "skills", "threads")
            + GLAD_OPTIONS}
    return fit_sharded(method, *answers.core_args(), n_shards=n_shards, backend=backend, progress=callback, **keep)
