"""tg.match: every str answered (low-signal flagged), invalid entries named or skipped,
temperature calibration and out-of-scope abstention."""

from __future__ import annotations

import numpy as np
import pytest

from tagger import errors
from tagger import match as m

TOPICS = {
    "card_delivery": ["when will my new card arrive", "my card has not arrived yet", "how long does card delivery take",
                      "where is the card you sent me", "track the delivery of my card", "card still not delivered",
                      "is my card in the mail already", "the card you posted never came"],
    "transfer": ["how do i send money to a friend", "my transfer did not go through", "wire money abroad",
                 "transfer funds between my accounts", "why is my bank transfer pending", "send a payment to my landlord",
                 "how long does an international transfer take", "cancel the transfer i just made"],
    "fees": ["why was i charged a fee", "what fees apply to withdrawals", "is there a fee for top up",
             "extra charge on my statement", "how much does the exchange fee cost", "remove the monthly fee",
             "fee for using an atm abroad", "i was charged twice in fees"],
    "pin": ["i forgot my pin", "how do i change my pin", "my pin is blocked", "reset the pin of my card",
            "pin not working at the atm", "unblock my pin please", "where can i see my pin", "choose a new pin code"],
}


def topic_index(**kw):
    texts = [t for ts in TOPICS.values() for t in ts]
    labels = [c for c, ts in TOPICS.items() for _ in ts]
    return m.CategoryIndex.fit(texts, labels, epochs=20, **kw)


ODD = ["10-4", "", "   ", "🙂🙂🙂", "Разметьте тональность отзывов", "标注这些图片中的物体", "!!!???", "zzqx",
       "card " * 5000]


def test_mixed_batch_answers_every_text_and_flags_the_odd_ones():
    # The sparse model: with the dense block (the default) "zzqx" has WordPiece pieces, which
    # are features, so it is not "unseen" there; every other reason is the same.
    idx = topic_index(dense=False)
    batch = ["my card has still not arrived", *ODD, "how do i change my pin"]
    pred = idx.predict(batch)
    assert len(pred) == len(batch) and all(p in idx.categories for p in pred)
    assert pred[0] == "card_delivery" and pred[-1] == "pin"
    reasons = dict(zip(batch, pred.reasons))
    assert reasons["10-4"] == "no_letters" and reasons["🙂🙂🙂"] == "no_letters" and reasons["!!!???"] == "no_letters"
    assert reasons[""] == "empty" and reasons["   "] == "empty"
    assert reasons["Разметьте тональность отзывов"] == "unsupported_script"
    assert reasons["标注这些图片中的物体"] == "unsupported_script"
    assert reasons["my card has still not arrived"] is None and reasons["card " * 5000] is None
    assert reasons["zzqx"] == "unseen"  # letters, but no feature the index knows: the prior
    assert pred.low_signal.tolist() == [False] + [True] * 8 + [False, False]
    p = idx.predict_proba(batch)
    assert p.shape == (len(batch), 4) and np.allclose(p.sum(axis=1), 1, atol=1e-4)
    # a text without any feature gets the class prior: the same row for all of them
    assert np.allclose(p[2], p[3]) and np.isfinite(p).all()
    # same answers one by one as in the batch
    assert [idx.predict([t])[0] for t in batch] == list(pred)


def test_unseen_is_flagged_with_the_dense_block_too():
    # The dense columns always had rows in the model, so every text counted as known and the
    # default index (dense=True) never said `unseen`, even for a text whose answer is the prior.
    idx = topic_index()
    pred = idx.predict(["x" * 1000, "", "my card has still not arrived"])
    assert pred.reasons == ["unseen", "empty", None] and pred.low_signal.tolist() == [True, True, False]
    p = idx.predict_proba(["x" * 1000, ""])
    assert np.array_equal(p[0], p[1])  # the prior
    assert idx.top_k("x" * 1000, 1).reason == "unseen"


