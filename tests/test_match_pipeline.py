"""tg.match.CategoryIndex inside pipelines and notebooks: pyarrow columns, copies of an index
fitted with a backend, option types, options a backend makes meaningless, and calibration
work that could never be used."""

from __future__ import annotations

import copy
import time

import numpy as np
import pytest

from tagger import errors
from tagger import match as m

from test_match_robust import TOPICS, topic_index

QUERIES = ["my pin is blocked", "wire money abroad", "when will my new card arrive"]


@pytest.fixture(scope="module")
def idx():
    return topic_index()


def _vectors(texts: list[str]) -> np.ndarray:
    """A toy backend: letter counts (deterministic, no model)."""
    out = np.zeros((len(texts), 26), dtype=np.float64)
    for i, t in enumerate(texts):
        for ch in t.lower():
            if "a" <= ch <= "z":
                out[i, ord(ch) - 97] += 1
    return out


def _examples() -> tuple[list[str], list[str]]:
    return [t for ts in TOPICS.values() for t in ts], [c for c, ts in TOPICS.items() for _ in ts]


def test_pyarrow_arrays_are_read_as_their_values(idx) -> None:
    """A pyarrow Array iterated as pyarrow scalars: each was refused ("got StringScalar"), and
    on_invalid="skip" answered None for every text, silently."""
    pa = pytest.importorskip("pyarrow", reason="pyarrow (an optional extra) makes the arrays")
    want = list(idx.predict(QUERIES))
    for arr in (pa.array(QUERIES), pa.chunked_array([QUERIES[:1], QUERIES[1:]]), pa.array(QUERIES, pa.large_string())):
        assert list(idx.predict(arr)) == want
        assert list(idx.predict(arr, on_invalid="skip")) == want
    texts, labels = _examples()
    fitted = m.CategoryIndex.fit(pa.array(texts), pa.array(labels), epochs=20)
    assert list(fitted.predict(QUERIES)) == want
    # A null is a missing text, as None is.
    got = idx.predict(pa.array([QUERIES[0], None]), on_invalid="skip")
    assert list(got) == [want[0], None]


def test_an_index_fitted_with_a_backend_can_be_copied() -> None:
    """copy.copy / deepcopy went through the saved form, which such an index has not: both raised
    "an index fitted with a backend cannot be saved"."""
    texts, labels = _examples()
    be = m.CategoryIndex.fit(texts, labels, backend=_vectors, calibrate=False)
    for c in (copy.copy(be), copy.deepcopy(be)):
        np.testing.assert_array_equal(c.predict_proba(QUERIES), be.predict_proba(QUERIES))
    with pytest.raises(errors.InvalidArgument, match="cannot be saved"):
        be.to_bytes()  # pickling still cannot store the caller's model


def test_copies_are_independent_of_an_in_place_refit(idx) -> None:
    mine = copy.deepcopy(idx)
    before = mine.predict_proba(QUERIES)
    texts, labels = _examples()
    mine.fit(texts[:16], labels[:16], epochs=5, calibrate=False)  # in place, on the copy
    np.testing.assert_array_equal(idx.predict_proba(QUERIES), before)


@pytest.mark.parametrize("value", ["no", None, 1, 0.0])
def test_calibrate_must_be_a_bool(value) -> None:
    """calibrate="no" calibrated (a non-empty string is true), None did not."""
    texts, labels = _examples()
    with pytest.raises(errors.InvalidArgument, match="calibrate must be True or False"):
        m.CategoryIndex.fit(texts, labels, calibrate=value)


@pytest.mark.parametrize("option", [{"tokenizer": m.Tokenizer()}, {"dense": False}, {"dense_weight": 1.0},
                                    {"hash_bits": 10}])
def test_built_in_feature_options_are_refused_beside_a_backend(option) -> None:
    """They were accepted and changed nothing."""
    texts, labels = _examples()
    name = next(iter(option))
    with pytest.raises(errors.InvalidArgument, match=f"{name} set\\(s\\) the built-in features, which backend= replaces"):
        m.CategoryIndex.fit(texts, labels, backend=_vectors, calibrate=False, **option)


