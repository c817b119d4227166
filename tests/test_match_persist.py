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


@pytest.mark.parametrize("field, value, match", [("temperature", 1e308, r"temperature 1e\+308: a calibration gives one in"),
                                                 ("temperature", 1e-6, "temperature 1e-06"),
                                                 ("calibration", "x", "calibration 'x'")])
def test_a_header_edited_out_of_range_is_refused(field, value, match) -> None:
    """A temperature of 1e308 loaded, made every probability uniform and every query abstain."""
    data = topic_index().to_bytes()
    with pytest.raises(errors.DecodeError, match=match):
        m.CategoryIndex.from_bytes(_rewrite_header(data, lambda h: h.update({field: value})))


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


@pytest.mark.skipif(__import__("os").name != "posix", reason="dead processes are told apart with kill(pid, 0)")
def test_a_save_removes_what_killed_saves_left_behind(tmp_path) -> None:
    # A save killed before its rename leaves its hidden temporary file; one accumulated per kill.
    import os
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid now names no process
    orphan = tmp_path / f".idx.tgix.{dead.pid}.1.0123abcd.tmp"
    mine = tmp_path / f".idx.tgix.{os.getpid()}.2.0123abcd.tmp"  # this process: a save in another thread
    other = tmp_path / f".other.tgix.{dead.pid}.1.0123abcd.tmp"  # another file's
    for p in (orphan, mine, other):
        p.write_bytes(b"half a model")
    topic_index(dense=False).save(tmp_path / "idx.tgix")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["idx.tgix", mine.name, other.name])


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


def test_tokenizer_save_is_atomic_and_checks_its_path(tmp_path, monkeypatch) -> None:
    """Tokenizer.save wrote in place: 28 of 30 saves killed midway left an empty model file."""
    import os

    tok = m.Tokenizer()
    path = tmp_path / "tok.model"
    tok.save(path)
    before = path.read_bytes()
    assert before == tok.serialized_model()

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        tok.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["tok.model"]
    # "newname/" wrote a file called newname; a missing folder raised FileNotFoundError
    for bad, match in [(f"{tmp_path}/newname/", "is a directory"), (tmp_path / "no" / "t.model", "does not exist")]:
        with pytest.raises(errors.InvalidArgument, match=match):
            tok.save(bad)
    assert not (tmp_path / "newname").exists()


def test_save_follows_a_link_and_refuses_what_is_not_a_file(tmp_path) -> None:
    """The rename replaced a symbolic link (and, as root, /dev/null) with a regular file."""
    import os

    idx = topic_index(dense=False)
    real = tmp_path / "v1.tgix"
    real.write_bytes(b"old")
    link = tmp_path / "current.tgix"
    link.symlink_to(real.name)
    idx.save(link)
    assert link.is_symlink() and real.read_bytes() == idx.to_bytes()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(errors.InvalidArgument, match="not a regular file"):
        idx.save(fifo)
    with pytest.raises(errors.InvalidArgument, match="not a regular file"):
        m.Tokenizer().save(fifo)
    assert not fifo.is_file()
    (tmp_path / "d").mkdir()
    (tmp_path / "to_d").symlink_to("d")
    with pytest.raises(errors.InvalidArgument, match="directory"):
        idx.save(tmp_path / "to_d")


def _proto_fields(data: bytes) -> list[tuple[int, int]]:
    """(field number, end offset) of each top-level field of a protobuf message (length-delimited
    fields only, as a sentencepiece ModelProto has)."""
    out, at = [], 0

    def varint() -> int:
        nonlocal at
        v, shift = 0, 0
        while True:
            b = data[at]
            at += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    while at < len(data):
        tag = varint()
        assert tag & 7 == 2
        n = varint()
        at += n
        out.append((tag >> 3, at))
    return out


