"""tg.match's text classes (Tokenizer, Embedder, StaticEmbedding) off the happy path: options
that raised bare TypeErrors or were taken silently, skip hints that promised another result,
a custom table that embedded to NaN, and a similarity above 1."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tagger import errors
from tagger import match as m


@pytest.fixture(scope="module")
def tok():
    return m.Tokenizer()


@pytest.mark.parametrize("penalty", [None, "a", float("nan"), float("inf"), 5.0, True])
def test_unk_penalty_is_a_finite_log_probability(tok, penalty) -> None:
    """None and "a" raised bare TypeErrors; NaN, inf and positive penalties were taken (NaN and
    inf scores, gibberish scored high)."""
    for fn in (tok.mean_log_prob, tok.log_prob_per_char):
        with pytest.raises(errors.InvalidArgument, match="unk_penalty must be a finite number <= 0"):
            fn("日本", penalty)
    assert tok.mean_log_prob("日本", -3) < 0


@pytest.mark.parametrize("path", [None, b"model", 5])
def test_paths_of_the_wrong_type_are_named(tok, path, tmp_path) -> None:
    with pytest.raises(errors.InvalidArgument, match="takes a path"):
        m.Tokenizer.from_file(path)
    with pytest.raises(errors.InvalidArgument, match="Tokenizer.save takes a path"):
        tok.save(path)


def test_skip_hints_say_what_skip_gives(tok) -> None:
    """Both said "on_invalid='skip' answers the others and None for it"; skip gives [] / a zero row."""
    with pytest.raises(errors.InvalidArgument, match=r"encodes the others and \[\] for it"):
        tok.encode_batch(["a", None])
    assert tok.encode_batch(["a", None], on_invalid="skip")[1] == []
    emb = m.Embedder().fit(["a card", "a pin"])
    with pytest.raises(errors.InvalidArgument, match="an all-zero row for it"):
        emb.transform(["a", None])


@pytest.mark.parametrize("ngrams", [(2**31, 2**31 + 1), (1, 10**6), (5, 2), (0, 3)])
def test_char_ngrams_are_bounded(ngrams) -> None:
    """2**31 raised a bare TypeError; (1, 10**6) made every substring of every word a feature
    (6.6 s for 20 texts against 7 ms)."""
    with pytest.raises(errors.InvalidArgument, match="char_ngrams must be"):
        m.Embedder(char_ngrams=ngrams)
    m.Embedder(char_ngrams=(1, m.MAX_CHAR_NGRAM))


def test_similarity_stays_in_its_range() -> None:
    emb = m.Embedder().fit(["how do i top up my card", "where is my card", "wire money abroad"])
    texts = ["how do i top up my card please", "card card card top", "I want to wire 100 euros abroad now"]
    assert all(0.0 <= emb.similarity(t, t) <= 1.0 for t in texts)


_FIT_PEAK = r"""
import resource, sys
from tagger import match as m
docs = [f"text number {i} about cards" for i in range(2000)]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
m.Embedder(hash_bits=22).fit(docs, threads=int(sys.argv[1]))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_fit_memory_does_not_grow_with_the_thread_count() -> None:
    """Each thread kept a count table of 4 * 2**hash_bits bytes: threads=300 took 1.2 GB on 2,000
    short texts (45 MB on one); the counts are the same integers however the work is split. The
    parts now fit in 256 MB together (at 2**22, 16 MB each: 300 threads took 4.8 GB)."""
    import subprocess
    import sys

    docs = [f"text number {i} about cards" for i in range(2000)]
    one = m.Embedder(hash_bits=20).fit(docs, threads=1)
    many = m.Embedder(hash_bits=20).fit(docs, threads=300)
    np.testing.assert_array_equal(one.transform(docs[:50]).toarray(), many.transform(docs[:50]).toarray())
    grew = int(subprocess.run([sys.executable, "-c", _FIT_PEAK, "300"], capture_output=True, text=True,
                              check=True).stdout)
    assert grew < 400 * 1024, grew  # KB


def test_a_table_whose_scale_would_overflow_is_refused() -> None:
    """A scale of 3e38 loaded, and "hello world" embedded to NaN (the docs promise unit or
    all-zero rows)."""
    data = bytearray(m.STATIC_EMBEDDING_PATH.read_bytes())
    v, d, vb = struct.unpack_from("<III", data, 8)
    struct.pack_into("<f", data, 20 + vb, 3e38)  # row 0's scale
    with pytest.raises(errors.InvalidArgument, match="row 0 has a scale that is not a finite number of magnitude"):
        m.StaticEmbedding(bytes(data))
    struct.pack_into("<f", data, 20 + vb, 1e29)
    x = m.StaticEmbedding(bytes(data)).embed(["hello world", "[PAD] hello"])
    assert np.isfinite(x).all()


def test_odd_arguments_of_the_text_classes_are_refused(tok) -> None:
    """out_type="str" silently gave ids; a dict or set was decoded in its keys' order; Tokenizer(5)
    looked for a file named "5"."""
    with pytest.raises(errors.InvalidArgument, match="out_type must be int or str"):
        tok.encode("card", out_type="str")
    assert tok.encode("card", out_type=str) == tok.encode_pieces("card")
    ids = tok.encode("my card")
    for bad in ({i: 0 for i in ids}, set(ids), np.array([ids, ids])):
        with pytest.raises(errors.InvalidArgument, match="decode takes a sequence of piece ids in order"):
            tok.decode(bad)
    assert tok.decode(np.array(ids)) == tok.decode(ids)
    with pytest.raises(errors.InvalidArgument, match="takes a model path or the model's bytes, not int"):
        m.Tokenizer(5)


def test_static_embedding_takes_a_memoryview_and_knows_its_shipped_file(tmp_path, monkeypatch) -> None:
    import os
    import pickle

    data = m.STATIC_EMBEDDING_PATH.read_bytes()
    assert m.StaticEmbedding(memoryview(data)).embed(["card"]).shape == (1, 256)
    monkeypatch.chdir(m.STATIC_EMBEDDING_PATH.parent)
    relative = m.StaticEmbedding(os.path.relpath(m.STATIC_EMBEDDING_PATH))
    assert len(pickle.dumps(relative)) < 100_000  # a reference, not the 7.9 MB table


def test_an_embedder_pickled_before_the_char_ngram_bound_still_loads() -> None:
    e = m.Embedder().fit(["a card", "a pin"])
    _, (tok, opts, idf) = e.__reduce__()
    old = m._embedder_from_state(tok, dict(opts, char_ngrams=[1, 40]), idf)
    assert old._core.config().char_ngram_max == 40 and old.similarity("a card", "a card") == 1.0
