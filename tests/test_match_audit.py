"""tg.match findings of the 2026-12-07 audit: calibrations that failed silently (an unreachable
target, a threshold that abstains on almost everything, oos_texts that are training texts or
empty, the temperature's upper bound), blank training texts, label types that came back as
strings, zero-shot answers without a known token, and raw errors from odd labels and backends."""

from __future__ import annotations

import pickle
import re
import warnings

import numpy as np
import pytest

from tagger import errors
from tagger import match as m

from test_match_robust import TOPICS, topic_index, word_list_categories


def banking77(shared, n_per=10):
    import pandas as pd
    df = pd.read_csv(shared("data", "nlp", "banking77") / "train.csv")
    return df.sample(frac=1, random_state=0).groupby("label").head(n_per).reset_index(drop=True)


# ---------------------------------------------------------------- calibration


def test_a_calibration_that_meets_its_target_is_silent_and_records_it() -> None:
    texts, labels, _ = word_list_categories()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        idx = m.CategoryIndex.fit(texts, labels, epochs=15)
    c = idx.calibration
    assert c["target_met"] is True and c["precision"] >= 0.9
    assert c["in_scope_coverage"] == 1.0  # measured: every held-out in-scope example answered
    assert c["temperature_bound"] == "lower" and c["temperature_at_bound"] is True  # well separated, no warning
    assert m.CategoryIndex.from_bytes(idx.to_bytes()).calibration == c


def test_oos_texts_that_are_the_training_texts_warn_and_the_missed_target_is_recorded() -> None:
    # Before: the threshold fell silently to the best-precision cut (0.964 -> 0.287 on Banking77),
    # nearly switching abstention off, with nothing in .calibration.
    texts, labels, _ = word_list_categories()
    with pytest.warns(UserWarning) as w:
        idx = m.CategoryIndex.fit(texts, labels, epochs=15, oos_texts=texts)
    messages = [str(x.message) for x in w]
    assert any(msg.startswith("120 of the 120 oos_texts are also training texts") and "wrong column" in msg
               for msg in messages), messages
    c = idx.calibration
    assert any(msg.startswith("calibration: target_precision 0.9 is not reached on the held-out texts (best "
                              f"precision {c['precision']:.3f}, at threshold {idx.threshold:.3g}, which is used "
                              "instead)") for msg in messages), messages
    assert c["target_met"] is False and c["precision"] < 0.9 and c["threshold"] == idx.threshold


def test_a_threshold_that_abstains_on_most_in_scope_texts_warns(shared) -> None:
    # Banking77, 10 per intent, target 0.95: threshold 0.999, 95 % of the test set abstained.
    df = banking77(shared)
    with pytest.warns(UserWarning, match=r"calibration: the threshold 0\.99\d* abstains on 9\d% of the in-scope "
                                         r"held-out texts \(\d+ of \d+ answered\)"):
        idx = m.CategoryIndex.fit(df.text, df.label, target_precision=0.95)
    c = idx.calibration
    assert c["target_met"] is True and c["in_scope_coverage"] < m.MIN_CALIBRATION_COVERAGE


def test_empty_oos_texts_calibrate_as_none_and_say_so() -> None:
    # Before: [] turned the held-out category groups off silently (threshold 0.964 -> 0.668).
    texts, labels, _ = word_list_categories()
    none = m.CategoryIndex.fit(texts, labels, epochs=15)
    with pytest.warns(UserWarning, match=r"oos_texts is empty: calibrating on held-out category groups as with "
                                         r"oos_texts=None"):
        empty = m.CategoryIndex.fit(texts, labels, epochs=15, oos_texts=[])
    assert empty.calibration == none.calibration and empty.threshold == none.threshold
    assert empty.calibration["oos_source"] == "held-out categories"
    m.CategoryIndex.fit(texts, labels, epochs=15, oos_texts=[], calibrate=False)  # no calibration: nothing to say


def test_both_ends_of_the_temperature_search_are_flagged() -> None:
    # Identical texts with alternating labels: T ran to 20 (every score ~uniform) with
    # temperature_at_bound=False; only the lower end was checked.
    with pytest.warns(UserWarning) as w:
        idx = m.CategoryIndex.fit(["where is my card"] * 100, ["a", "b"] * 50)
    assert any(str(x.message).startswith("calibration: the temperature reached the upper end of its search range "
                                         "(T = 20)") for x in w), [str(x.message) for x in w]
    assert idx.calibration["temperature_at_bound"] is True and idx.calibration["temperature_bound"] == "upper"
    assert idx.temperature > 19
    low = topic_index()  # well separated: the lower end, raw scores kept (no warning)
    assert low.calibration["temperature_bound"] == "lower" and low.temperature == 1.0


