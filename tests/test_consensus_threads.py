"""One consensus estimator shared by several threads: each call sees one whole fit.

Before, two threads fitting the same estimator mixed their data: probas_ was built
from one fit's arrays and another fit's index (ValueError), and fit_predict could
return the other thread's labels. Calls on one instance now run one at a time
(tagger/consensus/_serial.py); separate instances still run in parallel.
"""

from __future__ import annotations

import copy
import pickle
import threading
import warnings

import numpy as np
import pandas as pd
import pytest

import tagger as tg

C = tg.consensus
# answers() draws workers at random: some answer a task twice (the last answer counts, with a warning)
pytestmark = pytest.mark.filterwarnings("ignore:.*repeated \\(task, worker\\) answer")


def answers(n_tasks: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    task = np.repeat(np.arange(n_tasks), 3)
    truth = rng.integers(0, 3, n_tasks)
    label = np.where(rng.random(len(task)) < 0.7, truth[task], rng.integers(0, 3, len(task)))
    return pd.DataFrame({"task": [f"s{seed}-{t}" for t in task], "worker": rng.integers(0, 40, len(task)),
                         "label": label})


def pairs(n_items: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    left, right = rng.integers(0, n_items, 600), rng.integers(0, n_items, 600)
    keep = left != right
    left, right = left[keep], right[keep]
    label = np.where(rng.random(len(left)) < 0.8, np.maximum(left, right), np.minimum(left, right))
    return pd.DataFrame({"worker": rng.integers(0, 20, len(left)), "left": [f"i{seed}-{v}" for v in left],
                         "right": [f"i{seed}-{v}" for v in right], "label": [f"i{seed}-{v}" for v in label]})


def on_threads(n: int, body) -> None:
    """body(i) on n threads at once; fails with the first errors they raised."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            body(i)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:2]


def hammer(est, datasets, reference, read):
    """Four threads, each fitting its own dataset on the one estimator, eight times."""
    wrong: list[int] = []

    def run(i: int) -> None:
        for _ in range(8):
            got = est.fit_predict(datasets[i])
            if not got.equals(reference[i]):
                wrong.append(i)
            read(est)

    on_threads(len(datasets), run)
    assert not wrong


@pytest.mark.parametrize("make", [C.DawidSkene, C.GLAD, lambda: C.MACE(n_restarts=2), C.MajorityVote, C.Wawa, C.BCC],
                         ids=["DawidSkene", "GLAD", "MACE", "MajorityVote", "Wawa", "BCC"])
def test_a_classifier_shared_by_threads_answers_each_its_own_fit(make):
    datasets = [answers(400 + 150 * i, i) for i in range(4)]
    reference = [make().fit_predict(d) for d in datasets]

    def read(est):  # the lazy frames of whichever fit is the latest: whole, never mixed
        probas = est.probas_
        assert probas.shape[0] == len(est.labels_) and probas.index.equals(est.labels_.index)

    hammer(make(), datasets, reference, read)


def test_pairwise_shared_by_threads():
    datasets = [pairs(30 + 10 * i, i) for i in range(4)]
    reference = [C.BradleyTerry(n_iter=50).fit_predict(d) for d in datasets]
    hammer(C.BradleyTerry(n_iter=50), datasets, reference, lambda est: est.scores_)


def test_a_shared_estimator_still_copies_and_pickles():
    est = C.DawidSkene(n_iter=20)
    d = answers(300, 9)
    labels = est.fit_predict(d)
    clone = pickle.loads(pickle.dumps(est))
    assert clone.labels_.equals(labels) and clone.probas_.equals(est.probas_)
    twin = copy.copy(est)
    assert twin.fit_predict(answers(200, 10)).index[0].startswith("s10-") and est.labels_.equals(labels)


class _HeldGLAD(C.GLAD):
    """GLAD whose core call waits for the test: a fit held open in the middle."""

    started: threading.Event
    release: threading.Event

    def _core_call(self, answers, **common):  # type: ignore[no-untyped-def]
        if getattr(self, "hold", False):
            type(self).started.set()
            assert type(self).release.wait(30)
        return super()._core_call(answers, **common)


def _held_refit(before: pd.DataFrame, during: pd.DataFrame) -> tuple[_HeldGLAD, threading.Thread]:
    _HeldGLAD.started, _HeldGLAD.release = threading.Event(), threading.Event()
    est = _HeldGLAD().fit(before)
    est.hold = True
    fit = threading.Thread(target=est.fit, args=(during,))
    fit.start()
    assert _HeldGLAD.started.wait(30)
    return est, fit


def test_a_refit_in_progress_is_invisible_and_a_copy_waits_for_it() -> None:
    """The fit set answers_ before the core ran and labels_/skills_ after it: a copy or pickle
    taken meanwhile (and any plain read) paired the new answers with the old fit, and the copy's
    probas_ raised a raw pandas shape error."""
    a, b = answers(300, 1), answers(200, 2)
    est, fit = _held_refit(a, b)
    try:
        assert len(est.answers_.task_names) == 300 and len(est.labels_) == 300  # the previous fit, whole
        copies: dict[str, object] = {}
        takers = [threading.Thread(target=lambda k=k, f=f: copies.__setitem__(k, f(est)))
                  for k, f in (("copy", copy.copy), ("deepcopy", copy.deepcopy),
                               ("pickle", lambda e: pickle.loads(pickle.dumps(e))))]
        for t in takers:
            t.start()
        for t in takers:
            t.join(0.3)
        assert not copies, "a copy was taken in the middle of a fit"
    finally:
        _HeldGLAD.release.set()
        fit.join()
    for t in takers:
        t.join()
    want = C.GLAD().fit(b).probas_
    for name, c in copies.items():
        assert len(c.answers_.task_names) == 200, name  # type: ignore[attr-defined]
        pd.testing.assert_frame_equal(c.probas_, want, check_exact=True)  # type: ignore[attr-defined]


def test_metrics_of_an_aggregator_being_refitted_use_one_fit() -> None:
    """accuracy_on_aggregates(b, aggregator=est) during est's refit on b read answers_ (b's) and
    took the old labels_ as b's aggregates."""
    a = answers(300, 3)
    b = a.assign(label=(a["label"] + 1) % 3)  # same tasks and workers, every label moved
    est, fit = _held_refit(a, b)
    got: list[float] = []
    reader = threading.Thread(target=lambda: got.append(C.metrics.accuracy_on_aggregates(b, aggregator=est)))
    reader.start()
    reader.join(0.3)
    _HeldGLAD.release.set()
    fit.join()
    reader.join()
    assert got == [C.metrics.accuracy_on_aggregates(b, aggregator=C.GLAD())]


def test_next_items_leaves_the_estimator_passed_in_as_it_was() -> None:
    """next_items refitted the caller's estimator on its answers (replacing the caller's fit), and
    read skills_ after its lock was released: another thread's fit could change the ranking."""
    a, b = answers(300, 4), answers(200, 5)
    est = C.DawidSkene().fit(a)
    labels = est.labels_
    ranked = C.next_items(b, 20, method=est, score="eig")
    assert est.labels_ is labels and len(est.answers_.task_names) == 300
    assert ranked.index.tolist() == C.next_items(b, 20, method=C.DawidSkene(), score="eig").index.tolist()


def test_next_items_ranks_with_the_fit_of_an_estimator_fitted_on_these_answers() -> None:
    """next_items refitted a copy without the fit's arguments: a fitted CROWDLAB raised 'needs
    model_probas' and a skill-weighted vote ranked with the unweighted labels."""
    df = pd.DataFrame({"task": [0, 0, 1, 1, 1, 2, 2], "worker": ["a", "b", "a", "b", "c", "b", "c"],
                       "label": ["x", "x", "y", "x", "y", "y", "y"]})
    mp = pd.DataFrame([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6]], index=[0, 1, 2], columns=["x", "y"])
    cl = C.CROWDLAB().fit(df, model_probas=mp)
    assert C.next_items(df, 3, method=cl)["label"].to_dict() == cl.labels_.to_dict()
    mv = C.MajorityVote().fit(df, pd.Series({"a": 1.0, "b": 5.0, "c": 1.0}))
    assert mv.labels_[1] == "x" != C.MajorityVote().fit_predict(df)[1]
    assert C.next_items(df, 3, method=mv)["label"].to_dict() == mv.labels_.to_dict()


