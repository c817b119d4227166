"""Saving, loading and pickling a fitted tg.match.CategoryIndex: the same predictions bit
for bit, the calibration kept, no training text in the file, damaged files refused, an
atomic save, and a clear refusal for what cannot be saved."""

from __future__ import annotations

import copy
import hashlib
import json
import multiprocessing
import pickle
import struct

import numpy as np
import pytest

from tagger import errors
from tagger import match as m

from test_match_robust import ODD, TOPICS, topic_index

QUERIES = ["my card never came", "wire money to my landlord", "why the extra charge", "pin locked", *ODD]


def _same(a: m.CategoryIndex, b: m.CategoryIndex) -> None:
    assert a.categories == b.categories
    assert np.array_equal(a.predict_proba(QUERIES), b.predict_proba(QUERIES))
    assert a.temperature == b.temperature and a.threshold == b.threshold and a.calibration == b.calibration
    assert list(a.predict(QUERIES, abstain=True)) == list(b.predict(QUERIES, abstain=True))


@pytest.mark.filterwarnings("ignore:abstain=True. this index's threshold saw no out-of-scope text")
@pytest.mark.parametrize("dense", [True, False])
def test_save_and_load_predict_the_same(tmp_path, dense) -> None:
    idx = topic_index(dense=dense)
    idx.save(tmp_path / "topics.tgix")
    back = m.CategoryIndex.load(tmp_path / "topics.tgix")
    _same(idx, back)
    assert back.threshold is not None
    assert back.to_bytes() == idx.to_bytes()


@pytest.mark.filterwarnings("ignore:abstain=True. this index's threshold saw no out-of-scope text")
def test_pickle_works_for_every_kind_of_index() -> None:
    idx = topic_index()
    _same(idx, pickle.loads(pickle.dumps(idx)))
    # A copy of its own, not the process-wide object (a threshold set on it used to change
    # CategoryIndex.default() for everyone); it answers as the default does.
    d = m.CategoryIndex.default()
    loaded = pickle.loads(pickle.dumps(d))
    assert loaded is not d and copy.deepcopy(d) is not d
    q = ["Transcribe these podcast recordings", "label the sentiment of tweets"]
    np.testing.assert_array_equal(loaded.predict_proba(q), d.predict_proba(q))
    loaded.threshold = 0.42
    assert d.threshold is None and pickle.loads(pickle.dumps(loaded)).threshold == 0.42
    with pytest.raises(errors.InvalidArgument, match="shared by the whole process"):
        d.threshold = 0.3
    small = m.Catalog([{"id": "audio/transcription", "description": "write down what is said in recordings"},
                       {"id": "image/boxes", "description": "draw boxes around objects in photos"}])
    cat = m.CategoryIndex.from_catalog(small, epochs=7)
    back = pickle.loads(pickle.dumps(cat))
    assert np.array_equal(cat.predict_proba(QUERIES), back.predict_proba(QUERIES)) and back.catalog.ids == small.ids
    emb = pickle.loads(pickle.dumps(m.StaticEmbedding.default()))
    assert np.array_equal(emb.embed(QUERIES), m.StaticEmbedding.default().embed(QUERIES))


def _predict_in_child(idx: m.CategoryIndex) -> list:
    return list(idx.predict(["i forgot my pin", "send money to a friend"]))


def test_an_index_goes_to_a_process_pool() -> None:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_predict_in_child, (topic_index(),)) == ["pin", "transfer"]


def test_the_file_holds_no_training_text() -> None:
    data = topic_index().to_bytes()
    for texts in TOPICS.values():
        for t in texts:
            assert t.encode() not in data


def test_damaged_or_foreign_bytes_are_refused(tmp_path) -> None:
    data = topic_index().to_bytes()
    for bad in (data[:-1], data[:100], b"", b"TGIX" + b"\0" * 40, data[:50] + bytes([data[50] ^ 1]) + data[51:]):
        with pytest.raises(errors.DecodeError):
            m.CategoryIndex.from_bytes(bad)
    with pytest.raises(errors.InvalidArgument, match="bytes of a saved CategoryIndex"):
        m.CategoryIndex.from_bytes("TGIX")
    (tmp_path / "x.tgix").write_bytes(b"not an index at all, just text")
    with pytest.raises(errors.DecodeError, match="no TGIX header"):
        m.CategoryIndex.load(tmp_path / "x.tgix")


def _rewrite_header(data: bytes, change) -> bytes:
    magic, version, n = struct.unpack_from("<4sII", data)
    header = json.loads(data[12:12 + n])
    change(header)
    head = json.dumps(header).encode()
    body = struct.pack("<4sII", magic, version, len(head)) + head + data[12 + n:-32]
    return body + hashlib.sha256(body).digest()