# ---------------------------------------------------------------- blank training texts


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_training_text_is_named_with_the_option_that_drops_it(blank) -> None:
    # Before: the core's "text 32 is empty" (no texts[32], no hint of on_invalid="skip").
    texts = [t for ts in TOPICS.values() for t in ts] + [blank]
    labels = [c for c, ts in TOPICS.items() for _ in ts] + ["pin"]
    with pytest.raises(errors.InvalidArgument, match=re.escape(
            f"texts[32] is empty ({blank!r}): an example needs a text (on_invalid='skip' drops the examples "
            "without a text)")):
        m.CategoryIndex.fit(texts, labels, calibrate=False)
    idx = m.CategoryIndex.fit(texts, labels, on_invalid="skip", calibrate=False, epochs=20)
    assert idx.predict(["forgot my pin"]) == ["pin"]
    with pytest.raises(errors.InvalidArgument, match=re.escape(
            "texts[32] must be a str, got NoneType (on_invalid='skip' drops the examples without a text)")):
        m.CategoryIndex.fit(texts[:32] + [None], labels, calibrate=False)
    for ok in ("\u200b", "?"):  # the core's rule: any character but ASCII white space is a text
        m.CategoryIndex.fit(texts[:32] + [ok], labels, calibrate=False)
    with pytest.raises(errors.InvalidArgument, match=re.escape("labels[32] is an empty string")):
        m.CategoryIndex.fit(texts[:32] + ["forgot my pin"], labels[:32] + [""], calibrate=False)


def test_skip_drops_a_blank_row_before_its_label_is_checked() -> None:
    # A blank CSV row reads as text NaN + label NaN: "labels[32] is missing" even with skip.
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"text": [t for ts in TOPICS.values() for t in ts],
                       "label": [c for c, ts in TOPICS.items() for _ in ts]})
    df.loc[len(df)] = [np.nan, np.nan]
    df.loc[len(df)] = ["   ", None]
    idx = m.CategoryIndex.fit(df.text, df.label, on_invalid="skip", calibrate=False, epochs=20)
    assert len(idx) == 4 and idx.predict(["forgot my pin"]) == ["pin"]
    # a missing label on an example that has a text is still the caller's to fix, named by position
    df.loc[len(df)] = ["my pin is blocked", np.nan]
    with pytest.raises(errors.InvalidArgument, match=re.escape("labels[34] is missing (nan)")):
        m.CategoryIndex.fit(df.text, df.label, on_invalid="skip", calibrate=False)


# ---------------------------------------------------------------- label types


def _check_labels_come_back(y, expect_categories, texts, tmp_path):
    idx = m.CategoryIndex.fit(texts, y, epochs=20, calibrate=False)
    assert idx.categories == expect_categories
    assert [type(c) for c in idx.categories] == [type(c) for c in expect_categories]
    pred = idx.predict(texts)
    assert np.mean([a == b for a, b in zip(pred, y)]) > 0.9
    proba = idx.predict_proba(texts)
    assert [idx.categories[j] for j in proba.argmax(1)] == list(pred)
    idx.save(tmp_path / "i.tgix")
    for back in (m.CategoryIndex.load(tmp_path / "i.tgix"), pickle.loads(pickle.dumps(idx))):
        assert back.categories == idx.categories and [type(c) for c in back.categories] == \
            [type(c) for c in idx.categories]
        assert list(back.predict(texts)) == list(pred) and np.array_equal(back.predict_proba(texts), proba)
        assert back.to_bytes() == idx.to_bytes()
    return idx


def test_float_bool_and_bytes_labels_come_back_in_their_type(tmp_path) -> None:
    # Before: '0.0', 'True', "b'card'" category names, so pred == y was all False.
    texts = [t for ts in TOPICS.values() for t in ts]
    names = [c for c, ts in TOPICS.items() for _ in ts]
    code = {c: k for k, c in enumerate(sorted(TOPICS))}
    floats = np.array([float([0, 10, 2, 11][code[c]]) for c in names])  # text order != numeric order
    _check_labels_come_back(floats, [0.0, 2.0, 10.0, 11.0], texts, tmp_path)
    _check_labels_come_back(list(floats.astype(np.float32) + np.float32(0.5)), [0.5, 2.5, 10.5, 11.5], texts, tmp_path)
    halves = [np.float32(0.1) if c == "pin" else 3.25 for c in names]  # float32: the float of the same value
    idx = _check_labels_come_back(halves, [float(np.float32(0.1)), 3.25], texts, tmp_path)
    assert idx.predict(["forgot my pin"])[0] == np.float32(0.1)
    _check_labels_come_back([np.bool_(c == "pin") for c in names], [False, True], texts, tmp_path)
    _check_labels_come_back([c.encode() for c in names], [c.encode() for c in sorted(TOPICS)], texts, tmp_path)
    _check_labels_come_back([np.bytes_(b"\xff" + c.encode()) for c in names],
                            [b"\xff" + c.encode() for c in sorted(TOPICS)], texts, tmp_path)  # not UTF-8
    mixed = [1 if c == "pin" else c for c in names]  # each category its own type, text order
    _check_labels_come_back(mixed, [1, "card_delivery", "fees", "transfer"], texts, tmp_path)
    ints = _check_labels_come_back([code[c] for c in names], [0, 1, 2, 3], texts, tmp_path)
    assert b'"int_labels": true' in ints.to_bytes() and b"label_kinds" not in ints.to_bytes()  # as before