def test_top_k_answers_odd_texts_with_a_reason_and_strict_raises():
    idx = topic_index()
    r = idx.top_k("10-4", 2)
    assert len(r) == 2 and r.reason == "no_letters" and r.low_signal
    ok = idx.top_k("where is my card", 2)
    assert ok.reason is None and not ok.low_signal and ok[0][0] == "card_delivery"
    with pytest.raises(errors.InvalidArgument, match="no letters"):
        idx.top_k("10-4", strict=True)
    rows = idx.top_k_batch(["", "send money abroad"], k=1)
    assert rows[0].reason == "empty" and rows[1][0][0] == "transfer"


def test_catalog_index_answers_odd_texts():
    idx = m.CategoryIndex.default()
    res = idx.top_k_batch(["Transcribe these podcast recordings", "1234 !!", ""], k=1)
    assert res[0][0][0] == "audio/transcription" and res[0].reason is None
    assert res[1].reason == "no_letters" and res[2].reason == "empty" and len(res[2]) == 1


@pytest.mark.parametrize("bad", [None, 42, float("nan"), b"bytes", "\ud800 lone surrogate"])
def test_non_strings_raise_naming_the_position_or_are_skipped(bad):
    idx = topic_index(calibrate=False)
    batch = ["my pin is blocked", bad, "wire money abroad"]
    with pytest.raises(errors.InvalidArgument, match=r"texts\[1\]"):
        idx.predict(batch)
    with pytest.raises(errors.InvalidArgument, match=r"texts\[1\]"):
        idx.predict_proba(batch)
    pred = idx.predict(batch, on_invalid="skip")
    assert pred[0] == "pin" and pred[1] is None and pred[2] == "transfer"
    assert pred.reasons[1] == "invalid" and pred.abstained.tolist() == [False, True, False]
    p = idx.predict_proba(batch, on_invalid="skip")
    assert np.isnan(p[1]).all() and np.isfinite(p[[0, 2]]).all()
    tk = idx.top_k_batch(batch, k=2, on_invalid="skip")
    assert tk[1] == [] and tk[1].reason == "invalid" and len(tk[0]) == 2
    with pytest.raises(errors.InvalidArgument, match="on_invalid"):
        idx.predict(batch, on_invalid="ignore")


def test_embedder_and_tokenizer_batches_survive_odd_texts():
    e = m.Embedder().fit(["label images", "transcribe audio"])
    x = e.transform(["label images", "", "10-4", "🙂"])
    assert x.shape[0] == 4
    assert x[[1]].nnz == 0
    with pytest.raises(errors.InvalidArgument, match=r"texts\[1\]"):
        e.transform(["a", None])
    assert e.transform(["a", None], on_invalid="skip")[[1]].nnz == 0
    tok = m.Tokenizer()
    assert tok.encode_batch(["", "10-4", None], on_invalid="skip")[0] == []
    with pytest.raises(errors.InvalidArgument, match=r"texts\[2\]"):
        tok.encode_batch(["", "10-4", None])


def test_fit_skips_invalid_examples_only_when_asked():
    texts = [t for ts in TOPICS.values() for t in ts] + [None, ""]
    labels = [c for c, ts in TOPICS.items() for _ in ts] + ["pin", "fees"]
    with pytest.raises(errors.InvalidArgument, match=r"texts\[32\]"):
        m.CategoryIndex.fit(texts, labels)
    idx = m.CategoryIndex.fit(texts, labels, on_invalid="skip", epochs=20)
    assert idx.predict(["forgot my pin"]) == ["pin"]


def test_predictions_to_pandas_keeps_the_series_index():
    pd = pytest.importorskip("pandas")
    idx = topic_index()
    s = pd.Series(["my pin is blocked", "10-4", "wire money"], index=["a", "b", "c"])
    df = idx.predict_frame(s)
    assert list(df.index) == ["a", "b", "c"]
    assert list(df.columns) == ["label", "score", "abstained", "low_signal", "reason"]
    assert df.loc["b", "reason"] == "no_letters" and bool(df.loc["b", "low_signal"])
    assert df.loc["a", "label"] == "pin" and 0 < df.loc["a", "score"] <= 1


