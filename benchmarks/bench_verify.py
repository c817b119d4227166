"""Verification benchmarks, in one run:

1. calibration of the gibberish and relevance thresholds on banking77 (real text vs
   shuffled characters, shuffled letters within words, random letters, random pieces;
   in-task vs other intents vs off-domain English);
2. MinHash LSH near-duplicate detection vs datasketch, same data, same (bands, rows)
   and cutoff, so recall is equal by construction (both printed);
3. pHash/dHash vs imagehash on the same decoded grayscale images;
4. text verification throughput (documents/s), per call and batched;
5. copies of a task's examples with a few letters changed, their words shuffled, cut, joined
   or wrapped, caught by the Jaccard rule alone, with the edit-distance rule, the word-overlap
   rule and the containment rule (contains_task_text), against Banking77's test questions as
   honest uploads;
6. copies of other workers' uploads (DedupRegistry's Jaccard, edit, word-set and parts rules,
   Cyrillic look-alike letters) with Banking77's training questions stored and its test
   questions as honest uploads, and the time of a lookup.

Run: PYTHONPATH=<build>/stage python benchmarks/bench_verify.py
"""

from __future__ import annotations

import csv
import inspect
import io
import random
import re
import string
import sys
import time
from pathlib import Path

import numpy as np

import tagger as tg
from tagger._core import verify as _v

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nlp" / "banking77"


def load(name: str) -> tuple[list[str], list[str]]:
    with open(DATA / name, newline="") as f:
        rows = list(csv.reader(f))[1:]
    return [r[0] for r in rows], [r[1] for r in rows]


def off_domain_english() -> list[str]:
    """Real English from another domain: first sentences of standard-library docstrings."""
    import argparse, asyncio, calendar, collections, csv as c, datetime, decimal, difflib, email, fractions, functools
    import heapq, http.client, itertools, json, logging, os, pathlib, pickle, shutil, socket, statistics, subprocess
    import tarfile, tempfile, textwrap, threading, typing, unittest, urllib.request, zipfile
    mods = [argparse, asyncio, calendar, collections, c, datetime, decimal, difflib, email, fractions, functools, heapq,
            http.client, itertools, json, logging, os, pathlib, pickle, shutil, socket, statistics, subprocess, tarfile,
            tempfile, textwrap, threading, typing, unittest, urllib.request, zipfile]
    seen, out = set(), []
    for mod in mods:
        for _, obj in inspect.getmembers(mod):
            d = inspect.getdoc(obj)
            if not d:
                continue
            s = re.split(r"(?<=[.!?])\s", d.strip().split("\n\n")[0].replace("\n", " "))[0]
            if 25 <= len(s) <= 200 and s not in seen and not re.search(r"[(){}\[\]=_<>]", s):
                seen.add(s)
                out.append(s)
    return out


