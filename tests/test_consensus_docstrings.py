"""What help() and inspect show of tg.consensus: every public class and method
documented, annotations quoted once, and each classifier's fit_predict /
fit_predict_proba shown with the parameters of its fit (they pass everything
to fit, and showed only ``(data, *args, **kwargs)``), still doing what they did."""

import inspect
import pydoc

import numpy as np
import pandas as pd
import pytest

import tagger.consensus as tc

CLASSES = [getattr(tc, n) for n in tc.__all__ if inspect.isclass(getattr(tc, n))]
CLASSIFIERS = [c for c in CLASSES if issubclass(c, tc.BaseClassifier)]


def _public_members(cls):
    for name, member in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        if isinstance(member, property) or (callable(member) and not inspect.isclass(member)):
            yield name, member


def test_the_lists_cover_the_families():
    names = {c.__name__ for c in CLASSES}
    assert {"DawidSkene", "Median", "BradleyTerry", "SegmentationEM", "RASA", "ROVER", "BoxMajorityVote",
            "LabelQuality", "Answers", "ConsensusResult"} <= names
    assert len(CLASSIFIERS) >= 15


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_public_class_and_method_has_a_docstring(cls):
    assert (inspect.getdoc(cls) or "").strip(), cls.__name__
    missing = [name for name, member in _public_members(cls) if not (inspect.getdoc(member) or "").strip()]
    assert not missing, f"{cls.__name__}: no docstring for {missing}"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_no_annotation_is_quoted_twice(cls):
    # `-> "DawidSkene"` under `from __future__ import annotations` showed as "'DawidSkene'".
    bad = []
    for name, member in _public_members(cls):
        if isinstance(member, property):
            continue
        try:
            sig = inspect.signature(member)
        except (TypeError, ValueError):  # builtins without a signature
            continue
        annotations = [p.annotation for p in sig.parameters.values()] + [sig.return_annotation]
        bad += [f"{name}: {a!r}" for a in annotations if isinstance(a, str) and a[:1] in "'\""]
    assert not bad, f"{cls.__name__}: {bad}"


def _params(fn):
    return [(p.name, p.kind, repr(p.default)) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("method", ["fit_predict", "fit_predict_proba"])
def test_fit_predict_shows_the_parameters_of_fit(cls, method):
    fn = getattr(cls, method)
    assert _params(fn) == _params(cls.fit)
    returns = inspect.signature(fn).return_annotation
    assert returns in (("pd.Series", pd.Series) if method == "fit_predict" else ("pd.DataFrame", pd.DataFrame))
    text = pydoc.render_doc(fn)
    for name, _, _ in _params(cls.fit)[1:]:
        assert name in text
    assert "*args" not in text


def test_help_of_dawid_skene_fit_predict_names_its_arguments():
    sig = inspect.signature(tc.DawidSkene().fit_predict)
    assert list(sig.parameters) == ["data", "true_labels", "initial_error"]
    assert sig.return_annotation == "pd.Series"
    assert inspect.signature(tc.DawidSkene.fit).return_annotation == "DawidSkene"
    assert list(inspect.signature(tc.MajorityVote.fit_predict_proba).parameters) == ["self", "data", "skills",
                                                                                     "true_labels"]


# Two labels, every worker on every task: KOS (binary) and MMSR (workers sharing tasks) fit it too.
_TRUTH = [0, 1, 1, 0, 1, 0, 0, 1, 1, 0]
_WRONG = {("w3", 2), ("w4", 5), ("w4", 7), ("w5", 0), ("w5", 3), ("w5", 8), ("w2", 9)}
DF = pd.DataFrame([{"task": t, "worker": w, "label": _TRUTH[t] ^ ((w, t) in _WRONG)}
                   for t in range(len(_TRUTH)) for w in ("w1", "w2", "w3", "w4", "w5")])
GOLD = pd.Series({0: 0, 1: 1, 2: 1})


def _args(cls):
    if cls is tc.CROWDLAB:
        return (pd.DataFrame({0: [0.8, 0.3] * 5, 1: [0.2, 0.7] * 5}, index=range(10)),)
    if cls is tc.GoldMajorityVote:
        return (GOLD,)
    return ()


@pytest.mark.parametrize("cls", [c for c in CLASSIFIERS if c is not tc.BaseClassifier], ids=lambda c: c.__name__)
def test_fit_predict_returns_what_fit_sets(cls):
    args = _args(cls)
    labels = cls().fit_predict(DF, *args)
    probas = cls().fit_predict_proba(DF, *args)
    if cls is tc.GoldMajorityVote:  # fit, then predict on the same data
        fitted = cls().fit(DF, *args)
        expected_labels, expected_probas = fitted.predict(DF), fitted.predict_proba(DF)
    else:
        fitted = cls().fit(DF, *args)
        expected_labels, expected_probas = fitted.labels_, fitted.probas_
    pd.testing.assert_series_equal(labels, expected_labels)
    pd.testing.assert_frame_equal(probas, expected_probas)


def test_arguments_pass_by_position_and_by_keyword():
    by_position = tc.DawidSkene(n_iter=10).fit_predict(DF, GOLD)
    by_keyword = tc.DawidSkene(n_iter=10).fit_predict(DF, true_labels=GOLD)
    fitted = tc.DawidSkene(n_iter=10).fit(DF, GOLD)
    pd.testing.assert_series_equal(by_position, fitted.labels_)
    pd.testing.assert_series_equal(by_keyword, fitted.labels_)
    pd.testing.assert_frame_equal(tc.DawidSkene(n_iter=10).fit_predict_proba(data=DF, true_labels=GOLD), fitted.probas_)
    assert (by_position.loc[GOLD.index] == GOLD).all()

    df = pd.DataFrame({"task": [1, 1, 1], "worker": ["a", "b", "c"], "label": ["x", "y", "y"]})
    skills = pd.Series({"a": 3.0, "b": 1.0, "c": 1.0})
    assert tc.MajorityVote().fit_predict(df).tolist() == ["y"]
    assert tc.MajorityVote().fit_predict(df, skills).tolist() == ["x"]
    assert tc.MajorityVote().fit_predict(df, skills=skills).tolist() == ["x"]
    assert tc.GLAD().fit_predict(DF, true_labels=GOLD).tolist() == tc.GLAD().fit(DF, GOLD).labels_.tolist()


def test_wrong_arguments_fail_as_before():
    with pytest.raises(TypeError):
        tc.DawidSkene().fit_predict(DF, no_such_argument=1)
    with pytest.raises(TypeError):
        tc.DawidSkene().fit_predict()
    with pytest.raises(TypeError):
        tc.GLAD().fit_predict_proba(DF, GOLD, np.zeros(3))