def test_an_index_saved_with_another_shipped_table_is_refused() -> None:
    data = topic_index().to_bytes()
    other = _rewrite_header(data, lambda h: h["dense"].update(shipped="00" * 32))
    with pytest.raises(errors.InvalidArgument, match="another release's shipped static embedding"):
        m.CategoryIndex.from_bytes(other)
    newer = _rewrite_header(data, lambda h: None).replace(struct.pack("<4sII", b"TGIX", 1, 0)[:8], b"TGIX\x02\0\0\0", 1)
    with pytest.raises(errors.DecodeError):
        m.CategoryIndex.from_bytes(newer)


def test_what_cannot_be_saved_says_why() -> None:
    texts = [t for ts in TOPICS.values() for t in ts]
    labels = [c for c, ts in TOPICS.items() for _ in ts]
    with_backend = m.CategoryIndex.fit(texts, labels, backend=m.StaticEmbedding.default(), calibrate=False)
    with pytest.raises(errors.InvalidArgument, match="fitted with a backend cannot be saved"):
        with_backend.to_bytes()
    with pytest.raises(errors.NotFitted, match="not fitted"):  # as predict says it (InvalidArgument before 2026-12-07)
        m.CategoryIndex().to_bytes()


def test_save_is_atomic(tmp_path, monkeypatch) -> None:
    path = tmp_path / "idx.tgix"
    first = topic_index()
    first.save(path)
    before = path.read_bytes()

    def crash(*a, **k):
        raise OSError("disk full")

    import os
    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        topic_index(dense=False).save(path)
    assert path.read_bytes() == before  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["idx.tgix"]  # no temporary left behind


def test_text_model_and_a_used_verifier_pickle() -> None:
    import tagger as tg

    assert pickle.loads(pickle.dumps(tg.verify.TextModel.default())) is tg.verify.TextModel.default()
    sparse = tg.verify.TextModel(m.TOKENIZER_PATH.read_bytes(), dense=False)
    back = pickle.loads(pickle.dumps(sparse))
    assert not back.dense and back.score("my card is late", ["card delivery"]).relevance == \
        sparse.score("my card is late", ["card delivery"]).relevance
    spec = tg.verify.VerifySpec(description="card delivery questions",
                                examples=["where is my card", "my card has not arrived", "how long does delivery take"])
    v = tg.verify.Verifier()
    v.check(b"my card is late", "text", spec)  # loads its text model
    assert pickle.loads(pickle.dumps(v)).check(OFF_TOPIC_TEXT, "text", spec).reasons == ("off_topic",)


OFF_TOPIC_TEXT = b"The best recipe for banana bread uses very ripe bananas and walnuts."


def test_a_custom_table_is_saved_from_what_was_loaded(tmp_path) -> None:
    import shutil

    path = tmp_path / "table.bin"
    shutil.copy(m.STATIC_EMBEDDING_PATH, path)
    texts = [t for ts in TOPICS.values() for t in ts]
    labels = [c for c, ts in TOPICS.items() for _ in ts]
    idx = m.CategoryIndex.fit(texts, labels, dense=m.StaticEmbedding(path), calibrate=False)
    path.unlink()  # gone (or rewritten) after loading: the index still saves what it used
    back = m.CategoryIndex.from_bytes(idx.to_bytes())
    assert np.array_equal(idx.predict_proba(QUERIES), back.predict_proba(QUERIES))


def test_save_keeps_permissions_and_refuses_a_directory(tmp_path) -> None:
    import os
    import stat

    idx = topic_index(dense=False)
    path = tmp_path / "idx.tgix"
    old = os.umask(0o022)
    try:
        idx.save(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
    path.chmod(0o640)
    idx.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    for bad, match in [(tmp_path, "is a directory"), ("", "is a directory"), (b"x.tgix", "str or os.PathLike")]:
        with pytest.raises(errors.InvalidArgument, match=match):
            idx.save(bad)


def test_an_embedder_pickles_with_its_idf() -> None:
    e = m.Embedder(hash_bits=16).fit(["label images of cats", "transcribe audio", "translate product pages"])
    back = pickle.loads(pickle.dumps(e))
    assert back.fitted and back.dim == 2**16
    assert (e.transform(QUERIES) != back.transform(QUERIES)).nnz == 0
    fresh = pickle.loads(pickle.dumps(m.Embedder(char_ngrams=None)))
    assert not fresh.fitted and "char_ngrams=None" in repr(fresh)


def test_an_unfitted_index_pickles_as_an_unfitted_one() -> None:
    """Pickling or deep-copying CategoryIndex() raised 'not fitted'; scikit-learn's estimators pickle unfitted."""
    for twin in (pickle.loads(pickle.dumps(m.CategoryIndex())), copy.deepcopy(m.CategoryIndex())):
        assert repr(twin) == "CategoryIndex(not fitted)"
        with pytest.raises(errors.NotFitted):
            twin.predict(["a"])