def timeit(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def calibration() -> None:
    print("== 1. calibration (banking77 test, shipped tokenizer model) ==")
    model = tg.verify.TextModel.default()
    texts, labels = load("test.csv")
    train, train_labels = load("train.csv")
    rng = random.Random(0)
    off = off_domain_english()

    def shuffle(t: str) -> str:
        c = list(t)
        rng.shuffle(c)
        return "".join(c)

    from tagger._core import match as _m
    tok = _m.Tokenizer.from_bytes((Path(tg.__file__).parent / "data" / "tokenizer.model").read_bytes())
    pieces = [tok.id_to_piece(i) for i in range(tok.vocab_size()) if not tok.is_control(i) and not tok.is_unknown(i)]

    def random_pieces(n: int) -> str:
        return "".join(rng.choice(pieces) for _ in range(max(2, n // 4))).replace("\u2581", " ").strip()

    sets = {
        "banking77 (real)": texts,
        "stdlib docstrings (real, other domain)": off,
        "shuffled characters": [shuffle(t) for t in texts],
        "letters shuffled within words": [" ".join(shuffle(w) for w in t.split()) for t in texts],
        "random letters": ["".join(rng.choice(string.ascii_lowercase + "    ") for _ in range(len(t))) for t in texts],
        "random vocabulary pieces": [random_pieces(len(t)) for t in texts],
    }
    thr, pthr = tg.verify.VerifySpec().gibberish_threshold, tg.verify.VerifySpec().gibberish_piece_threshold
    print(f"gibberish: log-likelihood < {thr} nats per non-space character, or < {pthr} nats per piece")
    print(f"{'set':42s} {'n':>5s} {'p1':>7s} {'median':>7s} {'p99':>7s} {'flagged':>8s}")
    for name, ts in sets.items():
        sc = model.score_many(ts)
        lp = np.array([s.log_prob_per_char for s in sc])
        flagged = (lp < thr) | (np.array([s.mean_log_prob for s in sc]) < pthr)
        print(f"{name:42s} {len(ts):5d} {np.percentile(lp, 1):7.2f} {np.median(lp):7.2f} {np.percentile(lp, 99):7.2f} "
              f"{np.mean(flagged):8.2%}")
    # Relevance: a task per intent (description from its name), in-task texts vs other intents vs off-domain.
    bycat: dict[str, list[str]] = {}
    for t, l in zip(train, train_labels):
        bycat.setdefault(l, []).append(t)
    cats = sorted(bycat)[::4]
    for k, thr_name in ((0, "RELEVANCE_THRESHOLD_DESCRIPTION"), (5, "RELEVANCE_THRESHOLD_EXAMPLES")):
        from tagger.verify import _spec
        cut = getattr(_spec, thr_name)
        fin, fother, foff = [], [], []
        for cat in cats:
            spec = tg.verify.VerifySpec(description=f"Customer questions about {cat.replace('_', ' ')}", category="banking",
                                        examples=rng.sample(bycat[cat], k))
            refs = spec.references
            rin = [s.relevance for s in model.score_many([t for t, l in zip(texts, labels) if l == cat], refs)]
            rother = [s.relevance for s in model.score_many([t for t, l in zip(texts[:600], labels[:600]) if l != cat], refs)]
            roff = [s.relevance for s in model.score_many(rng.sample(off, 200), refs)]
            fin.append(np.mean(np.array(rin) < cut))
            fother.append(np.mean(np.array(rother) < cut))
            foff.append(np.mean(np.array(roff) < cut))
        print(f"relevance, description + {k} examples, threshold {cut}: off_topic flagged on in-task texts "
              f"{np.mean(fin):.1%}, other banking intents {np.mean(fother):.1%}, off-domain English {np.mean(foff):.1%} "
              f"({len(cats)} tasks)")


def near_duplicates() -> None:
    print("\n== 2. near-duplicate detection: tagger MinHashLSH vs datasketch ==")
    try:
        from datasketch import MinHash, MinHashLSH
    except ImportError:
        print("datasketch not installed: skipped")
        return
    texts, _ = load("train.csv")
    rng = random.Random(1)
    vocab = sorted({w for t in texts for w in t.split()})
    n_docs, n_q = 5000, 2000
    docs = [" ".join(rng.sample(texts, 3)) for _ in range(n_docs)]
    queries, truth = [], []
    for i in range(n_q):
        words = docs[i].split()
        for j in rng.sample(range(len(words)), min(rng.randrange(0, 6), len(words))):
            words[j] = rng.choice(vocab)
        queries.append(" ".join(words))
        truth.append(tg.verify.jaccard(docs[i], queries[-1]))
    queries += [" ".join(rng.sample(texts, 3)) for _ in range(n_q)]  # unrelated
    truth = np.array(truth)
    print(f"{n_docs} stored documents (3 banking77 texts each, mean {np.mean([len(d) for d in docs]):.0f} chars), "
          f"{n_q} edited copies (exact J: {np.mean(truth >= 0.8):.0%} >= 0.8) + {n_q} unrelated queries")

    def shingles(t: str) -> list[bytes]:
        t = " ".join(t.lower().split())
        return [s.encode() for s in {t[i:i + 5] for i in range(len(t) - 4)}] if len(t) > 5 else [t.encode()]

    doc_sh, q_sh = [shingles(d) for d in docs], [shingles(q) for q in queries]  # not timed: datasketch's input
    lsh_ours = tg.verify.MinHashLSH(num_perm=128, threshold=0.8)
    b, r, cut = lsh_ours.bands, lsh_ours.rows, lsh_ours.cutoff

    def run_ours(threads: int):
        lsh = tg.verify.MinHashLSH(num_perm=128, threshold=0.8)
        lsh.insert_many(docs, threads=threads)
        return lsh.query_many(queries, threads=threads)

    def run_ds(params):
        lsh = MinHashLSH(threshold=0.8, num_perm=128, params=params)
        mh = []
        for i, s in enumerate(doc_sh):
            m = MinHash(num_perm=128)
            m.update_batch(s)
            lsh.insert(i, m)
            mh.append(m)
        out = []
        for s in q_sh:
            m = MinHash(num_perm=128)
            m.update_batch(s)
            out.append([(j, m.jaccard(mh[j])) for j in lsh.query(m) if m.jaccard(mh[j]) >= cut])
        return out

    def recall(res) -> tuple[float, float]:
        found = np.array([any(j == i for j, _ in res[i]) for i in range(n_q)])
        fp = np.mean([len(res[i]) > 0 for i in range(n_q, 2 * n_q)])
        return found[truth >= 0.8].mean(), fp

    t1 = timeit(lambda: run_ours(1), 3)
    tn = timeit(lambda: run_ours(0), 3)
    res = run_ours(1)
    t0 = time.perf_counter()
    res_ds = run_ds((b, r))
    tds = time.perf_counter() - t0
    ro, fo = recall(res)
    rd, fd = recall(res_ds)
    print(f"{'':34s} {'time s':>8s} {'docs/s':>9s} {'recall@J>=0.8':>14s} {'FP rate':>8s}")
    print(f"{'datasketch (same b, r, cutoff)':34s} {tds:8.3f} {(n_docs + 2 * n_q) / tds:9.0f} {rd:14.3f} {fd:8.3f}")
    print(f"{'tagger, 1 thread':34s} {t1:8.3f} {(n_docs + 2 * n_q) / t1:9.0f} {ro:14.3f} {fo:8.3f}")
    print(f"{'tagger, all cores':34s} {tn:8.3f} {(n_docs + 2 * n_q) / tn:9.0f}")
    print(f"LSH {b} bands x {r} rows, estimated-J cutoff {cut:.3f}; datasketch time excludes its shingling")
    print(f"ratio (datasketch / tagger): {tds / t1:.1f}x on 1 thread, {tds / tn:.1f}x on all cores")


def perceptual_hashes() -> None:
    print("\n== 3. perceptual hashing: tagger (C++) vs imagehash ==")
    try:
        import imagehash
        from PIL import Image
    except ImportError:
        print("imagehash/Pillow not installed: skipped")
        return
    try:
        from sklearn.datasets import load_sample_images
        photos = [Image.fromarray(a) for a in load_sample_images().images]
    except Exception:
        photos = []
    rng = np.random.default_rng(0)
    imgs = []
    for i in range(60):
        if photos:
            p = photos[i % len(photos)]
            w, h = p.size
            x, y = rng.integers(0, w // 3), rng.integers(0, h // 3)
            imgs.append(p.crop((x, y, x + 2 * w // 3, y + 2 * h // 3)).resize((640, 480)).convert("L"))
        else:
            imgs.append(Image.fromarray(rng.integers(0, 255, (480, 640), dtype=np.uint8)))
    src = "scikit-learn sample photos (crops)" if photos else "random noise"
    print(f"{len(imgs)} grayscale 640x480 images from {src}; both sides start from the decoded PIL image")
    t_ih_p = timeit(lambda: [imagehash.phash(im) for im in imgs])
    t_ih_d = timeit(lambda: [imagehash.dhash(im) for im in imgs])
    t_ours = timeit(lambda: [_v.image_hashes(np.asarray(im)) for im in imgs])
    n = len(imgs)
    print(f"imagehash phash {n / t_ih_p:8.0f} img/s   dhash {n / t_ih_d:8.0f} img/s")
    print(f"tagger phash+dhash (one pass) {n / t_ours:8.0f} img/s")
    print(f"ratio: {t_ih_p / t_ours:.1f}x imagehash.phash, {(t_ih_p + t_ih_d) / t_ours:.1f}x phash+dhash")
    d = [tg.verify.hamming(tg.verify.phash(im), int(str(imagehash.phash(im)), 16)) for im in imgs]
    print(f"agreement with imagehash.phash: mean Hamming distance {np.mean(d):.1f} of 64 bits")
    rob_o, rob_i = [], []
    for im in imgs[:20]:
        buf = io.BytesIO()
        im.resize((320, 240)).save(buf, "JPEG", quality=70)
        im2 = Image.open(io.BytesIO(buf.getvalue()))
        rob_o.append(tg.verify.hamming(tg.verify.phash(im), tg.verify.phash(im2)))
        rob_i.append(imagehash.phash(im) - imagehash.phash(im2))
    print(f"half size + JPEG q70: mean distance tagger {np.mean(rob_o):.1f}, imagehash {np.mean(rob_i):.1f}")


def throughput() -> None:
    print("\n== 4. text verification throughput ==")
    texts, _ = load("test.csv")
    data = [t.encode() for t in texts]
    spec = dict(description="Customer questions to a bank about cards, payments and transfers", category="banking")
    tg.verify.check(data[0], "text", spec)  # load the model once
    t_single = timeit(lambda: [tg.verify.check(d, "text", tg.verify.VerifySpec(**spec, registry=tg.verify.DedupRegistry()))
                               for d in data[:1000]], 1)
    t_batch = timeit(lambda: tg.verify.check_many(data, "text", tg.verify.VerifySpec(**spec, registry=tg.verify.DedupRegistry())), 2)
    print(f"check() per document (all checks + dedup registry): {1000 / t_single:8.0f} docs/s")
    print(f"check_many() on {len(data)} documents:              {len(data) / t_batch:8.0f} docs/s")


def edited_copies() -> None:
    print("\n== 5. copies of the task's examples, edited, cut, joined or wrapped (copies_task_text, contains_task_text) ==")
    from tagger.verify import _check

    train, train_labels = load("train.csv")
    test, test_labels = load("test.csv")
    rng = random.Random(0)
    tasks = []  # (examples, honest test questions of the intent)
    for cat in sorted(set(train_labels)):
        pool = [t for t, l in zip(train, train_labels) if l == cat]
        tasks.append((rng.sample(pool, 5), [t for t, l in zip(test, test_labels) if l == cat]))

    def edit(text: str, k: int) -> str:
        for _ in range(k):  # substitute a letter (another one)
            at = rng.choice([i for i, c in enumerate(text) if c.isalpha()])
            text = text[:at] + rng.choice([c for c in string.ascii_lowercase if c != text[at].lower()]) + text[at + 1:]
        return text

    def shuffle(text: str) -> str:
        words = text.split()
        rng.shuffle(words)
        return " ".join(words)

    def cut(text: str) -> str:  # its first 70 % of words
        words = text.split()
        return " ".join(words[:max(1, int(0.7 * len(words)))])

    greetings, thanks = ["Hi! ", "Hello, ", "Hey there. ", "Good morning! "], [" Thanks!", " Thank you.", " Cheers", " Please help."]
    edited: dict[object, list[tuple[int, str]]] = {k: [(i, edit(e, k)) for i, (ex, _) in enumerate(tasks) for e in ex]
                                                   for k in (1, 2, 3)}
    edited["shuffled"] = [(i, shuffle(e)) for i, (ex, _) in enumerate(tasks) for e in ex]
    edited["cut to 70 %"] = [(i, cut(e)) for i, (ex, _) in enumerate(tasks) for e in ex]
    edited["joined"] = [(i, e + " " + ex[(k + 1) % len(ex)]) for i, (ex, _) in enumerate(tasks) for k, e in enumerate(ex)]
    edited["wrapped"] = [(i, rng.choice(greetings) + e + rng.choice(thanks)) for i, (ex, _) in enumerate(tasks) for e in ex]

    def flagged(i: int, text: str) -> bool:
        spec = tg.verify.VerifySpec(description="Questions a bank customer asks", examples=tasks[i][0],
                                    relevance_threshold=None)
        reasons = tg.verify.check(text.encode(), "text", spec, register=False).reasons
        return "copies_task_text" in reasons or "contains_task_text" in reasons

    knobs = ("EDIT_SHARE", "EDIT_MIN_LETTERS", "WORD_OVERLAP", "CONTAINED")
    saved = tuple(getattr(_check, k) for k in knobs)
    share, letters, overlap, contained = saved
    kinds = (1, 2, 3, "shuffled", "cut to 70 %", "joined", "wrapped")
    print(f"{len(tasks)} tasks (5 training questions each as examples); {sum(len(h) for _, h in tasks)} honest test questions")
    print(f"{'rule':34s} " + " ".join(f"{(f'{k} letter' + 's' * (k > 1)) if isinstance(k, int) else k:>11s}" for k in kinds)
          + f" {'honest flagged':>15s}")
    rules = (("Jaccard >= 0.8 only", (0.0, 10**9, 2.0, 2.0)), (f"+ edits <= {share:.0%} of letters", (share, letters, 2.0, 2.0)),
             (f"+ {overlap:.0%} of the words shared", (share, letters, overlap, 2.0)),
             ("+ cut, joined, wrapped (review)", saved))
    for name, values in rules:
        for k, v in zip(knobs, values):
            setattr(_check, k, v)
        try:
            caught = [np.mean([flagged(i, t) for i, t in edited[k]]) for k in kinds]
            honest = np.mean([flagged(i, h) for i, (_, hs) in enumerate(tasks) for h in hs])
        finally:
            for k, v in zip(knobs, saved):
                setattr(_check, k, v)
        print(f"{name:34s} " + " ".join(f"{c:11.1%}" for c in caught) + f" {honest:15.2%}")


def copies_of_uploads() -> None:
    print("\n== 6. copies of other workers' uploads (DedupRegistry: near_duplicate) ==")
    train, _ = load("train.csv")
    test, _ = load("test.csv")
    rng = random.Random(0)
    originals = rng.sample(range(len(train)), 1000)

    def substitute(text: str, k: int) -> str:
        for _ in range(k):
            at = rng.choice([i for i, c in enumerate(text) if c.isalpha()])
            text = text[:at] + rng.choice([c for c in string.ascii_lowercase if c != text[at].lower()]) + text[at + 1:]
        return text

    def swap(text: str) -> str:  # two neighbouring letters of a word
        at = rng.choice([i for i in range(len(text) - 1) if text[i].isalpha() and text[i + 1].isalpha()] or [0])
        return text[:at] + text[at + 1] + text[at] + text[at + 2:]

    def shuffle(text: str) -> str:
        words = text.split()
        rng.shuffle(words)
        return " ".join(words)

    def drop_word(text: str) -> str:
        words = text.split()
        del words[rng.randrange(len(words))]
        return " ".join(words)

    looks = dict(zip("aeocpxyiATMHPIBK", "аеосрхуіАТМНРІВК"))  # Cyrillic letters drawn like Latin ones

    def look_alike(text: str, k: int = 3) -> str:
        spots = [i for i, c in enumerate(text) if c in looks]
        for at in rng.sample(spots, min(k, len(spots))):
            text = text[:at] + looks.get(text[at], text[at]) + text[at + 1:]
        return text

    def cut(text: str) -> str:  # its first 70 % of words
        words = text.split()
        return " ".join(words[:max(1, int(0.7 * len(words)))])

    def middle(text: str) -> str:  # its middle 70 % of words (of letters when it has fewer than 4 words)
        words = text.split()
        if len(words) < 4:
            k = max(1, int(0.15 * len(text)))
            return text[k:len(text) - k]
        k = max(1, round(0.15 * len(words)))
        return " ".join(words[k:len(words) - k])

    greetings, thanks = ["Hi! ", "Hello, ", "Hey there. ", "Good morning! "], [" Thanks!", " Thank you.", " Cheers", " Please help."]
    attacks = {"1 letter": lambda t: substitute(t, 1), "2 letters": lambda t: substitute(t, 2),
               "3 letters": lambda t: substitute(t, 3), "2 swapped": swap, "shuffled": shuffle, "word dropped": drop_word,
               "3 look-alike": look_alike, "cut to 70 %": cut, "middle 70 %": middle,
               "joined": lambda t: t + " " + train[rng.randrange(len(train))],  # (a copy of either is caught)
               "wrapped": lambda t: rng.choice(greetings) + t + rng.choice(thanks)}
    copies = {name: [(i, f(train[i])) for i in originals] for name, f in attacks.items()}
    joined_with = {t: next(k for k in range(len(train)) if t.endswith(" " + train[k])) for _, t in copies["joined"]}
    print(f"{len(train)} Banking77 training questions stored; copies of {len(originals)} of them; "
          f"its {len(test)} test questions as honest uploads")
    print(f"{'rules':24s} " + " ".join(f"{n:>12s}" for n in attacks) + f" {'honest':>8s} {'us/check':>9s}")
    for name, kw in (("Jaccard >= 0.8 only", {"text_edit_share": None, "text_word_sets": False, "text_parts": False}),
                     ("+ edits <= 10 %", {"text_word_sets": False, "text_parts": False}),
                     ("+ the same words", {"text_parts": False}), ("+ cut, joined, wrapped", {})):
        reg = tg.verify.DedupRegistry(**kw)
        for i, t in enumerate(train):
            reg.add(tg.crypto.sha256(t.encode()), "train", str(i), text=t)
        caught = [np.mean([any(c.item_id in (str(i), str(joined_with.get(t, i))) for c in reg.find_copies(t))
                           for i, t in copies[a]]) for a in attacks]
        t0 = time.perf_counter()
        honest = np.mean([bool(reg.find_copies(t)) for t in test])
        us = 1e6 * (time.perf_counter() - t0) / len(test)
        print(f"{name:24s} " + " ".join(f"{c:12.1%}" for c in caught) + f" {honest:8.2%} {us:9.0f}")
    print("(honest: share of the test questions with a near copy among the training questions; Banking77 holds "
          "many near-identical questions)")


if __name__ == "__main__":
    if not DATA.exists():
        sys.exit(f"banking77 not found at {DATA}")
    calibration()
    near_duplicates()
    perceptual_hashes()
    throughput()
    edited_copies()
    copies_of_uploads()