def test_abstains_on_synthetic_out_of_scope_texts():
    idx = topic_index()
    assert idx.threshold is not None and 0 < idx.threshold < 1 and idx.temperature > 0
    assert idx.calibration["oos_source"] == "none"  # 4 categories: too few to hold a group out
    # Asking such an index to abstain says what it cannot do (it answers most out-of-scope texts).
    with pytest.warns(UserWarning, match=r"abstain=True: this index's threshold saw no out-of-scope text.*oos_texts="):
        idx.predict(["what is the capital of australia"], abstain=True)
    generic = ["the cat sat on the mat", "a recipe for tomato soup", "who won the football match",
               "the train leaves at noon", "paint the fence green", "my favourite song is playing",
               "plant the seeds in spring", "the museum opens on sunday"]
    cal = topic_index(oos_texts=generic, target_precision=0.95)
    assert cal.calibration["oos_source"] == "oos_texts" and cal.threshold > idx.threshold * 0.5
    oos = ["what is the capital of australia", "bake banana bread with walnuts", "the weather is sunny today",
           "recommend a good science fiction novel", "how tall is mount everest"]
    ins = ["my card has not arrived", "why was i charged a fee", "i forgot my pin", "send money to my friend"]
    pred = cal.predict(ins + oos, abstain=True, abstain_label="out_of_scope")
    assert list(pred[:4]) == ["card_delivery", "fees", "pin", "transfer"], pred.scores
    assert sum(p == "out_of_scope" for p in pred[4:]) >= 4, pred.scores
    assert (pred.abstained == (pred.scores < cal.threshold)).all()
    fixed = cal.predict(ins + oos, abstain=0.999)  # a number is the threshold itself
    assert (fixed.abstained == (fixed.scores < 0.999)).all() and fixed.abstained.any()
    with pytest.raises(errors.InvalidArgument, match="threshold"):
        topic_index(calibrate=False).predict(ins, abstain=True)