def test_labels_of_other_types_are_refused_and_equal_floats_are_one_category() -> None:
    from decimal import Decimal
    from fractions import Fraction
    for bad in (Decimal("1.5"), Fraction(1, 3), 1 + 2j):
        with pytest.raises(errors.InvalidArgument, match=re.escape(
                f"labels[1] is a {type(bad).__name__} ({bad!r}); labels must be str, int, float, bool or bytes")):
            m.CategoryIndex.fit(T4, [0.5, bad, 0.5, 0.5], calibrate=False)
    assert m.CategoryIndex.fit(T4, [0.0, -0.0, 1.5, 1.5], calibrate=False).categories == [0.0, 1.5]
    with pytest.raises(errors.InvalidArgument, match="equal values with different category names"):
        m.CategoryIndex.fit(T4, [True, 1, 0, 0], calibrate=False)
    with pytest.raises(errors.InvalidArgument, match="different values with the same category name 'card'"):
        m.CategoryIndex.fit(T4, [b"card", "card", "x", "x"], calibrate=False)


T4 = ["my card has not arrived", "where is my card", "top up failed", "my top-up did not work"]


def test_a_saved_index_with_bad_label_kinds_is_refused() -> None:
    import hashlib
    import json
    import struct
    idx = m.CategoryIndex.fit(T4, [0.5, 0.5, 1.5, 1.5], calibrate=False)
    data = idx.to_bytes()
    _, version, n = struct.unpack_from("<4sII", data)
    header = json.loads(data[12:12 + n])
    assert header["label_kinds"] == {"0.5": "float", "1.5": "float"}
    header["label_kinds"] = {"0.5": "complex", "1.5": "float"}
    head = json.dumps(header, sort_keys=True).encode()
    body = struct.pack("<4sII", b"TGIX", version, len(head)) + head + data[12 + n:-32]
    with pytest.raises(errors.DecodeError, match="bad label kinds"):
        m.CategoryIndex.from_bytes(body + hashlib.sha256(body).digest())


# ---------------------------------------------------------------- zero-shot: no known token


BLOB = ("dGhpcyBpcyBhIGJhc2U2NCBlbmNvZGVkIHN0cmluZyB0aGF0IGlzIHF1aXRlIGxvbmcgYW5kIGhhcyBubyBzcGFjZXMgaW4gaXQgYXQgYWxs"
        "IG9rYXk")


def test_zero_shot_flags_a_text_without_a_known_token() -> None:
    # Before: "x" * 1000 or a base64 blob got the uniform answer (1/153) with reason None and
    # low_signal False, while an emoji (the same uniform answer) was flagged 'no_letters'.
    idx = m.CategoryIndex.default()
    texts = ["x" * 1000, BLOB, "🙂", "label images of cats", None, "zzqx"]
    pred = idx.predict(texts, on_invalid="skip")
    assert pred.reasons == ["unseen", "unseen", "no_letters", None, "invalid", None]
    assert pred.low_signal.tolist() == [True, True, True, False, True, False]
    p = idx.predict_proba(texts[:2])
    assert np.allclose(p, 1 / len(idx))  # the uniform answer the reason explains
    assert idx.top_k("x" * 1000).reason == "unseen" and idx.top_k("label images of cats").reason is None
    assert pickle.loads(pickle.dumps(idx)).predict([BLOB]).reasons == ["unseen"]
    cat = m.CategoryIndex.from_catalog(m.Catalog.default()[:20])
    assert cat.predict(["x" * 1000]).reasons == ["unseen"]


# ---------------------------------------------------------------- raw errors