def _large(seed: int) -> pd.DataFrame:
    """250k answers with integer ids: the fused engine, kept huge-page arrays and the two-thread id coding."""
    rng = np.random.default_rng(seed)
    n_tasks, overlap, k = 50_000, 5, 4
    truth = rng.integers(0, k, n_tasks)
    task = np.repeat(np.arange(n_tasks, dtype=np.int32), overlap)
    worker = ((rng.integers(0, 3_000, n_tasks)[:, None] + np.arange(overlap) * 577) % 3_000).astype(np.int32).ravel()
    right = rng.random(len(task)) < rng.uniform(0.4, 0.95, 3_000)[worker]
    label = np.where(right, truth[task], (truth[task] + 1 + rng.integers(0, k - 1, len(task))) % k)
    return pd.DataFrame({"task": task, "worker": worker, "label": label})


def test_large_fits_on_separate_threads_equal_the_same_fits_one_after_another():
    # Separate instances run at once; each fit's tables, codes and outputs come from the
    # process-wide kept mappings, which no two live arrays may share.
    datasets = [_large(seed) for seed in range(4)]
    reference = [C.DawidSkene(n_iter=10).fit(d) for d in datasets]
    wrong: list[tuple[int, str]] = []

    def run(i: int) -> None:
        for _ in range(3):
            est = C.DawidSkene(n_iter=10).fit(datasets[i])
            if not est.labels_.equals(reference[i].labels_):
                wrong.append((i, "labels"))
            if not np.array_equal(est.probas_.to_numpy(), reference[i].probas_.to_numpy()):
                wrong.append((i, "probas"))
            if not np.array_equal(est.answers_.worker, reference[i].answers_.worker):
                wrong.append((i, "codes"))

    on_threads(len(datasets), run)
    assert not wrong, wrong[:4]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_fits_after_the_parent_did():
    import os

    data = _large(7)
    expected = C.DawidSkene(n_iter=5).fit_predict(data)
    with warnings.catch_warnings():  # Python >= 3.12 warns of fork in a process with threads (the team's)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: its kept mappings are copies of the parent's
        code = 1
        try:
            code = 0 if C.DawidSkene(n_iter=5).fit_predict(data).equals(expected) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