def word_list_categories(seed=0):
    """12 synthetic categories of 10 texts (word lists per category, some shared words), and
    the generator that drew them (to draw more from the same stream)."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{c}x{j}" for c in range(12) for j in range(6)]
    texts, labels = [], []
    for c in range(12):
        for _ in range(10):
            words = [vocab[c * 6 + j] for j in rng.choice(6, 3, replace=False)] + [vocab[rng.integers(len(vocab))]]
            texts.append(" ".join(words))
            labels.append(f"cat{c:02d}")
    return texts, labels, rng


def test_calibration_with_oos_texts_is_deterministic_and_reaches_the_target():
    texts, labels, rng = word_list_categories()
    oos = [" ".join(f"z{rng.integers(40)}q" for _ in range(4)) for _ in range(30)]
    a = m.CategoryIndex.fit(texts, labels, epochs=15, oos_texts=oos, target_precision=0.95)
    b = m.CategoryIndex.fit(texts, labels, epochs=15, oos_texts=oos, target_precision=0.95, threads=1)
    assert a.temperature == b.temperature and a.threshold == b.threshold  # any thread count, bit for bit
    assert np.array_equal(a.predict_proba(texts), b.predict_proba(texts, threads=1))
    assert a.calibration["oos_source"] == "oos_texts" and a.calibration["held_out_oos"] == 30
    pred = a.predict(oos, abstain=True)
    assert sum(p is None for p in pred) >= 20  # measured 24 of 30
    held = a.predict(texts, abstain=True)
    assert np.mean([p == y for p, y in zip(held, labels)]) >= 0.8
    # without OOS texts, a group of the 12 categories is held out in each fold
    c = m.CategoryIndex.fit(texts, labels, epochs=15)
    assert c.calibration["oos_source"] == "held-out categories" and c.calibration["held_out_oos"] > 0


def test_large_data_calibrates_on_fewer_folds(monkeypatch):
    # Folds are scored until CALIBRATION_HELD_OUT in-scope examples are held out: all of them on
    # small data, the first alone when it holds enough (a 15k-example fit then trains one fold model).
    texts = [t for ts in TOPICS.values() for t in ts] * 3
    labels = [c for c, ts in TOPICS.items() for _ in ts] * 3
    full = m.CategoryIndex.fit(texts, labels, folds=3)
    assert full.calibration["folds_scored"] == 3
    monkeypatch.setattr(m, "CALIBRATION_HELD_OUT", 1)
    one = m.CategoryIndex.fit(texts, labels, folds=3)
    assert one.calibration["folds_scored"] == 1
    assert 0 < one.calibration["held_out_in_scope"] < full.calibration["held_out_in_scope"]
    assert one.temperature > 0 and one.threshold is not None
    # the model itself does not depend on the calibration (temperature keeps the ranking)
    raw = m.CategoryIndex.fit(texts, labels, calibrate=False)
    assert np.array_equal(raw.predict_proba(texts).argmax(1), one.predict_proba(texts).argmax(1))


def test_backend_index_answers_everything_and_calibrates():
    def letters(texts):
        out = np.zeros((len(texts), 26), np.float32)
        for i, t in enumerate(texts):
            for ch in t.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    texts = ["aaaa aa", "aaa a", "a aaaa", "aa a", "zzzz zz", "zz zzz", "zzz z", "z zz"]
    labels = ["A"] * 4 + ["Z"] * 4
    idx = m.CategoryIndex.fit(texts, labels, backend=letters, epochs=30, folds=2)
    pred = idx.predict(["aaaaa", "10-4", None, "zzz"], on_invalid="skip")
    assert pred[0] == "A" and pred[3] == "Z" and pred[2] is None
    assert pred.reasons == [None, "no_letters", "invalid", None]


def test_precision_threshold_weighs_held_out_examples():
    # One held-out example standing for ten (only some folds scored) keeps the mix with a fixed
    # set of out-of-scope texts: the one OOS text among them no longer pulls precision below 0.9.
    conf_in, correct, conf_oos = np.array([0.9, 0.8]), np.array([True, True]), np.array([0.85])
    assert m._precision_threshold(conf_in, correct, conf_oos, 0.9) == 0.9
    assert m._precision_threshold(conf_in, correct, conf_oos, 0.9, in_weight=10.0) == 0.8


def test_fit_on_an_instance_fits_it_in_place_as_scikit_learn_does():
    texts = [t for ts in TOPICS.values() for t in ts]
    labels = [c for c, ts in TOPICS.items() for _ in ts]
    idx = m.CategoryIndex()
    assert repr(idx) == "CategoryIndex(not fitted)"
    assert idx.fit(texts, labels, epochs=20) is idx  # fitted in place, returned for chaining
    fresh = m.CategoryIndex.fit(texts, labels, epochs=20)  # on the class: a new index
    assert fresh is not idx and idx.categories == fresh.categories
    queries = ["my card never came", "forgot my pin", "fee on my statement"]
    assert list(idx.predict(queries)) == list(fresh.predict(queries)) == ["card_delivery", "pin", "fees"]
    np.testing.assert_array_equal(idx.predict_proba(queries), fresh.predict_proba(queries))
    assert idx.threshold == fresh.threshold and idx.temperature == fresh.temperature
    # A backend index refits in place the same way (and may change its categories).
    rng = np.random.default_rng(0)
    table: dict[str, np.ndarray] = {}

    def backend(batch):
        return np.stack([table.setdefault(t, rng.normal(size=8)) for t in batch])

    assert idx.fit(texts[:16], labels[:16], backend=backend, calibrate=False) is idx
    assert idx.categories == ["card_delivery", "transfer"]
    assert set(idx.predict(texts)) <= {"card_delivery", "transfer"}


def test_an_unfitted_index_says_so_and_the_default_is_not_refitted():
    idx = m.CategoryIndex()
    for query in (lambda: idx.predict(["pin"]), lambda: idx.predict_proba(["pin"]), lambda: idx.top_k("pin"),
                  lambda: idx.top_k_batch(["pin"])):
        with pytest.raises(errors.NotFitted, match="not fitted: fit it with idx.fit"):
            query()
    assert issubclass(errors.NotFitted, ValueError) and issubclass(errors.NotFitted, AttributeError)
    default = m.CategoryIndex.default()
    before = default.categories
    with pytest.raises(errors.InvalidArgument, match="cannot be refitted in place"):
        default.fit(["a card", "a pin"], ["x", "y"])
    assert default.categories == before and m.CategoryIndex.default() is default


def test_queries_never_mix_two_fits_while_another_thread_refits():
    import threading

    texts = [t for ts in TOPICS.values() for t in ts]
    labels = [c for c, ts in TOPICS.items() for _ in ts]
    two = [c if c in ("pin", "fees") else "other" for c in labels]  # another category set
    idx = m.CategoryIndex.fit(texts, labels, epochs=2, calibrate=False)
    sets = ({"card_delivery", "transfer", "fees", "pin"}, {"pin", "fees", "other"})
    stop, seen, errs = threading.Event(), [], []

    def query():
        try:
            while not stop.is_set():
                for mm in idx.top_k_batch(texts, k=4):
                    seen.append(frozenset(c for c, _ in mm))
        except Exception as e:  # pragma: no cover - reported below
            errs.append(e)

    threads = [threading.Thread(target=query) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(6):
            idx.fit(texts, two if i % 2 == 0 else labels, epochs=2, calibrate=False)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errs
    # Each answer lists the categories of one fit (all 4 of the first, or all 3 of the second).
    assert seen and all(s in {frozenset(sets[0]), frozenset(sets[1])} for s in seen)


def test_an_empty_batch_gets_an_empty_answer_with_the_dense_block():
    # The dense block (the default) used to refuse a batch of no texts.
    for idx in (topic_index(), topic_index(dense=False), m.CategoryIndex.default()):
        assert idx.predict_proba([]).shape == (0, len(idx.categories))
        assert list(idx.predict([])) == [] and idx.top_k_batch([]) == []
        assert idx.predict_frame([]).empty


def test_bad_thread_counts_and_abstain_values_are_named():
    idx = topic_index(dense=False)
    for bad in (-1, "2", 2.5, True):
        with pytest.raises(errors.InvalidArgument, match="threads must be an int >= 0"):
            idx.predict(["my pin"], threads=bad)
    with pytest.raises(errors.InvalidArgument, match="threads must be an int >= 0"):
        topic_index(threads=-2)
    with pytest.raises(errors.InvalidArgument, match="abstain must be True, False or a probability"):
        idx.predict(["my pin"], abstain="yes")
    assert list(idx.predict(["my pin"], abstain=0.0)) == ["pin"]


def test_catalog_entries_are_checked_field_by_field():
    ok = m.Catalog([{"id": "a/b", "examples": ["a photo of a cat"]}, {"id": "c/d", "description": "stock prices"}])
    assert ok["a/b"].description == "" and ok["a/b"].examples == ("a photo of a cat",)
    cases = [
        ([{"id": "a/b", "description": "x", "exampels": ["typo"]}], r"entry 0 has unknown field\(s\) \['exampels'\]"),
        ([{"description": "no id"}], "entry 0 has no id"),
        ([{"id": "a/b"}], "has neither a description nor examples"),
        ([{"id": "a/b", "examples": "one string"}], "examples must be a list of strings, got a single str"),
        ([{"id": "a/b", "examples": ["ok", 3]}], r"examples\[1\] must be a str, got int"),
        ([{"id": "a/b", "description": 5}], "description must be a str, got int"),
        ([{"id": "a/b", "description": "x"}, "c/d"], "catalog entry 1 must be a Category or a dict, got str"),
    ]
    for entries, message in cases:
        with pytest.raises(errors.InvalidArgument, match=message):
            m.Catalog(entries)


def test_one_giant_word_costs_memory_in_proportion_not_the_batch():
    # sentencepiece's lattice (~190 bytes per input byte) and four character n-grams per byte of
    # a base64 blob: 8 MB of one "word" took +1.8 GB, 40 MB lost the batch to std::bad_alloc.
    import subprocess
    import sys
    code = """