def test_odd_labels_and_backends_raise_invalid_argument_with_the_reason() -> None:
    texts = [t for ts in TOPICS.values() for t in ts]
    labels = [c for c, ts in TOPICS.items() for _ in ts]
    # before: pybind11's "fit_with_folds(): incompatible function arguments" dump
    with pytest.raises(errors.InvalidArgument, match=re.escape(
            "labels[3] is not valid text: surrogates not allowed at position 1")):
        m.CategoryIndex.fit(texts, labels[:3] + ["x\udc80"] + labels[4:])
    # before: numpy's "could not convert string to float: np.str_('a')"
    with pytest.raises(errors.InvalidArgument, match=re.escape(
            "the backend returned an array of dtype <U1, not numbers: a backend returns one vector of numbers per "
            "text, an array [n_texts, dim] (ValueError: could not convert string to float")):
        m.CategoryIndex.fit(texts, labels, backend=lambda t: np.array([["a"]] * len(t)))
    with pytest.raises(errors.InvalidArgument, match=re.escape("the backend returned a list, not numbers")):
        m.CategoryIndex.fit(texts, labels, backend=lambda t: [[1.0, 2.0]] + [[1.0]] * (len(t) - 1))
    # before: TypeError "<lambda>() got an unexpected keyword argument 'convert_to_numpy'"
    bare = type("M", (), {"encode": lambda self, t: np.ones((len(t), 3))})()
    with pytest.raises(errors.InvalidArgument, match=re.escape(
            "backend.encode takes no keyword argument(s) ['convert_to_numpy', 'normalize_embeddings', "
            "'show_progress_bar']: a backend with .encode is called as sentence-transformers' encode(texts, "
            "convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False); pass a callable instead, "
            "e.g. backend=lambda texts: model.encode(texts)")):
        m.CategoryIndex.fit(texts, labels, backend=bare)
    emb = m.StaticEmbedding.default()
    st_like = type("ST", (), {"encode": lambda self, t, **kw: emb.embed(t)})()  # sentence-transformers' shape
    idx = m.CategoryIndex.fit(texts, labels, backend=st_like, epochs=20, calibrate=False)
    assert idx.predict(["forgot my pin"]) == ["pin"]
    flaky = {"ok": True}

    def later_strings(t):  # a backend that turns bad at predict time is named there too
        return emb.embed(t) if flaky["ok"] else np.array([["a"]] * len(t))
    idx = m.CategoryIndex.fit(texts, labels, backend=later_strings, calibrate=False)
    flaky["ok"] = False
    with pytest.raises(errors.InvalidArgument, match=re.escape("the backend returned an array of dtype <U1")):
        idx.predict(["forgot my pin"])


def test_a_blank_training_text_is_refused_whatever_its_white_space() -> None:
    # Only ASCII blanks were refused in the default mode; "\xa0", "\u3000" and "\u2028" trained a
    # category of blanks, which on_invalid="skip" dropped: the two modes fit different models.
    texts = ["where is my card", "card has not arrived", "top up my account", "add money please"]
    labels = ["card", "card", "top_up", "top_up"]
    for blank in ("   ", "\xa0", "\u3000\u3000", "\u2028"):
        with pytest.raises(errors.InvalidArgument, match=r"texts\[4\] is empty"):
            m.CategoryIndex.fit(texts + [blank], labels + ["blank"], calibrate=False)
        skipped = m.CategoryIndex.fit(texts + [blank], labels + ["blank"], on_invalid="skip", calibrate=False)
        assert skipped.categories == ["card", "top_up"]


def test_calibrate_false_refuses_the_calibration_options_it_would_ignore() -> None:
    texts, labels, _ = word_list_categories()
    with pytest.raises(errors.InvalidArgument, match="target_precision, folds set.* calibrate=False turns off"):
        m.CategoryIndex.fit(texts, labels, calibrate=False, target_precision=0.99, folds=5)
    with pytest.raises(errors.InvalidArgument, match="oos_texts set.* calibrate=False turns off"):
        m.CategoryIndex.fit(texts, labels, calibrate=False, oos_texts=["what is the weather"])


def test_a_backend_that_returns_none_is_named() -> None:
    texts, labels = ["a card", "my card", "top up", "add money"], ["c", "c", "t", "t"]
    with pytest.raises(errors.InvalidArgument, match="the backend returned None, not an array"):
        m.CategoryIndex.fit(texts, labels, backend=lambda t: None, calibrate=False)


@pytest.mark.parametrize("pair", [("A", "A\x00"), (b"\x01", b"\x01\x00")])
def test_labels_that_differ_by_a_trailing_nul_stay_two_categories_in_the_calibration(pair) -> None:
    # A '<U'/'S' array drops trailing NULs: the folds merged the two labels, no fold held two
    # categories, and the index came out uncalibrated without a word.
    texts, labels, _ = word_list_categories()
    cats = sorted(set(labels))[:2]
    keep = [i for i, y in enumerate(labels) if y in cats]
    renamed = [pair[cats.index(labels[i])] for i in keep]
    idx = m.CategoryIndex.fit([texts[i] for i in keep], renamed, epochs=15)
    assert set(idx.categories) == set(pair) and idx.threshold is not None
