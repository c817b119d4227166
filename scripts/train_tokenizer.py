#!/usr/bin/env python3
"""Train the sentencepiece unigram model that ships in tagger (python/tagger/data/tokenizer.model).

Corpus: the accented Latin letters (one generated line each block) and the glosses (definitions and usage examples) and lemmas of WordNet 3.0, read from the
Debian package ``wordnet-base`` (/usr/share/wordnet/data.{noun,verb,adj,adv}). WordNet is
distributed under the WordNet 3.0 license (BSD-style; Princeton University), which permits use,
copying, modification and distribution; see /usr/share/doc/wordnet-base/copyright.

The training is reproducible: the corpus is written in file order, sentencepiece runs with a fixed
random seed, one thread and no sentence sampling, so the same Debian package and the same
sentencepiece version give a byte-identical model (checked with --check).

Usage:
    python scripts/train_tokenizer.py                 # writes python/tagger/data/tokenizer.model
    python scripts/train_tokenizer.py --check         # retrains into a temp dir and compares
Needs the Debian packages ``wordnet-base`` and ``sentencepiece`` (spm_train), or the Python
``sentencepiece`` package (its trainer is used when importable and spm_train is absent).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")
REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "python" / "tagger" / "data" / "tokenizer.model"
VOCAB_SIZE = 8000

# Fixed trainer options; changing any of them changes the shipped model.
TRAINER_ARGS = {
    "model_type": "unigram",
    "vocab_size": VOCAB_SIZE,
    "character_coverage": 1.0,
    "normalization_rule_name": "nmt_nfkc_cf",  # NFKC + case folding: the embedder is case-blind
    "input_sentence_size": 0,                  # use every sentence, no random sampling
    "shuffle_input_sentence": "false",
    "num_threads": 1,
    "random_seed": 20240601,
    "split_digits": "true",
    "byte_fallback": "true",  # any UTF-8 text round-trips; unseen characters become byte pieces
    "max_sentence_length": 4096,
    "unk_id": 0, "bos_id": -1, "eos_id": -1, "pad_id": -1,
}


def latin_letters() -> list[str]:
    """The accented Latin letters (U+00C0..U+024F), generated here: WordNet glosses are ASCII,
    and without these lines "café" would fall back to bytes."""
    letters = [chr(c) for c in range(0xC0, 0x250) if chr(c).isalpha()]
    return [" ".join(letters[i:i + 32]) for i in range(0, len(letters), 32)]


def wordnet_sentences() -> list[str]:
    """One line per gloss part (definition or quoted example) plus the synset's lemmas."""
    if not (WORDNET / "data.noun").exists():
        sys.exit(f"WordNet not found at {WORDNET}: install the Debian package wordnet-base")
    out: list[str] = []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(WORDNET / f"data.{pos}", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):  # license header
                    continue
                head, _, gloss = line.partition("|")
                fields = head.split()
                n_words = int(fields[3], 16)
                lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
                lemmas = [re.sub(r"\([a-z]+\)$", "", w) for w in lemmas]  # adjective markers
                out.append(", ".join(lemmas))
                for part in gloss.split(";"):
                    part = part.strip().strip('"').strip()
                    if part:
                        out.append(part)
    return out


def train(out_path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # The model records its trainer options, file names included: train in the temp dir
        # with relative names so the bytes do not depend on where the temp dir is.
        (Path(tmp) / "wordnet.txt").write_text("\n".join(wordnet_sentences() + latin_letters()) + "\n", encoding="utf-8")
        prefix = Path(tmp) / "tokenizer"
        spm_train = shutil.which("spm_train")
        if spm_train:
            args = [spm_train, "--input=wordnet.txt", "--model_prefix=tokenizer"]
            args += [f"--{k}={v}" for k, v in TRAINER_ARGS.items()]
            subprocess.run(args, check=True, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            try:
                import sentencepiece as spm
            except ImportError:
                sys.exit("need spm_train (Debian package sentencepiece) or the Python package sentencepiece")
            cwd = os.getcwd()
            os.chdir(tmp)
            try:
                spm.SentencePieceTrainer.train(input="wordnet.txt", model_prefix="tokenizer", **TRAINER_ARGS)
            finally:
                os.chdir(cwd)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f"{prefix}.model", out_path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="retrain and compare with the shipped model")
    a = ap.parse_args()
    if a.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / "tokenizer.model"
            train(fresh)
            same = fresh.read_bytes() == a.out.read_bytes()
            print(f"sha256 shipped {hashlib.sha256(a.out.read_bytes()).hexdigest()}")
            print(f"sha256 fresh   {hashlib.sha256(fresh.read_bytes()).hexdigest()}")
            sys.exit(0 if same else 1)
    train(a.out)
    print(f"wrote {a.out} ({a.out.stat().st_size} bytes, sha256 {hashlib.sha256(a.out.read_bytes()).hexdigest()})")


if __name__ == "__main__":
    main()