import base64, os, resource
import tagger as tg
idx = tg.match.CategoryIndex.default()
idx.predict(["warm up the index"])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pred = idx.predict([base64.b64encode(os.urandom(1_500_000)).decode(), "my card has not arrived"])
assert len(pred) == 2
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) < 200, out.stdout  # MB for a 2 MB text (was 446)


def test_a_long_text_is_tokenized_in_parts_cut_at_spaces():
    tok = m.Tokenizer()
    words = ["card", "delivery", "pin", "transfer", "exchange", "rate", "statement"]
    alone = {w: list(tok.encode_batch([w])[0]) for w in words}
    for sep in (" ", "\n", "\t"):  # a TSV or a list of lines is cut at its whitespace too
        text = sep.join(words[i % 7] for i in range(120_000))  # ~800 KB: four parts
        ids = list(tok.encode_batch([text])[0])
        # every word alone encodes to the same pieces as in the whole text: no word is cut
        assert ids == [i for k in range(120_000) for i in alone[words[k % 7]]], repr(sep)
    assert len(tok.encode(text, out_type=str)) == len(ids)  # the pieces path is cut the same way


def test_fullwidth_and_mathematical_latin_are_letters_and_other_scripts_are_named():
    # NFKC makes them plain letters (they scored like the text they spell) but they were
    # reported no_letters, as were the letters of scripts the table did not list.
    idx = topic_index()
    pred = idx.predict(["ｗｈｅｒｅ ｉｓ ｍｙ ｃａｒｄ", "𝐰𝐡𝐞𝐫𝐞 𝐢𝐬 𝐦𝐲 𝐜𝐚𝐫𝐝", "ሰላም ለዓለም", "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ", "🙂🙂"])
    assert pred.reasons == [None, None, "unsupported_script", "unsupported_script", "no_letters"]


