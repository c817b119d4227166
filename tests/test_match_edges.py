"""tg.match and tg.verify off the happy path: inputs that used to be read as something
else (a DataFrame's column names, 1 and "1" as one category, blank examples), numpy
results of user checks, option types refused by name, and calibration on too few examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger import errors
from tagger import match as m

from test_match_robust import TOPICS, topic_index, word_list_categories

T = ["my card has not arrived", "where is my card", "top up failed", "my top-up did not work"]
CARD_EXAMPLES = ["I am still waiting on my card?", "What can I do if my card still hasn't arrived after 2 weeks?",
                 "How long does a new card take to arrive?"]
OFF_TOPIC = b"The best recipe for banana bread uses very ripe bananas and walnuts."


@pytest.fixture(scope="module")
def idx():
    return topic_index()


@pytest.mark.parametrize("texts", [pd.DataFrame({"text": ["my pin is blocked", "wire money abroad", "x"]}),
                                   {"my pin is blocked": 1}, np.array([["my pin is blocked"], ["wire money"]])])
def test_predict_refuses_containers_it_would_misread(idx, texts) -> None:
    # A DataFrame iterates over its column names: one answer for "text" instead of three.
    with pytest.raises(errors.InvalidArgument, match="texts must be"):
        idx.predict(texts)
    with pytest.raises(errors.InvalidArgument, match="texts must be"):
        idx.predict_proba(texts)


def test_predict_takes_a_column(idx) -> None:
    df = pd.DataFrame({"text": ["my pin is blocked", "wire money abroad"]}, index=["a", "b"])
    assert list(idx.predict(df["text"])) == ["pin", "transfer"]


@pytest.mark.parametrize("labels, match", [
    ([1, "1", 2, "2"], "labels 1 and '1'.*same category name '1'"),
    (["card", np.nan, "topup", "topup"], r"labels\[1\] is missing"),
    (["card", None, "topup", "topup"], r"labels\[1\] is missing"),
    (pd.Series(["card", pd.NA, "topup", "topup"], dtype="string"), r"labels\[1\] is missing"),
    ("abab", "single str"),
    (np.array([["a"], ["a"], ["b"], ["b"]]), "one-dimensional"),
    (pd.DataFrame({"label": ["a", "a", "b", "b"]}), r"df\['label'\]"),
    ([["a"], ["a"], ["b"], ["b"]], r"labels\[0\] is a list"),
])
def test_fit_refuses_labels_that_would_merge_or_invent_categories(labels, match) -> None:
    with pytest.raises(errors.InvalidArgument, match=match):
        m.CategoryIndex.fit(T, labels)


def test_equal_labels_of_different_int_types_are_one_category() -> None:
    assert m.CategoryIndex.fit(T, [1, np.int64(1), 2, 2], calibrate=False).categories == [1, 2]


def test_static_embedding_as_backend() -> None:
    texts = [t for ts in TOPICS.values() for t in ts]
    labels = [c for c, ts in TOPICS.items() for _ in ts]
    idx = m.CategoryIndex.fit(texts, labels, backend=m.StaticEmbedding.default(), epochs=20)
    assert idx.predict(["i forgot my pin", "send money to my friend"]) == ["pin", "transfer"]


@pytest.mark.parametrize("kw, match", [
    ({"seed": -1}, "seed must be an int"), ({"seed": 2**64}, "seed must be an int"),
    ({"epochs": 2**40}, "epochs must be an int"), ({"epochs": 0}, "epochs must be an int"),
    ({"learning_rate": float("nan")}, "learning_rate"), ({"l2": -1.0}, "l2"),
    ({"target_precision": "high"}, "target_precision must be a number"),
    ({"epoch": 3}, r"unknown option\(s\) \['epoch'\]"), ({"threads": -1}, "threads must be an int"),
])
def test_fit_options_are_checked_by_name(kw, match) -> None:
    with pytest.raises(errors.InvalidArgument, match=match):
        m.CategoryIndex.fit(T, ["a", "a", "b", "b"], **kw)


def test_thread_counts_are_checked_by_name() -> None:
    with pytest.raises(errors.InvalidArgument, match="threads must be an int >= 0"):
        m.StaticEmbedding.default().embed(["a"], threads=-1)
    for threads in (-1, None, 1.5):
        with pytest.raises(errors.InvalidArgument, match="threads must be an int >= 0"):
            tg.verify.check_many([b"my card"], "text", threads=threads)


def test_too_few_examples_leave_the_index_uncalibrated_and_say_why() -> None:
    # Before: T ran to its search bound (1/20) on one held-out example and the threshold to 1.0.
    idx = m.CategoryIndex.fit(T[:3], ["card", "card", "topup"])
    assert idx.temperature == 1.0 and idx.threshold is None
    assert "calibration needs at least" in idx.calibration["skipped"]
    with pytest.raises(errors.InvalidArgument, match="calibration skipped: only 1 held-out"):
        idx.predict(["my card is late"], abstain=True)
    assert idx.predict(["my card is late"], abstain=0.2).abstained.shape == (1,)  # an explicit threshold works
    assert topic_index().threshold is not None  # 32 examples calibrate


# ---------------------------------------------------------------- verify


@pytest.mark.parametrize("blank", ["", " ", "\n\t"])
def test_blank_examples_do_not_lower_the_relevance_threshold(blank) -> None:
    plain = tg.verify.VerifySpec(description="Customer questions about card delivery", examples=CARD_EXAMPLES)
    padded = plain.replace(examples=[*CARD_EXAMPLES, blank, blank, blank])
    assert padded.examples == plain.examples
    model = tg.verify.TextModel.default()
    assert model.calibrate(plain.references, [*plain.examples, blank]) == model.calibrate(plain.references, plain.examples)
    assert tg.verify.check(OFF_TOPIC, "text", padded).reasons == ("off_topic",)


def test_examples_from_a_generator_are_kept() -> None:
    spec = tg.verify.VerifySpec(description="card delivery", examples=(e for e in CARD_EXAMPLES))
    assert spec.examples == tuple(CARD_EXAMPLES) and len(spec.references) == 1 + len(CARD_EXAMPLES)


@pytest.mark.parametrize("data", [b" ", b"\n\n\n", b"\t \t", "\u3000".encode()])
def test_whitespace_only_uploads_are_rejected(data) -> None:
    v = tg.verify.check(data, "text", {"description": "Customer questions about card delivery"})
    assert v.status == "rejected" and "no_letters" in v.reasons


@pytest.mark.parametrize("result", [np.bool_(False), np.array(1.0) < 0.5])
def test_a_numpy_false_from_a_check_fails_it(result) -> None:
    v = tg.verify.check(b"my card has not arrived", "text", {"checks": [lambda item: result]})
    assert v.status == "rejected", v
    ok = tg.verify.check(b"my card has not arrived", "text", {"checks": [lambda item: np.bool_(True)]})
    assert ok.status == "accepted"


@pytest.mark.parametrize("field, value, match", [
    ("description", None, "description must be a str"), ("description", b"cards", "description must be a str"),
    ("category", None, "category must be a str"), ("text_min_chars", "3", "text_min_chars must be an int"),
    ("text_min_chars", True, "text_min_chars must be an int"), ("relevance_threshold", float("nan"), "relevance_threshold"),
    ("relevance_threshold", 2.0, r"relevance_threshold must be a finite number in \[-1, 1\]"),
    ("csv_delimiter", ";;", "csv_delimiter must be one character"), ("text_scripts", "Latin", "text_scripts"),
    ("image_min_size", 16, r"image_min_size must be a \(width, height\)"), ("checks", [1], r"checks\[0\] \(int\)"),
    ("severity", {"off_topik": "ignore"}, "did you mean 'off_topic'"), ("audio_max_silence", 1.5, "audio_max_silence"),
    ("examples", "card", "not one str"), ("examples", ["ok", 3], "example 1 is int"),
])
def test_spec_fields_are_checked_when_the_spec_is_built(field, value, match) -> None:
    with pytest.raises(errors.InvalidArgument, match=match):
        tg.verify.VerifySpec(**{field: value})
    with pytest.raises(errors.InvalidArgument, match=match):
        tg.verify.check(b"my card", "text", {field: value})


def test_spec_takes_numpy_numbers_and_custom_reason_codes() -> None:
    spec = tg.verify.VerifySpec(max_bytes=np.int64(100), text_min_chars=np.int32(2), relevance_threshold=np.float32(0.1),
                                severity={"too_toxic": "needs_review"})
    assert spec.max_bytes == 100 and type(spec.max_bytes) is int and spec.text_min_chars == 2
    assert tg.verify.check(b"x" * 101, "text", spec).reasons[0] == "too_large"


def test_item_ids_are_checked_and_may_come_from_a_generator() -> None:
    out = tg.verify.check_many([b"my card is late", b"where is my card"], "text", item_ids=(f"i{k}" for k in range(2)),
                               register=False)
    assert len(out) == 2
    with pytest.raises(errors.InvalidArgument, match="2 ids for 1 items"):
        tg.verify.check_many([b"my card"], "text", item_ids=["a", "b"])
    with pytest.raises(errors.InvalidArgument, match=r"item_ids\[0\] must be a str"):
        tg.verify.check_many([b"my card"], "text", item_ids=[7])
    with pytest.raises(errors.InvalidArgument, match="item_id must be a str"):
        tg.verify.check(b"my card", "text", item_id=7)


def test_equal_labels_with_different_names_are_refused() -> None:
    with pytest.raises(errors.InvalidArgument, match="labels 1 and 1.0.*equal values with different category names"):
        m.CategoryIndex.fit(T, [1, 1.0, 2, 2])


def test_catalog_options_and_text_are_checked() -> None:
    with pytest.raises(errors.InvalidArgument, match=r"from_catalog got unknown option\(s\) \['bogus'\]"):
        m.CategoryIndex.from_catalog(m.Catalog.default(), bogus=1)
    with pytest.raises(errors.InvalidArgument, match="category 'a': description is not valid text"):
        m.CategoryIndex.from_catalog([{"id": "a", "description": "cats \ud800"}, {"id": "b", "description": "cars"}])
    idx = m.CategoryIndex.from_catalog(m.Catalog.default(), hash_bits=np.int64(18))  # numpy options are saved as ints
    assert m.CategoryIndex.from_bytes(idx.to_bytes()).categories == idx.categories
    with pytest.raises(errors.InvalidArgument, match="dense_weight must be a number in"):
        m.CategoryIndex.fit(T, ["a", "a", "b", "b"], dense_weight=-1.0)
    cat = m.Catalog.default().replace({"id": "text/sentiment", "description": "how a review feels"})
    assert cat["text/sentiment"].description == "how a review feels"


def test_tokenizer_and_registry_arguments_are_named() -> None:
    tok = m.Tokenizer()
    for call, match in [(lambda: tok.decode([2**40]), "out of range"), (lambda: tok.decode([1.7]), "out of range"),
                        (lambda: tok.id_to_piece(-1), "out of range"), (lambda: tok.piece_to_id(None), "piece must be"),
                        (lambda: tok.encode_batch(["a"], threads=-1), "threads must be"),
                        (lambda: tg.verify.DedupRegistry(seed=-1), "seed must be"),
                        (lambda: tg.verify.DedupRegistry(image_distance=8.5), "image_distance must be an int"),
                        (lambda: tg.verify.DedupRegistry(cutoff=float("nan")), "cutoff must be"),
                        (lambda: tg.verify.DedupRegistry().add(5), "32-byte SHA-256")]:
        with pytest.raises(errors.InvalidArgument, match=match):
            call()
    reg = tg.verify.DedupRegistry()
    with pytest.raises(errors.InvalidArgument, match="not valid text"):
        reg.add(b"\0" * 32, text="\ud800")
    assert len(reg) == 0  # nothing half-recorded


def test_make_subtasks_refuses_ids_that_would_repeat_an_item() -> None:
    for call, match in [(lambda: m.make_subtasks(4, 4, [100, 100, 100], 0.5), "repeats the id 100"),
                        (lambda: m.make_subtasks(4, 2, [0, 1], 0.5), "control item 0 is also a regular item"),
                        (lambda: m.make_subtasks(["a", "b", "a"], 2), "repeats an item id"),
                        (lambda: m.make_subtasks(["a", "b"], 2, ["b"], 0.3), "control item 'b' is also one of the regular"),
                        (lambda: m.make_subtasks(10, 3, seed=-1), "seed must be"),
                        (lambda: m.make_subtasks(10, 2.7), "batch_size must be an int"),
                        (lambda: m.make_subtasks(True, 2), "not a bool")]:
        with pytest.raises(errors.InvalidArgument, match=match):
            call()
    pairs = m.make_subtasks([(1, 2), (3, 4)], 1)  # tuple ids stay tuples
    assert [list(s.items) for s in pairs] == [[(1, 2)], [(3, 4)]] or [list(s.items) for s in pairs] == [[(3, 4)], [(1, 2)]]


@pytest.mark.filterwarnings("ignore:abstain=True. this index's threshold saw no out-of-scope text")
def test_abstain_takes_numpy_bools(idx) -> None:
    assert (idx.predict(["my pin is blocked"], abstain=np.True_).abstained ==
            idx.predict(["my pin is blocked"], abstain=True).abstained).all()


def test_assignment_arguments_that_used_to_wrap_or_truncate() -> None:
    s = np.random.default_rng(0).random((5, 4))
    for kw, match in [({"capacity": 2.0**63}, "too large"), ({"overlap": 2**31 - 1}, "answer slots"),
                      ({"exclude": [(0, 2**70)]}, "int indices"), ({"exclude": "ab"}, "got a string"),
                      ({"exclude": [(0.7, 0)]}, "whole numbers")]:
        args = {"overlap": 1, "capacity": 2, **kw}
        with pytest.raises(errors.InvalidArgument, match=match):
            m.assign(s, args.pop("overlap"), args.pop("capacity"), **args)
    assert m.assign(s, 1, 2, exclude=[(1.0, 0)]).shape == (5, 1)  # whole floats are indices


def test_a_backend_nan_names_the_text() -> None:
    emb = m.StaticEmbedding.default()

    def backend(texts):
        v = emb.embed(texts)
        v[[i for i, t in enumerate(texts) if t == "bad"], 0] = np.nan
        return v

    texts = [t for ts in TOPICS.values() for t in ts]
    labels = [c for c, ts in TOPICS.items() for _ in ts]
    idx = m.CategoryIndex.fit(texts, labels, backend=backend, calibrate=False)
    with pytest.raises(errors.InvalidArgument, match=r"NaN/inf for texts\[1\] \('bad'\)"):
        idx.predict(["my pin is blocked", "bad"])


@pytest.mark.filterwarnings("ignore:abstain=True. this index's threshold saw no out-of-scope text")
def test_a_separable_held_out_set_keeps_the_raw_scores() -> None:
    # 32 examples of 4 distinct topics: every held-out example right with a wide margin, so the
    # fitted temperature ran to its bound (1/20) and every text, out-of-scope ones too, scored ~1.
    idx = topic_index()
    assert idx.calibration["temperature_at_bound"] and idx.temperature == 1.0
    ins = ["my card has not arrived", "why was i charged a fee", "i forgot my pin", "send money to my friend"]
    oos = ["what is the capital of australia", "bake banana bread with walnuts", "the weather is sunny today",
           "recommend a good science fiction novel", "how tall is mount everest"]
    pred = idx.predict(ins + oos, abstain=True)
    assert list(pred[:4]) == ["card_delivery", "fees", "pin", "transfer"]
    assert sum(p is None for p in pred[4:]) >= 4, pred.scores


def test_integer_labels_come_back_as_integers_in_numeric_order() -> None:
    # pd.factorize / LabelEncoder codes: before, predictions were the strings "0".."11" and the
    # predict_proba columns in text order ("0", "1", "10", "11", "2", ...), so comparing either
    # with the integer truth silently gave ~0 accuracy.
    texts = [t for ts in TOPICS.values() for t in ts] * 3
    names = [c for c, ts in TOPICS.items() for _ in ts] * 3
    codes = {c: k for k, c in enumerate(sorted(TOPICS))}
    remap = {0: 0, 1: 10, 2: 2, 3: 11}  # ints whose text order differs from their numeric order
    y = np.array([remap[codes[c]] for c in names])
    idx = m.CategoryIndex.fit(texts, y, epochs=20)
    assert idx.categories == [0, 2, 10, 11]
    pred = idx.predict(texts)
    assert all(type(p) is int for p in pred) and np.mean(np.asarray(pred) == y) > 0.9
    proba = idx.predict_proba(texts)
    assert (np.asarray(idx.categories)[proba.argmax(1)] == np.asarray(pred)).all()
    assert idx.predict_frame(texts[:2])["label"].tolist() == list(pred[:2])
    assert isinstance(idx.top_k(texts[0], 1)[0][0], int)
    back = m.CategoryIndex.from_bytes(idx.to_bytes())
    assert back.categories == idx.categories and np.array_equal(back.predict_proba(texts), proba)
    assert m.CategoryIndex.fit(texts, names, epochs=20).categories == sorted(TOPICS)  # names stay names


def test_user_facing_messages_found_by_a_new_user(tmp_path) -> None:
    pd_ = pytest.importorskip("pandas")
    frame = m.CategoryIndex.default().predict_frame(pd_.Series(["translate these pages"]), abstain=0.999)
    assert frame["label"].tolist() == [None] and frame["reason"].tolist() == [None]  # not NaN under pandas 3
    with pytest.raises(errors.InvalidArgument, match="a catalog index .* is not calibrated"):
        m.CategoryIndex.default().predict(["x"], abstain=True)
    with pytest.raises(errors.InvalidArgument, match="the folder .* does not exist"):
        topic_index(dense=False).save(tmp_path / "missing" / "x.tgix")
    v = tg.verify.check(b"my card has not arrived", "text")
    for bad in (32, "ab" * 16, None):  # bytes(32) would have signed 32 zero bytes
        with pytest.raises(errors.InvalidArgument, match="ciphertext_hash must be"):
            tg.verify.Receipt.create(v, "i", bad, tg.crypto.SigningKey.generate())
    with pytest.raises(errors.InvalidArgument, match="item_ids repeats 'x'"):
        tg.verify.check_many([b"a b c", b"d e f"], "text", item_ids=["x", "x"])
    with pytest.raises(TypeError, match=r"DawidSkene\(\) got unexpected keyword argument\(s\) \['n_iters'\]"):
        tg.consensus.DawidSkene(n_iters=10)


def test_oos_share_trades_the_mix_the_threshold_is_chosen_for() -> None:
    # 12 word-list categories: held-out category groups stand in for out-of-scope texts, about a
    # third of the calibration mix; saying 5 % are expected lowers the threshold (more answers).
    texts, labels, _ = word_list_categories()
    plain = m.CategoryIndex.fit(texts, labels, epochs=15)
    mixed = m.CategoryIndex.fit(texts, labels, epochs=15, oos_share=0.05)
    assert plain.calibration["oos_source"] == "held-out categories" and mixed.calibration["oos_share"] == 0.05
    assert mixed.threshold < plain.threshold and mixed.temperature == plain.temperature
    for bad in (0, 1, 1.5, "0.1", True):
        with pytest.raises(errors.InvalidArgument, match="oos_share must be"):
            m.CategoryIndex.fit(texts, labels, oos_share=bad)


def test_assign_names_the_bad_pair_and_ragged_rows():
    s = np.ones((3, 2))
    with pytest.raises(errors.InvalidArgument, match=r"exclude pair \(0, 9\) is out of range: items are 0..2, workers 0..1"):
        tg.match.assign(s, overlap=1, capacity=3, exclude=[(0, 1), (0, 9)])
    with pytest.raises(errors.InvalidArgument, match="rows have different lengths"):  # was numpy's "inhomogeneous shape"
        tg.match.assign([[1.0, 2.0], [3.0]], overlap=1, capacity=1)


def test_threads_that_cannot_start_do_not_abort_the_process():
    """A thread the OS refused (here: address space for 3,000 stacks) terminated the process
    (SIGABRT, 'terminate called without an active exception'); the work now runs on the threads
    that did start."""
    import resource
    import subprocess
    import sys

    code = ("import tagger as tg\n"
            "idx = tg.match.CategoryIndex.fit(['where is my card', 'my card is late', 'top up failed', "
            "'my top up did not work'], ['card', 'card', 'top_up', 'top_up'])\n"
            "out = idx.predict(['a b'] * 100000, threads=3000)\n"
            "e = tg.match.Embedder().fit(['a b', 'c d'], threads=1000)\n"
            "print(len(out), e.transform(['a b'] * 1000, threads=3000).shape[0])\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))

    r = subprocess.run([sys.executable, "-c", code], preexec_fn=limit, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["100000", "1000"]


def test_threshold_is_a_probability_or_none():
    """NaN turned abstention off silently, inf broke save(), "0.5" broke repr(), 2 and -1 were kept."""
    idx = topic_index()
    for bad in (float("nan"), float("inf"), "0.5", 2, -1, True):
        with pytest.raises(errors.InvalidArgument, match="threshold must be a probability"):
            idx.threshold = bad
    idx.threshold = 0.5
    assert idx.threshold == 0.5 and "threshold=0.5" in repr(idx)
    idx.threshold = None
    assert idx.threshold is None


def test_a_diverged_fit_is_refused():
    """learning_rate=1e38 passed the finite check, the float32 weights overflowed, and every
    probability was NaN (predict answered the first category with score NaN, never abstaining)."""
    texts = [t for ts in TOPICS.values() for t in ts]
    labels = [c for c, ts in TOPICS.items() for _ in ts]
    for kw in ({"learning_rate": 1e38}, {"l2": 1e39}):
        with pytest.raises(errors.InvalidArgument, match="the fit diverged"):
            m.CategoryIndex.fit(texts, labels, **kw)


def test_abstention_reads_the_fit_its_probabilities_came_from():
    """predict(abstain=True) read the threshold after its snapshot: while another thread refitted
    in place, ~10 % of answers mixed one fit's probabilities with the other's threshold."""
    import threading

    texts = [t for ts in TOPICS.values() for t in ts]
    labels = [c for c, ts in TOPICS.items() for _ in ts]
    a = m.CategoryIndex.fit(texts, labels, calibrate=False)
    b = m.CategoryIndex.fit(texts, ["b:" + y for y in labels], calibrate=False)
    a.threshold, b.threshold = 0.0, 1.0  # A never abstains; B abstains on all but certainties
    queries = texts * 40  # long enough a call for the other thread to swap the fit meanwhile
    pure_a = a.predict(queries, abstain=True)
    pure_b = b.predict(queries, abstain=True)
    assert None not in pure_a and set(pure_b) == {None}
    live = m.CategoryIndex.fit(texts, labels, calibrate=False)
    live._replace_fit(a)
    seen: list[tuple] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            seen.append(tuple(live.predict(queries, abstain=True)))

    workers = [threading.Thread(target=ask) for _ in range(4)]
    for t in workers:
        t.start()
    import time

    end, i = time.monotonic() + 1.5, 0
    while time.monotonic() < end:  # what an in-place fit does: one fit's whole state replaces the other's
        live._replace_fit(b if i % 2 == 0 else a)
        i += 1
        time.sleep(0.0005)
    stop.set()
    for t in workers:
        t.join()
    assert seen and set(seen) <= {tuple(pure_a), tuple(pure_b)}


def test_catalog_files_save_atomically_and_load_with_clear_errors(tmp_path):
    """Catalog.save was a plain write (13 of 50 concurrent saves left a corrupt file); load raised
    JSONDecodeError / UnicodeDecodeError / TypeError."""
    import threading

    cat = m.Catalog.default()
    small = m.Catalog(list(cat)[:3])
    path = tmp_path / "cat.json"
    threads = [threading.Thread(target=lambda c=c: [c.save(path) for _ in range(10)]) for c in (cat, small, cat, small)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(m.Catalog.load(path)) in (3, len(cat)) and [p.name for p in tmp_path.iterdir()] == ["cat.json"]
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "null.json").write_text("null")
    m.CategoryIndex.default().save(tmp_path / "x.tgix")
    with pytest.raises(errors.DecodeError, match="not a catalog file"):
        m.Catalog.load(tmp_path / "empty.json")
    with pytest.raises(errors.DecodeError, match="use CategoryIndex.load"):
        m.Catalog.load(tmp_path / "x.tgix")
    with pytest.raises(errors.InvalidArgument, match="holds a list of categories"):
        m.Catalog.load(tmp_path / "null.json")
    with pytest.raises(errors.InvalidArgument, match="is a directory"):
        m.Catalog.load(tmp_path)
    with pytest.raises(errors.InvalidArgument, match="takes a list of categories"):
        m.Catalog(None)
    with pytest.raises(errors.InvalidArgument, match="examples must be a list of strings, got NoneType"):
        m.Category("a/b", "x", None)
    assert list(m.Catalog([]).to_pandas().columns) == ["modality", "task", "description", "examples"]


def test_unordered_texts_and_folder_paths_are_refused(tmp_path):
    """A set was answered in an order that changes between runs; "newname/" saved a file
    called newname."""
    idx = topic_index()
    with pytest.raises(errors.InvalidArgument, match="got a set"):
        idx.predict({"a b", "c d"})
    with pytest.raises(errors.InvalidArgument, match="is a directory"):
        idx.save(str(tmp_path / "newname") + "/")
    assert not (tmp_path / "newname").exists()


def test_a_category_id_without_words_trains_on_its_texts():
    """An id of separators only ("///") gave an empty training text: "text 0 is empty", naming no category."""
    cat = m.Catalog([{"id": "///", "description": "", "examples": ["transcribe podcast audio"]},
                     {"id": "image/cats", "description": "photos of cats"}])
    assert m.CategoryIndex.from_catalog(cat).top_k("transcribe this audio", k=1)[0][0] == "///"
    # Refused when the category is built (blank examples do not count), not later by the core.
    with pytest.raises(errors.InvalidArgument, match="category '///' has neither a description nor examples"):
        m.CategoryIndex.from_catalog(m.Catalog([{"id": "///", "examples": ["   "]}, {"id": "a/b", "description": "x"}]))


def test_utf8_bytes_are_answered_like_the_same_text():
    """top_k(b"") applied the strict publish-time check without strict=True; top_k("") answered."""
    d = m.CategoryIndex.default()
    assert d.top_k(b"", k=1) == d.top_k("", k=1) and d.top_k(b"", k=1).low_signal
    with pytest.raises(errors.InvalidArgument, match="not valid UTF-8"):
        d.top_k(b"\xff", k=1)
    with pytest.raises(errors.InvalidArgument, match="empty"):
        d.top_k(b"", k=1, strict=True)


def test_assignment_off_the_happy_path() -> None:
    """solve_assignment without partial returned the strict pass that stopped at the shortfall
    (objective 0 instead of 10); a sparse input was rewritten in place (duplicates summed,
    indices sorted); 1e308 gave a false InfeasibleAssignment; overlap 10**8 on one item allocated
    0.4 GB before saying it was infeasible; partial='no' was taken as True."""
    sp = pytest.importorskip("scipy.sparse", reason="scipy (the sparse extra) builds the sparse input")
    r = m.solve_assignment([[0], [10]], overlap=1, capacity=1)
    assert r.workers.ravel().tolist() == [-1, 0] and r.objective == 10 and r.shortfall == 1
    with pytest.raises(errors.InfeasibleAssignment):
        m.assign([[0], [10]], overlap=1, capacity=1)
    data, indices, indptr = np.array([3.0, 1.0, 2.0]), np.array([1, 0, 1]), np.array([0, 3, 3])
    s = sp.csr_matrix((data, indices, indptr), shape=(2, 2))
    m.assign(s, overlap=1, capacity=2, partial=True)
    assert s.nnz == 3 and s.indices.tolist() == [1, 0, 1] and data.tolist() == [3.0, 1.0, 2.0]
    with pytest.raises(errors.InvalidArgument, match=r"suitability 1e\+308 at item 0, worker 0 is beyond \+-1e\+150"):
        m.assign([[1e308, -1e308]], overlap=2, capacity=1)
    short = m.solve_assignment([[1.0, 2.0]], overlap=1000, capacity=1)
    assert short.shortfall == 998 and short.workers[0, :3].tolist() == [0, 1, -1] and short.objective == 3
    with pytest.raises(errors.InfeasibleAssignment, match="99999998 slot"):
        m.assign([[1.0, 2.0]], overlap=10**8, capacity=1)
    with pytest.raises(errors.InvalidArgument, match="partial must be True or False"):
        m.assign([[1.0, 2.0]], overlap=1, capacity=1, partial="no")


def test_more_of_the_match_surface_refuses_bad_input_by_name() -> None:
    """Raw TypeError/ValueError/FileNotFoundError from Embedder options (hash_bits=20.9 ran as 20),
    Tokenizer.decode(None)/from_bytes(str), StaticEmbedding(5)/(missing path), Catalog + None,
    make_subtasks(None, 1); control ids that are tuples crashed make_subtasks; an exclude
    DataFrame of (item, worker) rows was read as its column names."""
    bad = {
        "hash_bits must be an int": lambda: m.Embedder(hash_bits=20.9),
        "char_ngrams must be a \\(min, max\\) pair": lambda: m.Embedder(char_ngrams="ab"),
        "piece_bigrams must be a bool": lambda: m.Embedder(piece_bigrams="no"),
        "decode takes a sequence of piece ids": lambda: m.Tokenizer().decode(None),
        "from_bytes takes the model's bytes": lambda: m.Tokenizer.from_bytes("abc"),
        "StaticEmbedding takes a path or the table's bytes": lambda: m.StaticEmbedding(5),
        "cannot read the static embedding table": lambda: m.StaticEmbedding("/nonexistent/table"),
        "extend takes a catalog or a list of categories": lambda: m.Catalog.default() + None,
        "items must be a count or a sequence of item ids, not NoneType": lambda: m.make_subtasks(None, 1),
    }
    for message, call in bad.items():
        with pytest.raises(errors.InvalidArgument, match=message):
            call()
    subtasks = m.make_subtasks([("a", 1), ("b", 2), ("c", 3)], 2, control_items=[("gold", 0), ("gold", 1)],
                               control_share=0.3)
    got = [x for st in subtasks for x in st.items.tolist()]
    assert ("gold", 0) in got and all(isinstance(x, tuple) for x in got)
    pairs = pd.DataFrame({"item": [0], "worker": [1]})
    assert m.assign([[1.0, 2.0], [1.0, 2.0]], overlap=1, capacity=1, exclude=pairs).ravel().tolist() == [0, 1]


def test_outputs_and_fits_beyond_memory_say_so(monkeypatch) -> None:
    """A predict_proba batch larger than RAM filled its output with zeros after embedding every
    text (a bare std::bad_alloc, or the process killed); a fit or an assignment out of memory
    raised a bare std::bad_alloc."""
    from tagger import _system

    idx = m.CategoryIndex.fit(["where is my card", "top up my account", "card not here", "add money"],
                              ["card", "top_up", "card", "top_up"], calibrate=False)
    monkeypatch.setattr(_system, "physical_memory", lambda: 10)
    with pytest.raises(errors.InvalidArgument, match="3 texts x 2 categories of scores need about 0 GB.*in batches"):
        idx.predict_proba(["a card", "money", "x"])
    monkeypatch.setattr(_system, "physical_memory", lambda: 0)
    assert idx.predict_proba(["a card"]).shape == (1, 2)

    def no_memory(*args, **kwargs):
        raise MemoryError("std::bad_alloc")

    monkeypatch.setattr(m._m, "assign", no_memory)
    with pytest.raises(MemoryError, match=r"assign ran out of memory on 2 items x 2 workers \(4 allowed pairs"):
        m.assign([[1.0, 2.0], [2.0, 1.0]], overlap=1, capacity=1)
    monkeypatch.setattr(m._m.CategoryIndex, "fit_with_folds", no_memory)
    with pytest.raises(MemoryError, match="CategoryIndex.fit ran out of memory on 4 texts and 2 categories"):
        m.CategoryIndex.fit(["a b", "c d", "a c", "b d"], ["x", "y", "x", "y"], calibrate=False)


def test_top_k_order_equals_a_stable_full_sort_in_blocks(monkeypatch) -> None:
    """top_k_batch sorted every row in full (15 s for 20,000 texts x 10,000 categories at k = 5);
    the partitioned, blocked ranking gives the very same order, ties included."""
    rng = np.random.default_rng(0)
    monkeypatch.setattr(m, "_TOP_K_BLOCK", 64)  # blocks of a few rows
    for trial in range(200):
        n, c = int(rng.integers(1, 30)), int(rng.integers(1, 200))
        kk = int(rng.integers(1, c + 1))
        if trial % 2:
            p = rng.choice(np.array([0, 0.1, 0.2, 0.5, -0.0, 1e-8], dtype=np.float32), size=(n, c))
        else:
            p = rng.random((n, c)).astype(np.float32)
        if trial % 7 == 0:
            p[0] = np.nan  # a skipped entry
        assert np.array_equal(m._top_k_order(p, kk), np.argsort(-p, axis=1, kind="stable")[:, :kk]), (n, c, kk)


def test_a_huge_folds_count_does_not_hang() -> None:
    # _fold_jobs looped over every fold, empty ones included: folds=2**40 on 32 texts ran for months.
    import time
    texts = [t for ts in TOPICS.values() for t in ts]
    labels = [c for c, ts in TOPICS.items() for _ in ts]
    t0 = time.perf_counter()
    big = m.CategoryIndex.fit(texts, labels, epochs=5, folds=2**40)
    assert time.perf_counter() - t0 < 30
    assert big.calibration.get("folds_scored", 0) <= len(texts)


def test_blank_oos_texts_are_refused_like_blank_training_texts() -> None:
    texts = [t for ts in TOPICS.values() for t in ts]
    labels = [c for c, ts in TOPICS.items() for _ in ts]
    with pytest.raises(errors.InvalidArgument, match=r"oos_texts\[1\] is empty"):
        m.CategoryIndex.fit(texts, labels, epochs=5, oos_texts=["what is the capital of australia", "   "])
