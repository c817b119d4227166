"""The C++ zero-shot catalog scorer (tagger/zero_shot.h) against a small numpy reference.

The reference is the numpy scorer the C++ one replaced (python/tagger/_zero_shot.py before the
port), in float64 throughout and with the scorer's options, written out here so the two can
only agree by computing the same thing."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

import tagger.match as m
from tagger._core import match as _m
from tagger.errors import InvalidArgument


def _table() -> tuple[np.ndarray, np.ndarray]:
    """(rows [V, D] float64 of the dequantized float32 table, row norms) of the shipped TGSE file."""
    raw = m.STATIC_EMBEDDING_PATH.read_bytes()
    v, d, vb = struct.unpack("<III", raw[8:20])
    scale = np.frombuffer(raw, dtype="<f4", count=v, offset=20 + vb)
    q = np.frombuffer(raw, dtype=np.int8, count=v * d, offset=20 + vb + 4 * v).reshape(v, d)
    rows = (q.astype(np.float32) * (scale / np.float32(127.0))[:, None]).astype(np.float64)
    return rows, np.linalg.norm(rows, axis=1)


def _z(s: np.ndarray) -> np.ndarray:
    sd = s.std(axis=1, keepdims=True)
    return np.where(sd > 0, (s - s.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0), 0.0)


def reference_scores(texts: list[str], labels: list[int], n: int, queries: list[str], cfg: _m.ZeroShotConfig) -> np.ndarray:
    emb = m.StaticEmbedding.default()
    rows, norm = _table()
    unit = rows / np.maximum(norm, 1e-300)[:, None]

    def tokens(t: str) -> list[int]:
        return [i for i in emb.encode(t) if norm[i] > 0]

    toks = [tokens(t) for t in texts]
    lab = np.asarray(labels)
    df: dict[int, int] = {}
    for c in range(n):
        for i in {i for j in np.flatnonzero(lab == c) for i in toks[j]}:
            df[i] = df.get(i, 0) + 1

    def weights(ids: list[int], query: bool = False) -> np.ndarray:
        d = np.array([df.get(i, 0) for i in ids], dtype=np.float64)
        if query:
            d = np.maximum(d, cfg.unseen_df)
            if cfg.soft_df_power > 0:  # sum over categories of the best cosine to its tokens
                pooled_cols = [sorted({i for j in np.flatnonzero(lab == c) for i in toks[j]}) for c in range(n)]
                best = np.stack([(unit[ids] @ unit[cols].T).max(axis=1) if cols else np.zeros(len(ids))
                                 for cols in pooled_cols], axis=1)
                d = (np.maximum(best, 0.0) ** cfg.soft_df_power).sum(axis=1)
        idf = np.log((n + 1) / (d + 1)) + 1
        return norm[ids] * idf ** cfg.idf_power

    # the units compared with a query: each text, or each category's texts pooled
    if cfg.pooled:
        units = [[i for j in np.flatnonzero(lab == c) for i in toks[j]] for c in range(n)]
        unit_label = np.arange(n)
    else:
        units, unit_label = toks, lab
    align = np.zeros((len(queries), n))
    for a, t in enumerate(queries):
        ids = tokens(t)
        if not ids:
            continue
        w = weights(ids, query=True)
        best = np.full(n, -np.inf)
        for u, cols in enumerate(units):
            if not cols:
                continue
            sim = unit[ids] @ unit[cols].T  # query tokens x unit tokens
            r = float(w @ sim.max(axis=1)) / float(w.sum())
            if cfg.precision_weight > 0:
                wc = weights(cols)
                p = float(wc @ sim.max(axis=0)) / float(wc.sum())
                r = (1 - cfg.precision_weight) * r + cfg.precision_weight * p
            best[unit_label[u]] = max(best[unit_label[u]], r)
        align[a] = np.where(np.isfinite(best), best, 0.0)
    dq = emb.embed(queries).astype(np.float64)
    dt = emb.embed(texts).astype(np.float64)
    cos = dq @ dt.T
    dense = np.zeros((len(queries), n))
    for c in range(n):
        cols = np.flatnonzero(lab == c)
        dense[:, c] = cos[:, cols].max(axis=1) if cfg.dense_max else cos[:, cols].mean(axis=1)
    out = cfg.align_weight * _z(align) + cfg.dense_weight * _z(dense)
    out[[not tokens(t) for t in queries]] = 0.0
    return out


def _catalog_texts() -> tuple[list[str], list[int], int]:
    cat = m.Catalog.default()
    idx = m.CategoryIndex.default()
    order = {c: k for k, c in enumerate(idx.categories)}
    texts, labels = [], []
    for c in cat:
        for t in [re.sub(r"[/_-]", " ", c.id), c.description, *c.examples]:
            texts.append(t)
            labels.append(order[c.id])
    return texts, labels, len(order)


QUERIES = ["Box every pedestrian in street photos", "Transcribe these podcast recordings into text",
           "rate chatbot answers", "translate subtitles into Spanish", "", "10-4", "🙂", "the the the",
           "Label each tweet as positive, negative or neutral about the product",
           "Find all the cars and trucks in drone footage of highways, frame by frame"]


def _configs() -> list[_m.ZeroShotConfig]:
    out = [m._zero_shot_config()]
    for pooled, pw, power, dmax, unseen, soft in ((False, 0.0, 1.0, False, 3.0, 0.0), (True, 0.5, 2.0, True, 0.0, 0.0),
                                                  (False, 0.3, 1.5, False, 0.0, 4.0)):
        c = _m.ZeroShotConfig()
        c.pooled, c.precision_weight, c.idf_power, c.dense_max = pooled, pw, power, dmax
        c.unseen_df, c.soft_df_power, c.dense_weight = unseen, soft, 0.7
        out.append(c)
    return out


@pytest.mark.parametrize("k", range(4))
def test_cpp_scores_equal_the_numpy_reference(k: int) -> None:
    cfg = _configs()[k]
    texts, labels, n = _catalog_texts()
    queries = QUERIES + [e for c in m.Catalog.default() for e in c.examples][k::9]
    scorer = _m.ZeroShotScorer.build(m.StaticEmbedding.default()._core, texts, labels, n, cfg)
    got = scorer.scores(queries)
    want = reference_scores(texts, labels, n, queries, cfg)
    assert got.shape == want.shape == (len(queries), n)
    assert np.abs(got - want).max() <= 1e-9
    assert not got[4].any() and not got[6].any() and got[5].any()  # "", emoji: no known token, a zero row


def test_default_index_uses_the_cpp_scorer_and_scores_are_deterministic() -> None:
    idx = m.CategoryIndex.default()
    queries = QUERIES + [e for c in m.Catalog.default() for e in c.examples]
    z = idx._zero_shot
    assert isinstance(z, _m.ZeroShotScorer)
    one = z.scores(queries, threads=1)
    # bit for bit: whatever the thread count, the batch a query comes in, or its position in it
    assert np.array_equal(one, z.scores(queries, threads=3))
    assert np.array_equal(one[::-1], z.scores(queries[::-1], threads=2))
    assert np.array_equal(one[5], z.scores([queries[5]])[0])
    p = idx.predict_proba(queries[:3])
    s = one[:3] - one[:3].max(axis=1, keepdims=True)
    assert np.allclose(p, np.exp(s) / np.exp(s).sum(axis=1, keepdims=True), atol=1e-6)


def test_bad_scorer_input_is_rejected() -> None:
    e = m.StaticEmbedding.default()._core
    cfg = _m.ZeroShotConfig()
    with pytest.raises(InvalidArgument, match="2 texts and 1 labels"):
        _m.ZeroShotScorer.build(e, ["a", "b"], [0], 1, cfg)
    with pytest.raises(InvalidArgument, match="label 3 of text 1"):
        _m.ZeroShotScorer.build(e, ["a", "b"], [0, 3], 2, cfg)
    with pytest.raises(InvalidArgument, match="category 1 has no texts"):
        _m.ZeroShotScorer.build(e, ["a", "b"], [0, 0], 2, cfg)
    cfg.precision_weight = 1.5
    with pytest.raises(InvalidArgument, match="precision_weight"):
        _m.ZeroShotScorer.build(e, ["a", "b"], [0, 1], 2, cfg)
    z = _m.ZeroShotScorer.build(e, ["a", "b"], [0, 1], 2, _m.ZeroShotConfig())
    with pytest.raises(InvalidArgument, match="temperature"):
        z.predict_proba(["a"], 0.0)