def test_backend_values_beyond_float32_are_named() -> None:
    """Finite float64 values above float32's range were reported as "a vector with NaN/inf"."""
    texts, labels = _examples()
    with pytest.raises(errors.InvalidArgument, match="beyond float32's range"):
        m.CategoryIndex.fit(texts, labels, backend=lambda t: _vectors(t) * 1e39, calibrate=False)


def test_an_unfitted_index_is_not_fitted_when_saved(tmp_path) -> None:
    with pytest.raises(errors.NotFitted, match="nothing to save"):
        m.CategoryIndex().to_bytes()
    with pytest.raises(errors.NotFitted):
        m.CategoryIndex().save(tmp_path / "x.idx")
    assert not (tmp_path / "x.idx").exists()


def test_one_example_per_category_trains_no_calibration_fold() -> None:
    """No held-out example can be of a category its fold model knows: the fold models were
    trained, then the calibration skipped (23 s of a 10,000-category fit)."""
    texts = [f"w{c}a w{c}b w{c}c" for c in range(300)]
    labels = [f"c{c}" for c in range(300)]
    assert m._fold_jobs(labels, False, 3, 0) == []
    t0 = time.perf_counter()
    plain = m.CategoryIndex.fit(texts, labels, calibrate=False, dense=False)
    t_plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    cal = m.CategoryIndex.fit(texts, labels, dense=False)
    t_cal = time.perf_counter() - t0
    assert "skipped" in cal.calibration
    np.testing.assert_array_equal(cal.predict_proba(texts[:5]), plain.predict_proba(texts[:5]))
    assert t_cal < 3 * t_plain + 0.5


_INTERRUPTED_FIT = r"""
import os, signal, threading, time
import numpy as np
from tagger import match as m
rng = np.random.default_rng(0)
texts = [" ".join(f"w{rng.integers(3000)}" for _ in range(8)) for _ in range(6000)]
labels = [f"c{i % 1500}" for i in range(6000)]
t0 = time.perf_counter()
m.CategoryIndex.fit(texts, labels, epochs=1, calibrate=False, dense=False)
print("epoch", time.perf_counter() - t0)
threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
t0 = time.perf_counter()
try:
    m.CategoryIndex.fit(texts, labels, epochs=40, calibrate=False, dense=False)
    print("finished", time.perf_counter() - t0)
except KeyboardInterrupt:
    print("interrupted", time.perf_counter() - t0)
print("then", list(m.CategoryIndex.fit(texts[:60], labels[:60], epochs=1, calibrate=False, dense=False).predict(texts[:1])))
"""


def test_ctrl_c_stops_a_long_fit() -> None:
    """The fit ran in C++ with the GIL released and never returned to the interpreter: Ctrl-C in
    a notebook waited for the whole fit (12.8 s of a 13.1 s one; minutes with 10,000 categories).
    In a child process, so that the SIGINT cannot reach pytest itself."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _INTERRUPTED_FIT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    epoch, stopped = float(lines["epoch"]), float(lines["interrupted"])  # KeyError: it was not interrupted
    assert 40 * epoch > 5 * stopped, (epoch, stopped)  # the whole fit would have taken far longer
    assert stopped < 0.5 + max(1.0, 2 * epoch)  # stopped within about an epoch of the signal, at most
    assert lines["then"] == "['c0']"  # the next fit runs normally


_INTERRUPTED_FEATURES = r"""
import os, signal, threading, time
import numpy as np
from tagger import match as m
rng = np.random.default_rng(0)
words = np.array([f"w{i}" for i in range(5000)])
texts = [" ".join(row) for row in words[rng.integers(5000, size=(60_000, 40))].tolist()]
labels = [f"c{i % 20}" for i in range(60_000)]
threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
t0 = time.perf_counter()
try:
    m.CategoryIndex.fit(texts, labels, epochs=1)
    print("finished", time.perf_counter() - t0)
except KeyboardInterrupt:
    print("interrupted", time.perf_counter() - t0)
"""


def test_ctrl_c_stops_a_fit_while_it_featurizes_its_texts() -> None:
    """The stop flag was read only once training began: Ctrl-C while 60,000 texts were tokenized
    and embedded waited for all of them (2.6-5.3 s). They are featurized a block at a time."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _INTERRUPTED_FEATURES], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    what, seconds = out.stdout.split()
    assert what == "interrupted" and float(seconds) < 0.3 + 2.0, out.stdout  # (5.1 s before, 0.1-0.6 s now)