def test_a_damaged_tokenizer_model_is_refused_with_a_tagger_error() -> None:
    model = m.Tokenizer().serialized_model()
    # A model cut right after its trainer settings is a valid protobuf: it loaded, and tokenized
    # without NFKC or lower-casing ("How" became an unknown byte and "ow").
    end_of_trainer = max(end for number, end in _proto_fields(model) if number == 2)
    with pytest.raises(errors.InvalidArgument, match="no normalizer settings"):
        m.Tokenizer(model[:end_of_trainer])
    # An error quoting a damaged piece's bytes (not UTF-8) came out as UnicodeDecodeError, which no
    # `except TaggerError` caught; the bytes are now shown escaped.
    seen = 0
    for at in range(0, min(len(model), 20_000), 7):
        damaged = bytearray(model)
        damaged[at] ^= 0x80
        try:
            m.Tokenizer(bytes(damaged))
        except errors.TaggerError as e:
            seen += "\\x" in str(e)
    assert seen, "no flip produced a message quoting raw bytes: the test saw nothing"


def test_odd_headers_and_damaged_files_are_decode_errors_naming_the_file(tmp_path) -> None:
    data = topic_index(dense=False).to_bytes()
    magic, version, n = struct.unpack_from("<4sII", data)
    head = b"[" * 100_000 + b"]" * 100_000  # nesting too deep to parse: RecursionError before
    body = struct.pack("<4sII", magic, version, len(head)) + head + data[12 + n:-32]
    (tmp_path / "nested.json").write_bytes(head)
    import sys

    # Under a raised recursion limit (hypothesis raises it while it runs) json.loads recursed until
    # the C stack overflowed: the test suite died with a segfault here. The depth is checked first.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200_000)
    try:
        with pytest.raises(errors.DecodeError, match="bad header: JSON nested deeper than 512 levels"):
            m.CategoryIndex.from_bytes(body + hashlib.sha256(body).digest())
        with pytest.raises(errors.DecodeError, match="not a catalog file: ValueError: JSON nested deeper"):
            m.Catalog.load(tmp_path / "nested.json")
    finally:
        sys.setrecursionlimit(limit)
    (tmp_path / "cut.tgix").write_bytes(data[:-5])
    with pytest.raises(errors.DecodeError, match="cut.tgix: the saved CategoryIndex is damaged"):
        m.CategoryIndex.load(tmp_path / "cut.tgix")
    hot = _rewrite_header(data, lambda h: h.update(threshold=7.0))  # (InvalidArgument from the threshold's setter)
    (tmp_path / "hot.tgix").write_bytes(hot)
    with pytest.raises(errors.TaggerError, match="hot.tgix: "):
        m.CategoryIndex.load(tmp_path / "hot.tgix")


def test_a_crafted_feature_count_is_refused_before_its_table_is_allocated() -> None:
    """A 2.5 KB file claiming hash_bits=30 allocated the 4 GiB IDF table before the model's column
    count showed that it did not match."""
    import resource

    import msgpack

    texts = [t for ts in TOPICS.values() for t in ts]
    labels = [c for c, ts in TOPICS.items() for _ in ts]
    data = m.CategoryIndex.fit(texts, labels, dense=False, hash_bits=8, char_ngrams=None, calibrate=False).to_bytes()
    magic, version, n = struct.unpack_from("<4sII", data)
    header = json.loads(data[12:12 + n])
    old_len = header["blobs"][0]
    core = msgpack.unpackb(data[12 + n:12 + n + old_len], raw=False)
    core[3][0] = 30  # hash_bits; the model still reads 2^8 columns
    blob = msgpack.packb(core, use_bin_type=True)
    header["blobs"] = [len(blob), *header["blobs"][1:]]
    head = json.dumps(header).encode()
    body = struct.pack("<4sII", magic, version, len(head)) + head + blob + data[12 + n + old_len:-32]
    with open("/proc/self/statm") as f:
        rss_before = int(f.read().split()[1]) * resource.getpagesize()
    with pytest.raises(errors.InvalidArgument, match="columns"):
        m.CategoryIndex.from_bytes(body + hashlib.sha256(body).digest())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert peak < rss_before + (1 << 30), (rss_before, peak)