def test_reasons_follow_unicode_letters_and_white_space():
    # A hand-made list of script ranges said no_letters for the letters of every script it did
    # not list (Hangul compatibility jamo, halfwidth katakana, Runic) and for what NFKC makes
    # Latin ("ⓒⓐⓡⓓ" is "card"); only ASCII and no-break spaces read as empty; the Arabic
    # number signs of the Arabic block read as letters.
    idx = topic_index(dense=False)
    cases = {"ⓒⓐⓡⓓ ⓓⓔⓛⓘⓥⓔⓡⓨ": None, "ㅋㅋㅋ": "unsupported_script", "ｶﾀｶﾅ": "unsupported_script",
             "ᚠᚢᚦᚨᚱ": "unsupported_script", "\u3000\u3000": "empty", "\u2003\u2028": "empty", "\x85": "empty",
             "\u0600\u0601": "no_letters", "12 + 30 = 42": "no_letters"}
    pred = idx.predict(list(cases))
    assert dict(zip(cases, pred.reasons)) == cases
    with pytest.raises(errors.InvalidArgument, match=r"unsupported script \(Hangul, 5 of 5 letters\)"):
        m.validate_text("ㅋㅋㅋ ㅎㅎ")
    with pytest.raises(errors.InvalidArgument, match=r"unsupported script \(another script, 3 of 3 letters\)"):
        m.validate_text("ꔀꔁꔂ")  # Vai: letters of a script no message names
    m.validate_text("ⓒⓐⓡⓓ")  # the letters NFKC gives the tokenizer
