"""tg.match.CategoryClassifier: CategoryIndex.fit under scikit-learn's estimator protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagger.errors import InvalidArgument
from tagger.match import CategoryClassifier, CategoryIndex

from test_match_robust import TOPICS

TEXTS = [t for ts in TOPICS.values() for t in ts]
LABELS = [c for c, ts in TOPICS.items() for _ in ts]


def test_it_fits_predicts_and_orders_probabilities_by_classes():
    clf = CategoryClassifier(epochs=20, calibrate=False)
    assert clf.fit(TEXTS, LABELS) is clf
    assert list(clf.classes_) == sorted(TOPICS) and clf.classes_.dtype.kind == "U"
    p = clf.predict_proba(["where is my card", "send money to my landlord"])
    assert p.shape == (2, len(TOPICS)) and np.allclose(p.sum(axis=1), 1)
    assert list(clf.classes_[p.argmax(axis=1)]) == list(clf.predict(["where is my card", "send money to my landlord"]))
    # the same model as CategoryIndex.fit with the same options
    idx = CategoryIndex.fit(TEXTS, LABELS, epochs=20, calibrate=False)
    assert list(clf.predict(TEXTS)) == list(idx.predict(TEXTS))
    assert clf.score(TEXTS, LABELS) == pytest.approx(np.mean(np.array(idx.predict(TEXTS), dtype=object) == LABELS))


def test_texts_come_as_lists_series_arrays_or_one_column():
    clf = CategoryClassifier(epochs=10, calibrate=False).fit(pd.Series(TEXTS), pd.Series(LABELS))
    want = list(clf.predict(TEXTS))
    assert list(clf.predict(np.array(TEXTS))) == want
    assert list(clf.predict(np.array(TEXTS)[:, None])) == want
    assert list(clf.predict(pd.DataFrame({"text": TEXTS}))) == want
    with pytest.raises(InvalidArgument, match="2 columns"):
        clf.predict(pd.DataFrame({"a": TEXTS, "b": TEXTS}))
    with pytest.raises(InvalidArgument, match="one str"):
        clf.predict("where is my card")
    with pytest.raises(InvalidArgument, match="not fitted"):
        CategoryClassifier().predict(TEXTS)


def test_labels_keep_their_kind_and_abstain_answers_the_label_given():
    ints = [sorted(TOPICS).index(label) for label in LABELS]
    clf = CategoryClassifier(epochs=10, calibrate=False).fit(TEXTS, ints)
    assert clf.classes_.dtype == np.int64 and clf.predict(TEXTS[:3]).dtype == np.int64
    sure = CategoryClassifier(epochs=10, calibrate=False, abstain=0.99, abstain_label="none").fit(TEXTS, LABELS)
    assert "none" in list(sure.predict(["zzqx", "10-4"]))


def test_params_round_trip_and_unknown_ones_are_refused():
    clf = CategoryClassifier(epochs=3, dense=False)
    params = clf.get_params()
    assert params["epochs"] == 3 and params["dense"] is False and "abstain" in params
    assert CategoryClassifier(**params).get_params() == params
    assert clf.set_params(epochs=5) is clf and clf.epochs == 5
    with pytest.raises(InvalidArgument, match="no parameter 'epoch'"):
        clf.set_params(epoch=5)
    assert repr(clf) == "CategoryClassifier(epochs=5, dense=False)"


def test_scikit_learn_clones_cross_validates_and_searches_it():
    sk = pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    from sklearn.base import clone, is_classifier
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    clf = CategoryClassifier(epochs=10, calibrate=False)
    assert is_classifier(clf) and clone(clf).get_params() == clf.get_params()
    scores = cross_val_score(clf, np.array(TEXTS), np.array(LABELS), cv=2)
    assert scores.shape == (2,) and scores.min() > 0.5, scores
    pipe = make_pipeline(FunctionTransformer(lambda s: [t.lower() for t in s]), CategoryClassifier(calibrate=False))
    assert pipe.fit(TEXTS, LABELS).score(TEXTS, LABELS) > 0.9
    search = GridSearchCV(CategoryClassifier(calibrate=False), {"epochs": [1, 20]}, cv=2).fit(TEXTS, LABELS)
    assert search.best_params_["epochs"] in (1, 20) and sk.__version__


def test_dicts_sets_and_two_column_labels_are_refused_not_misread():
    # list(X) read a dict as its keys and a set in hash order; any 2-D y was raveled, so
    # (n, 2) labels trained on interleaved rows.
    clf = CategoryClassifier(epochs=5, calibrate=False).fit(TEXTS, LABELS)
    with pytest.raises(InvalidArgument, match="got a dict"):
        clf.predict({"q1": TEXTS[0], "q2": TEXTS[1]})
    with pytest.raises(InvalidArgument, match="in an order, got a set"):
        clf.predict(set(TEXTS[:3]))
    with pytest.raises(InvalidArgument, match="got NoneType"):
        clf.predict(None)
    with pytest.raises(InvalidArgument, match="got a dict"):
        CategoryClassifier(calibrate=False).fit(dict(zip(TEXTS, LABELS)), LABELS)
    half = len(TEXTS) // 2
    y2 = np.array(LABELS[:2 * half]).reshape(half, 2)
    with pytest.raises(InvalidArgument, match=r"y must be one label per text .* got shape \(%d, 2\)" % half):
        CategoryClassifier(calibrate=False).fit(TEXTS[:half], y2)
    one_column = CategoryClassifier(epochs=5, calibrate=False).fit(TEXTS, np.array(LABELS).reshape(-1, 1))
    assert list(one_column.classes_) == list(clf.classes_)


def test_calibrate_false_drops_the_calibration_options_it_would_not_use():
    # CategoryIndex.fit refuses them next to calibrate=False; the classifier's defaults must not trip it.
    clf = CategoryClassifier(epochs=5, calibrate=False, target_precision=0.99, folds=5).fit(TEXTS, LABELS)
    assert clf.index_.threshold is None
