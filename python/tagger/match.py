"""Matching: task descriptions to data categories, and subtasks to workers.

Everything heavy runs in C++ (``tagger._core.match``) with the GIL released:

- :class:`Tokenizer` — sentencepiece; the shipped unigram model or any user model.
- :class:`Embedder` — hashed TF-IDF vectors over sentencepiece pieces, piece bigrams, words and
  character n-grams (a vocabulary-free ``TfidfVectorizer``).
- :class:`CategoryIndex` — ``top_k(text)`` over a :class:`Catalog` (zero-shot) or learned from
  labeled examples (``CategoryIndex.fit``, few-shot); multinomial logistic regression in C++,
  scores are its posterior probabilities. Any embedding model can replace the representation.
- :func:`assign` — exact maximum-suitability assignment (min-cost flow) with overlap, capacities
  and exclusions; :func:`make_subtasks` — batches with hidden control items.

See docs/matching.md for the representation, the calibration, the catalog and the solver.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import math
import numbers
import os
import sys
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, Generic, NamedTuple, ParamSpec

import numpy as np

from . import _core, _system
from ._fork import renew_after_fork
from ._json_depth import MAX_JSON_DEPTH, too_deep
from ._local import ThreadFlag
from ._optional import require
from ._stack import outside_tagger
from .errors import DecodeError, InfeasibleAssignment, InvalidArgument, NotFitted

_m = _core.match

__all__ = [
    "DATA_DIR", "TOKENIZER_PATH", "CATALOG_PATH", "Tokenizer", "Embedder", "Category", "Catalog",
    "CategoryIndex", "Assignment", "assign", "solve_assignment", "Subtask", "make_subtasks",
    "validate_text", "StaticEmbedding", "STATIC_EMBEDDING_PATH", "CategoryClassifier",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
TOKENIZER_PATH = DATA_DIR / "tokenizer.model"
"""The shipped sentencepiece unigram model (trained by scripts/train_tokenizer.py on WordNet)."""
CATALOG_PATH = DATA_DIR / "categories.json"
"""The shipped category catalog."""
STATIC_EMBEDDING_PATH = DATA_DIR / "static_embedding.bin"
"""The shipped static token embeddings (distilled from all-MiniLM-L6-v2 by scripts/distill_embeddings.py)."""


def validate_text(text: Any, what: str = "text") -> str:
    """Return ``text`` if it can be matched, else raise :class:`~tagger.errors.InvalidArgument`
    saying why: not a string, empty, invalid UTF-8, no letters, or an unsupported script."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidArgument(f"{what} is not valid UTF-8: {e}") from None
    if not isinstance(text, str):
        raise InvalidArgument(f"{what} must be a str, got {type(text).__name__}")
    _check_utf8(text, what)
    _m.validate_text(text, what)
    return text


def _check_utf8(text: str, what: str) -> None:
    # A lone surrogate cannot cross into C++ (pybind11 would raise a bare TypeError).
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidArgument(f"{what} is not valid text: {e.reason} at position {e.start}") from None


def _text_list(texts: Any, what: str, expected: str = "a sequence of strings", column: str = "text") -> list[Any]:
    """``texts`` as a list, refusing what would be read as something else: one string (its
    characters), a DataFrame or a dict (their column names / keys), a 2-D array (its rows)."""
    if isinstance(texts, (str, bytes)):
        raise InvalidArgument(f"{what} must be {expected}, got a single {type(texts).__name__}")
    if isinstance(texts, Mapping) or hasattr(texts, "columns"):
        raise InvalidArgument(f"{what} must be {expected}, got a {type(texts).__name__} (iterating it gives its keys "
                              f"or column names); pass one column, e.g. df['{column}']")
    if getattr(texts, "ndim", 1) != 1:
        raise InvalidArgument(f"{what} must be one-dimensional, got an array of shape {texts.shape}")
    if isinstance(texts, (set, frozenset)):  # answers come back by position: a set has none
        raise InvalidArgument(f"{what} must be {expected} in an order, got a {type(texts).__name__} (its order "
                              f"changes between runs); pass a list, e.g. sorted(...)")
    if type(texts).__module__.startswith("pyarrow") and callable(getattr(texts, "to_pylist", None)):
        # A pyarrow Array / ChunkedArray iterates as pyarrow scalars, which were refused one by one
        # ("got StringScalar"), and on_invalid="skip" then answered None for every text.
        return list(texts.to_pylist())
    try:
        return list(texts)
    except TypeError:
        raise InvalidArgument(f"{what} must be {expected}, got {type(texts).__name__}") from None


def _texts(texts: Any, what: str = "texts") -> list[str]:
    out = _text_list(texts, what)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InvalidArgument(f"{what}[{i}] must be a str, got {type(t).__name__}")
        _check_utf8(t, f"{what}[{i}]")
    return out


ON_INVALID = ("raise", "skip")


def _texts_lenient(texts: Any, on_invalid: str, what: str = "texts",
                   skip_hint: str = "on_invalid='skip' answers the others and None for it") -> tuple[list[str], np.ndarray]:
    """(texts with "" in place of each invalid entry, mask of invalid entries).

    An entry is invalid when it is not a ``str`` (``None``, a number, NaN from pandas) or holds a
    lone surrogate (not encodable text). ``on_invalid="raise"`` raises InvalidArgument naming the
    first such position; ``"skip"`` answers it with nothing (None / a NaN row / no matches)."""
    if on_invalid not in ON_INVALID:
        raise InvalidArgument(f"on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
    out = _text_list(texts, what)
    bad = np.zeros(len(out), dtype=bool)
    for i, t in enumerate(out):
        reason = None
        if not isinstance(t, str):
            reason = f"must be a str, got {type(t).__name__}"
        elif not t.isascii():
            try:
                t.encode("utf-8")
            except UnicodeEncodeError as e:
                reason = f"is not valid text: {e.reason} at position {e.start}"
        if reason is not None:
            if on_invalid == "raise":
                raise InvalidArgument(f"{what}[{i}] {reason} ({skip_hint})")
            bad[i] = True
            out[i] = ""
    return out, bad


SIGNALS: tuple[str, ...] = tuple(_m.text_signal_names()) + ("invalid",)
"""Reason codes of :attr:`Predictions.reasons`, by code: ``ok`` (0) and the low-signal ones —
``empty``, ``no_letters`` (digits, punctuation, emoji only), ``unsupported_script``,
``invalid_utf8``, ``unseen`` (no feature of the text occurred in training and its dense vector
is zero: the answer is the class prior; for a zero-shot catalog index, no token of the text is in the static table: the
answer is uniform) and ``invalid`` (not a str, skipped with ``on_invalid="skip"``)."""
_INVALID = len(SIGNALS) - 1
_UNSEEN = SIGNALS.index("unseen")


def _reasons(codes: np.ndarray) -> list[str | None]:
    return [None if c == 0 else SIGNALS[c] for c in codes.tolist()]


class Matches(list):
    """The ``top_k`` answer for one text: ``[(category, score), ...]`` best first, and
    ``reason`` — None for an ordinary text, else why it carries little signal (see
    :data:`SIGNALS`); ``low_signal`` is ``reason is not None``."""

    reason: str | None = None

    @property
    def low_signal(self) -> bool:
        """True when the text was answered on little evidence (``reason`` is set)."""
        return self.reason is not None


class Predictions(list):
    """The answer of :meth:`CategoryIndex.predict`: one label per text (a plain list of the
    categories — ``str``, or the type of the labels :meth:`CategoryIndex.fit` was given — or the
    abstain label where the index abstained), with per-text arrays

    - ``scores``: the (calibrated) probability of the predicted category (NaN where skipped);
    - ``abstained``: True where the score fell below the threshold and the label was replaced;
    - ``reasons``: None or the low-signal reason (:data:`SIGNALS`); ``low_signal`` its mask.

    ``to_pandas()`` gives them as a DataFrame (index = the input Series' index, if any)."""

    scores: np.ndarray
    abstained: np.ndarray
    reasons: list[str | None]
    _index: Any = None

    @property
    def low_signal(self) -> np.ndarray:
        """bool [n]: True where a text was answered on little evidence (its reason is set)."""
        return np.array([r is not None for r in self.reasons], dtype=bool)

    def to_pandas(self) -> Any:
        """A DataFrame with columns ``label``, ``score``, ``abstained``, ``low_signal`` and ``reason``,
        indexed like the input Series (else 0..n-1)."""
        import pandas as pd
        # object columns: pandas 3 would infer a str dtype and turn the None of an abstention
        # (and of a reason-less row) into NaN.
        return pd.DataFrame({"label": pd.Series(list(self), dtype=object), "score": self.scores,
                             "abstained": self.abstained, "low_signal": self.low_signal,
                             "reason": pd.Series(self.reasons, dtype=object)}).set_axis(
                                 self._index if self._index is not None else pd.RangeIndex(len(self)))


# ----------------------------------------------------------------------------- Tokenizer


class Tokenizer:
    """A sentencepiece model (Kudo & Richardson 2018; unigram LM, Kudo 2018).

    ``Tokenizer()`` loads the shipped model (8,000 pieces, NFKC + case folding, trained on the
    WordNet 3.0 glosses); ``Tokenizer("user.model")`` or ``Tokenizer.from_bytes(b)`` any other.

    >>> tok = Tokenizer()
    >>> tok.decode(tok.encode("Label the sentiment of reviews"))
    'label the sentiment of reviews'
    """

    def __init__(self, model: str | Path | bytes | None = None) -> None:
        if model is None:
            model = TOKENIZER_PATH
        if isinstance(model, (bytes, bytearray, memoryview)):
            self._core = _m.Tokenizer.from_bytes(model)
            self._source = f"<{len(model)} bytes>"
        else:
            if not isinstance(model, (str, os.PathLike)):  # (Tokenizer(5) looked for a file named "5")
                raise InvalidArgument(f"Tokenizer takes a model path or the model's bytes, not {type(model).__name__}")
            self._core = _m.Tokenizer.from_file(str(model))
            self._source = str(model)

    @classmethod
    def from_file(cls, path: str | Path) -> Tokenizer:
        """The sentencepiece model in the file at ``path``."""
        if not isinstance(path, (str, os.PathLike)):  # (None and bytes raised a bare TypeError)
            raise InvalidArgument(f"Tokenizer.from_file takes a path (str or PathLike), not {type(path).__name__}; "
                                  "a model's bytes go to Tokenizer.from_bytes")
        return cls(Path(path))

    @classmethod
    def from_bytes(cls, model: bytes) -> Tokenizer:
        """The sentencepiece model serialized in ``model``."""
        if not isinstance(model, (bytes, bytearray, memoryview)):  # (bytes("abc") raised a raw TypeError)
            raise InvalidArgument(f"Tokenizer.from_bytes takes the model's bytes, not {type(model).__name__}")
        return cls(bytes(model))

    @classmethod
    def _wrap(cls, core: Any, source: str) -> Tokenizer:
        t = cls.__new__(cls)
        t._core, t._source = core, source
        return t

    def encode(self, text: str, out_type: type = int) -> list[int] | list[str]:
        """Pieces of ``text`` as ids (``out_type=int``) or strings (``out_type=str``)."""
        text = _text_arg(text)
        if out_type is not int and out_type is not str:  # ("str", a string, silently gave ids)
            raise InvalidArgument(f"out_type must be int or str (the types), got {out_type!r}")
        return self._core.encode_pieces(text) if out_type is str else self._core.encode_ids(text)

    def encode_ids(self, text: str) -> list[int]:
        """Piece ids of ``text`` (``encode(text)``)."""
        return self._core.encode_ids(_text_arg(text))

    def encode_pieces(self, text: str) -> list[str]:
        """Pieces of ``text`` as strings (``encode(text, out_type=str)``)."""
        return self._core.encode_pieces(_text_arg(text))

    def encode_batch(self, texts: Iterable[str], threads: int = 0, *,
                     on_invalid: str = "raise") -> list[list[int]]:
        """Ids of many texts, in parallel (``threads=0``: every core). Any valid ``str`` is
        encoded (an empty one to ``[]``); a non-str, or a str with a lone surrogate, raises
        InvalidArgument naming its position, or with ``on_invalid="skip"`` gets ``[]``."""
        tl, _ = _texts_lenient(texts, on_invalid, skip_hint="on_invalid='skip' encodes the others and [] for it")
        return self._core.encode_ids_batch(tl, _threads(threads))

    def _piece_id(self, id: Any) -> int:
        if isinstance(id, (bool, np.bool_)) or not isinstance(id, numbers.Integral) or not 0 <= int(id) < self.vocab_size:
            raise InvalidArgument(f"piece id {id!r} is out of range: piece ids are ints in [0, {self.vocab_size})")
        return int(id)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of piece ids; an id outside ``[0, vocab_size)`` is InvalidArgument."""
        if isinstance(ids, (str, bytes, Mapping, set, frozenset)) or not isinstance(ids, Iterable) \
                or getattr(ids, "ndim", 1) != 1:  # (a dict or set gave its keys in no set order; a 2-d array "out of range")
            raise InvalidArgument(f"decode takes a sequence of piece ids in order, not "
                                  f"{type(ids).__name__}{' of shape ' + str(ids.shape) if hasattr(ids, 'shape') else ''}")
        return self._core.decode([self._piece_id(i) for i in ids])

    def piece_score(self, id: int) -> float:
        """Unigram log-probability (natural log) of piece ``id``."""
        return self._core.piece_score(self._piece_id(id))

    def id_to_piece(self, id: int) -> str:
        """The piece (string) with id ``id``."""
        return self._core.id_to_piece(self._piece_id(id))

    def piece_to_id(self, piece: str) -> int:
        """The id of ``piece``, or :attr:`unk_id` when the model has no such piece."""
        return self._core.piece_to_id(_text_arg(piece, "piece"))

    def mean_log_prob(self, text: str, unk_penalty: float = -20.0) -> float:
        r"""Mean per-piece log-probability :math:`\frac1n\sum_i \log p(x_i)` of the unigram
        segmentation of ``text``; unknown and byte-fallback pieces (the shipped model's only
        kind for characters it lacks) count ``unk_penalty``, a finite number <= 0. Low for
        gibberish."""
        return self._core.mean_log_prob(_text_arg(text), _unk_penalty(unk_penalty))

    def log_prob_per_char(self, text: str, unk_penalty: float = -20.0) -> float:
        """Total unigram log-probability of ``text`` per non-space character (the gibberish
        signal: natural words take few likely pieces, random strings many single characters);
        ``unk_penalty`` as for :meth:`mean_log_prob`."""
        return self._core.log_prob_per_char(_text_arg(text), _unk_penalty(unk_penalty))

    @property
    def vocab_size(self) -> int:
        """Number of pieces in the model."""
        return self._core.vocab_size()

    @property
    def unk_id(self) -> int:
        """The id of the unknown piece."""
        return self._core.unk_id()

    def __len__(self) -> int:
        return self.vocab_size

    def serialized_model(self) -> bytes:
        """The sentencepiece model as bytes (what :meth:`save` writes and ``Tokenizer(bytes)`` reads)."""
        return self._core.serialized_model()

    def save(self, path: str | Path) -> None:
        """Writes the sentencepiece model to ``path``, atomically (a crash or a concurrent save
        leaves the old file or the new one: a plain write left 28 of 30 killed saves an empty file)."""
        from ._match_io import write_atomic

        if not isinstance(path, (str, os.PathLike)):
            raise InvalidArgument(f"Tokenizer.save takes a path (str or PathLike), not {type(path).__name__}")
        write_atomic(path, self.serialized_model())

    def __getstate__(self) -> dict:
        return {"model": self.serialized_model(), "source": self._source}

    def __setstate__(self, state: dict) -> None:
        self._core = _m.Tokenizer.from_bytes(state["model"])
        self._source = state["source"]

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, source={self._source!r})"


def _unk_penalty(value: Any) -> float:
    """A finite number <= 0 (a positive or infinite penalty made gibberish score high, NaN made
    every score NaN; None raised a bare TypeError)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)) \
            or float(value) > 0:
        raise InvalidArgument(f"unk_penalty must be a finite number <= 0 (a log-probability), got {value!r}")
    return float(value)


def _text_arg(text: Any, what: str = "text") -> str:
    if not isinstance(text, str):
        raise InvalidArgument(f"{what} must be a str, got {type(text).__name__}")
    _check_utf8(text, what)
    return text


_default_tokenizer: Tokenizer | None = None


def _tokenizer(tok: Tokenizer | str | Path | bytes | None) -> Tokenizer:
    global _default_tokenizer
    if tok is None:
        if _default_tokenizer is None:
            _default_tokenizer = Tokenizer()
        return _default_tokenizer
    return tok if isinstance(tok, Tokenizer) else Tokenizer(tok)


# ----------------------------------------------------------------------------- StaticEmbedding


class StaticEmbedding:
    """Dense sentence vectors without a transformer: the L2-normalized sum of per-token vectors.

    The token vectors were distilled once from all-MiniLM-L6-v2 (each WordPiece token through the
    transformer, PCA to 256 dims, SIF frequency weights, int8), the model2vec recipe; at run time
    only a table look-up runs, in C++ with the GIL released (docs/matching.md, "Dense features").
    Tokenization is BERT's uncased WordPiece, also in C++.

    ``StaticEmbedding()`` (or :meth:`default`, shared) loads the shipped table. An instance is a
    callable ``texts -> array [n, dim]``, so it can also be a ``backend`` of
    :meth:`CategoryIndex.fit`.

    >>> e = StaticEmbedding.default()
    >>> v = e.embed(["card arrived damaged", "my card came broken", "banana bread recipe"])
    >>> bool(v[0] @ v[1] > v[0] @ v[2])
    True
    """

    _default: StaticEmbedding | None = None
    _lock = threading.Lock()

    def __init__(self, path: str | Path | bytes | None = None) -> None:
        if isinstance(path, (bytes, bytearray, memoryview)):  # (memoryview, as Tokenizer takes, was refused)
            data = bytes(path)
            self._source = "bytes"
        else:
            if path is not None and not isinstance(path, (str, os.PathLike)):
                raise InvalidArgument(f"StaticEmbedding takes a path or the table's bytes, not {type(path).__name__}")
            p = Path(path) if path is not None else STATIC_EMBEDDING_PATH
            try:
                data = p.read_bytes()
            except OSError as e:  # (as Tokenizer: a typed error, not FileNotFoundError)
                raise InvalidArgument(f"cannot read the static embedding table {str(p)!r}: {e.strerror}") from None
            self._source = p.name
        self._core = _m.StaticEmbedding.from_bytes(data)
        # What a saved index or a pickle records: the shipped table by this digest, any other
        # table by the bytes loaded here (the file may change or go away afterwards).
        self._sha256 = hashlib.sha256(data).hexdigest()
        # (a relative path to the shipped file pickled the whole 7.9 MB table: resolved before comparing)
        shipped = path is None or (not isinstance(path, (bytes, bytearray, memoryview))
                                   and Path(path).resolve() == STATIC_EMBEDDING_PATH.resolve())
        self._bytes: bytes | None = None if shipped else data

    @classmethod
    def default(cls) -> StaticEmbedding:
        """The shipped table, loaded once per process."""
        with cls._lock:
            if cls._default is None:
                cls._default = cls()
            return cls._default

    @property
    def dim(self) -> int:
        """Length of the vectors this returns."""
        return self._core.dim()

    def embed(self, texts: Iterable[str], threads: int = 0) -> np.ndarray:
        """float32 [n, dim], unit rows (all zeros for a text without a known token)."""
        return self._core.embed_batch(_texts(texts), _threads(threads))

    __call__ = embed

    def tokenize(self, text: str) -> list[str]:
        """WordPiece tokens of ``text`` (lowercased, accents stripped; ``[UNK]`` for unknown words)."""
        return self._core.tokenizer().tokenize(_text_arg(text))

    def encode(self, text: str) -> list[int]:
        """WordPiece token ids of ``text`` (the rows of the table its vector sums)."""
        return self._core.tokenizer().encode(_text_arg(text))

    def __reduce__(self) -> tuple[Any, ...]:
        # The shipped table by reference (it is in every install); any other by its bytes.
        return (StaticEmbedding, ()) if self._bytes is None else (StaticEmbedding, (self._bytes,))

    def __repr__(self) -> str:
        return f"StaticEmbedding({self._core.tokenizer().vocab_size()} tokens x {self.dim}, {self._source})"


def _zero_shot_config() -> Any:
    """The settings of the catalog's zero-shot scorer (C++ ``ZeroShotScorer``, tagger/zero_shot.h),
    chosen on the dev protocol of docs/matching.md, "Zero-shot catalog matching"."""
    cfg = _m.ZeroShotConfig()
    cfg.idf_power = 2.0
    return cfg


DENSE_WEIGHT = 4.0
"""Default scale of the dense block against the unit sparse vector (chosen on Banking77 from {1, 2, 4})."""


def _dense_weight(w: Any) -> float:
    """The dense block's scale: a finite number in (0, 1000] (beyond, float32 features overflow)."""
    if isinstance(w, (bool, np.bool_)) or not isinstance(w, numbers.Real) or not 0 < float(w) <= 1000:
        raise InvalidArgument(f"dense_weight must be a number in (0, 1000], got {w!r}")
    return float(w)


def _dense_table(dense: bool | StaticEmbedding | None) -> StaticEmbedding | None:
    """The StaticEmbedding an index's ``dense`` option stands for (None: sparse only)."""
    if dense is True:
        return StaticEmbedding.default()
    return dense if isinstance(dense, StaticEmbedding) else None


def _dense(dense: bool | StaticEmbedding | None) -> Any:
    """The core StaticEmbedding for an index's ``dense`` option (None: sparse only)."""
    if not (dense is None or isinstance(dense, (bool, StaticEmbedding))):
        raise InvalidArgument(f"dense must be a bool or a tg.match.StaticEmbedding, got {type(dense).__name__}")
    table = _dense_table(dense)
    return table._core if table is not None else None


# ----------------------------------------------------------------------------- Embedder


MAX_CHAR_NGRAM = 32
"""The longest character n-gram an Embedder takes (``char_ngrams``), in UTF-8 bytes."""


def _embedder_options(owner: str, options: dict[str, Any]) -> dict[str, Any]:
    """The Embedder options of a fit as plain Python values (numpy numbers welcome; a saved
    index records them as JSON), or InvalidArgument naming an unknown or mistyped one."""
    known = list(inspect.signature(_embedder_config).parameters)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InvalidArgument(f"{owner} got unknown option(s) {unknown}; it takes the options of its signature and "
                              f"the Embedder options {known}")
    out: dict[str, Any] = {}
    for k, v in options.items():
        if k == "hash_bits":
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
                raise InvalidArgument(f"hash_bits must be an int in [8, 30], got {v!r}")
            out[k] = int(v)
        elif k == "char_ngrams":
            if v is None:
                out[k] = None
                continue
            if isinstance(v, (str, bytes)) or not isinstance(v, (tuple, list)) or len(v) != 2 or not all(
                    isinstance(n, numbers.Integral) and not isinstance(n, (bool, np.bool_)) for n in v):
                raise InvalidArgument(f"char_ngrams must be a (min, max) pair of ints or None, got {v!r}")
            if int(v[1]) != 0 and not 1 <= int(v[0]) <= int(v[1]) <= MAX_CHAR_NGRAM:  # (max 0: none, as None)
                # (2**31 raised a bare TypeError; (1, 10**6) made every word's every substring a
                # feature: 6.6 s for 20 texts, 7 ms with the default)
                raise InvalidArgument(f"char_ngrams must be (min, max) with 1 <= min <= max <= {MAX_CHAR_NGRAM} "
                                      f"(n-grams of UTF-8 bytes), got {v!r}")
            out[k] = [int(v[0]), int(v[1])]
        else:
            if not isinstance(v, (bool, np.bool_)):
                raise InvalidArgument(f"{k} must be a bool, got {v!r}")
            out[k] = bool(v)
    return out


def _embedder_config(hash_bits: int = 20, char_ngrams: tuple[int, int] | None = (2, 5), piece_bigrams: bool = True,
                     word_unigrams: bool = True, sublinear_tf: bool = True) -> Any:
    c = _m.EmbedderConfig()
    c.hash_bits = int(hash_bits)
    lo, hi = char_ngrams if char_ngrams else (1, 0)
    c.char_ngram_min, c.char_ngram_max = int(lo), int(hi)
    c.piece_bigrams, c.word_unigrams, c.sublinear_tf = bool(piece_bigrams), bool(word_unigrams), bool(sublinear_tf)
    return c


def _embedder_from_state(tokenizer: bytes, options: dict[str, Any], idf: Any) -> Embedder:
    ngrams = options.get("char_ngrams")
    if ngrams and ngrams[1] > MAX_CHAR_NGRAM:
        # Pickled before the bound on char_ngrams (2026-12-07): rebuilt as it was, not refused.
        opts = dict(options, char_ngrams=None)
        e = Embedder(Tokenizer.from_bytes(tokenizer), **opts)
        e._core = _m.Embedder(e._core.tokenizer(), _embedder_config(**dict(options, char_ngrams=tuple(ngrams))))
    else:
        e = Embedder(Tokenizer.from_bytes(tokenizer), **options)
    if idf is not None:
        e._core.set_idf(np.asarray(idf, dtype=np.float32))
    return e


class Embedder:
    r"""Text -> sparse unit vector in :math:`\mathbb{R}^{2^{b}}` (``b = hash_bits``).

    Features: sentencepiece pieces, adjacent piece pairs, whole (case-folded) words and the
    character n-grams of ``<word>`` (``char_ngrams=(2, 5)``), hashed (Weinberger et al., ICML
    2009). Weight :math:`w_f = (1 + \log tf_f)\cdot idf_f` with
    :math:`idf_f = \log\frac{1+N}{1+df_f} + 1` after :meth:`fit` (1 before), then L2-normalized,
    so :meth:`similarity` is the cosine.

    >>> e = Embedder().fit(["label images of cats", "transcribe audio"])
    >>> round(e.similarity("label cat images", "label images of cats"), 2) > 0.5
    True
    """

    def __init__(self, tokenizer: Tokenizer | str | Path | None = None, *, hash_bits: int = 20,
                 char_ngrams: tuple[int, int] | None = (2, 5), piece_bigrams: bool = True,
                 word_unigrams: bool = True, sublinear_tf: bool = True, _core: Any = None) -> None:
        if _core is not None:
            self._core = _core
        else:
            # The checks fits use (hash_bits=None, char_ngrams="ab" raised raw errors; 20.9 ran as 20)
            opts = _embedder_options("Embedder", {"hash_bits": hash_bits, "char_ngrams": char_ngrams,
                                                  "piece_bigrams": piece_bigrams, "word_unigrams": word_unigrams,
                                                  "sublinear_tf": sublinear_tf})
            self._core = _m.Embedder(_tokenizer(tokenizer)._core, _embedder_config(**opts))

    def fit(self, corpus: Iterable[str], threads: int = 0) -> Embedder:
        """Learn document frequencies from ``corpus``; returns ``self``."""
        self._core.fit_idf(_texts(corpus, "corpus"), _threads(threads))
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # The tokenizer's model, the options and the learned IDF (training texts are not kept).
        c = self._core.config()
        options = {"hash_bits": c.hash_bits, "piece_bigrams": c.piece_bigrams, "word_unigrams": c.word_unigrams,
                   "sublinear_tf": c.sublinear_tf,
                   "char_ngrams": (c.char_ngram_min, c.char_ngram_max) if c.char_ngram_max else None}
        return (_embedder_from_state, (self._core.tokenizer().serialized_model(), options, self._core.idf()))

    def transform(self, texts: Iterable[str], threads: int = 0, *, on_invalid: str = "raise") -> Any:
        """``scipy.sparse.csr_array`` [n_texts, dim] of unit rows (an all-zero row for a text
        without features, e.g. an empty one). A non-str raises InvalidArgument naming its
        position, or with ``on_invalid="skip"`` gets an all-zero row."""
        sp = require("scipy.sparse", "Embedder.transform")
        texts, _ = _texts_lenient(texts, on_invalid,
                                  skip_hint="on_invalid='skip' embeds the others and an all-zero row for it")
        indptr, indices, values = self._core.embed_batch(texts, _threads(threads))
        return sp.csr_array((values, indices, indptr), shape=(len(texts), self.dim))

    def embed(self, text: str) -> Any:
        """One text as a 1 x dim ``scipy.sparse.csr_array``."""
        return self.transform([_text_arg(text)])

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two texts, in [0, 1] (all weights are non-negative; float32
        rounding, 1.0000001 for a text and itself, is clipped)."""
        return min(1.0, float(self._core.similarity(_text_arg(a, "a"), _text_arg(b, "b"))))

    @property
    def dim(self) -> int:
        """Length of the vectors this returns."""
        return self._core.dim()

    @property
    def fitted(self) -> bool:
        """True once :meth:`fit_idf` has learned the IDF weights."""
        return self._core.has_idf()

    @property
    def tokenizer(self) -> Tokenizer:
        """The sentencepiece :class:`Tokenizer` this embedder cuts texts with."""
        return Tokenizer._wrap(self._core.tokenizer(), "embedder")

    def __repr__(self) -> str:
        c = self._core.config()
        ng = f"({c.char_ngram_min}, {c.char_ngram_max})" if c.char_ngram_max else "None"
        return f"Embedder(dim=2**{c.hash_bits}, char_ngrams={ng}, idf={'fitted' if self.fitted else 'none'})"


# ----------------------------------------------------------------------------- Catalog


_READING_SAVED = ThreadFlag()


def _reading_saved() -> contextlib.AbstractContextManager[None]:
    """While a saved catalog or index is read (in this thread), categories keep the ids they
    were saved with, even ones refused today (surrounding whitespace)."""
    return _READING_SAVED.raised()


@dataclass(frozen=True)
class Category:
    """One data category: ``id`` like ``"text/sentiment"`` (modality/task), a description and
    example task phrasings (the texts the index learns the category from)."""

    id: str
    description: str
    examples: tuple[str, ...] = ()
    modality: str = ""
    task: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise InvalidArgument("a category needs a non-empty string id")
        if self.id != self.id.strip() and not _READING_SAVED:
            # Kept, " text/x" and "text/x" were two categories, and the modality "  text".
            # Files written before this check must still open: only new categories are refused.
            raise InvalidArgument(f"category id {self.id!r} has leading or trailing whitespace")
        for name in ("description", "modality", "task"):
            if not isinstance(getattr(self, name), str):
                raise InvalidArgument(f"category {self.id!r}: {name} must be a str, got {type(getattr(self, name)).__name__}")
        if isinstance(self.examples, (str, bytes)):  # tuple("abc") would be three one-letter examples
            raise InvalidArgument(f"category {self.id!r}: examples must be a list of strings, got a single "
                                  f"{type(self.examples).__name__}")
        if not isinstance(self.examples, Iterable):
            raise InvalidArgument(f"category {self.id!r}: examples must be a list of strings, got "
                                  f"{type(self.examples).__name__}")
        object.__setattr__(self, "examples", tuple(self.examples))
        bad = [i for i, e in enumerate(self.examples) if not isinstance(e, str)]
        if bad:
            raise InvalidArgument(f"category {self.id!r}: examples[{bad[0]}] must be a str, "
                                  f"got {type(self.examples[bad[0]]).__name__}")
        _check_utf8(self.id, "category id")
        _check_utf8(self.description, f"category {self.id!r}: description")
        for i, e in enumerate(self.examples):
            _check_utf8(e, f"category {self.id!r}: examples[{i}]")
        if not self.modality and "/" in self.id:
            object.__setattr__(self, "modality", self.id.split("/", 1)[0])
        if not self.description.strip() and not any(e.strip() for e in self.examples):
            # Blank examples passed here and were refused only by CategoryIndex.from_catalog.
            raise InvalidArgument(f"category {self.id!r} has neither a description nor examples "
                                  "(blank ones do not count)")

    def to_dict(self) -> dict:
        """The category as a dict of ``id``, ``modality``, ``task``, ``description`` and ``examples``."""
        return {"id": self.id, "modality": self.modality, "task": self.task, "description": self.description,
                "examples": list(self.examples)}


_CATEGORY_FIELDS = ("id", "description", "examples", "modality", "task")


def _category(c: Category | dict, i: int) -> Category:
    """Entry ``i`` of a catalog as a :class:`Category` (a dict may leave out the description
    when it has examples)."""
    if isinstance(c, Category):
        return c
    if not isinstance(c, dict):
        raise InvalidArgument(f"catalog entry {i} must be a Category or a dict, got {type(c).__name__}")
    unknown = sorted(set(c) - set(_CATEGORY_FIELDS), key=str)
    if unknown:
        raise InvalidArgument(f"catalog entry {i} has unknown field(s) {unknown}; a category has {list(_CATEGORY_FIELDS)}")
    if "id" not in c:
        raise InvalidArgument(f"catalog entry {i} has no id")
    return Category(**{"description": "", **c})


def _catalog_file(path: Any) -> Path:
    """``path`` as a catalog file's path, else InvalidArgument."""
    # The type first: Path(123) or Path(b"x") raises a bare TypeError.
    raw = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(raw, str):
        raise InvalidArgument(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if raw == "" or raw.endswith(("/", os.sep)) or Path(raw).is_dir():
        raise InvalidArgument(f"path {raw!r} is a directory; give a catalog file name (e.g. 'catalog.json')")
    return Path(raw)


class Catalog(Sequence[Category]):
    """An ordered collection of :class:`Category` with unique ids.

    ``Catalog.default()`` is the shipped one (``CATALOG_PATH``); extend it with
    ``catalog + [Category(...)]`` or :meth:`extend`, replace entries with :meth:`replace`, or
    load your own with :meth:`load` (same JSON layout: ``{"categories": [{"id", "description",
    "examples", "modality", "task"}]}``).
    """

    def __init__(self, categories: Iterable[Category | dict] = ()) -> None:
        if isinstance(categories, (str, bytes, dict)) or not isinstance(categories, Iterable):
            raise InvalidArgument(f"a Catalog takes a list of categories (Category or dict), got {type(categories).__name__}")
        cats = [_category(c, i) for i, c in enumerate(categories)]
        seen: dict[str, int] = {}
        for i, c in enumerate(cats):
            if c.id in seen:
                raise InvalidArgument(f"duplicate category id {c.id!r} (entries {seen[c.id]} and {i})")
            seen[c.id] = i
        self._cats = cats
        self._by_id = {c.id: c for c in cats}

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalog:
        """A catalog file (JSON: a list of categories or ``{"categories": [...]}``); DecodeError
        for a file that is not JSON text, InvalidArgument for JSON of another shape."""
        p = _catalog_file(path) if path is not None else CATALOG_PATH
        raw = p.read_bytes()
        try:
            # utf-8-sig: editors on Windows save JSON with a byte-order mark.
            text = raw.decode("utf-8-sig")
            if too_deep(text):  # (json.loads under a raised recursion limit overflowed the C stack: a crash)
                raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            data = json.loads(text)
        except (UnicodeDecodeError, ValueError, RecursionError) as e:  # (nesting too deep to parse)
            hint = " (a saved CategoryIndex: use CategoryIndex.load)" if raw[:4] == b"TGIX" else ""
            raise DecodeError(f"{p}: not a catalog file: {type(e).__name__}: {str(e)[:120]}{hint}") from None
        if isinstance(data, dict) and "categories" not in data:
            raise InvalidArgument(f"{p}: a catalog file is a list of categories or {{\"categories\": [...]}}; "
                                  f"this one has keys {sorted(data)[:5]}")
        cats = data["categories"] if isinstance(data, dict) else data
        if not isinstance(cats, list):
            raise InvalidArgument(f"{p}: a catalog file holds a list of categories, got {type(cats).__name__}")
        try:
            with _reading_saved():
                return cls(cats)
        except InvalidArgument as e:
            raise InvalidArgument(f"{p}: {e}") from None

    @classmethod
    def default(cls) -> Catalog:
        return cls.load(CATALOG_PATH)

    def save(self, path: str | Path) -> None:
        """Writes the catalog as JSON, atomically (a crash or a concurrent save leaves one whole
        file: a plain write let 13 of 50 concurrent saves end corrupt)."""
        from ._match_io import write_atomic

        write_atomic(_catalog_file(path), (json.dumps({"categories": [c.to_dict() for c in self]}, indent=1, ensure_ascii=False)
                            + "\n").encode("utf-8"))

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._by_id[key]
        return self._cats[key]

    def __len__(self) -> int:
        return len(self._cats)

    def __iter__(self) -> Iterator[Category]:
        return iter(self._cats)

    def __contains__(self, key: object) -> bool:
        return key in self._by_id if isinstance(key, str) else key in self._cats

    @property
    def ids(self) -> list[str]:
        """The category ids, in catalog order."""
        return [c.id for c in self._cats]

    def extend(self, more: Iterable[Category | dict]) -> Catalog:
        """A new catalog with ``more`` appended (ids must stay unique)."""
        if isinstance(more, (str, bytes, Category, dict)) or not isinstance(more, Iterable):
            raise InvalidArgument(f"extend takes a catalog or a list of categories, not {type(more).__name__}"
                                  + (" (wrap one category in a list)" if isinstance(more, (Category, dict)) else ""))
        return Catalog([*self._cats, *more])

    __add__ = extend

    def replace(self, category: Category | dict) -> Catalog:
        """A new catalog with the category of the same id replaced (or appended)."""
        category = _category(category, len(self._cats))
        if category.id not in self._by_id:
            return self.extend([category])
        return Catalog([category if c.id == category.id else c for c in self._cats])

    def to_pandas(self) -> Any:
        """A DataFrame indexed by id with the columns ``modality``, ``task``, ``description`` and
        ``examples`` (a tuple of texts per row)."""
        import pandas as pd
        columns = ["id", "modality", "task", "description", "examples"]  # (Category.to_dict's keys, also when empty)
        return pd.DataFrame([c.to_dict() for c in self._cats], columns=columns).set_index("id")

    def __repr__(self) -> str:
        mods = sorted({c.modality for c in self._cats})
        return f"Catalog({len(self)} categories, modalities={mods})"


# ----------------------------------------------------------------------------- CategoryIndex


def _threads(threads: Any) -> int:
    """A thread count for the C++ core (0: every core), or InvalidArgument."""
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 0 <= threads <= 2**32 - 1:
        raise InvalidArgument(f"threads must be an int >= 0 (0: every core), got {threads!r}")
    return int(threads)


def _train_config(epochs: int, learning_rate: float, l2: float, seed: int, threads: int) -> Any:
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or not 1 <= epochs <= 10_000:
        raise InvalidArgument(f"epochs must be an int in [1, 10000], got {epochs!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= 2**64 - 1:
        raise InvalidArgument(f"seed must be an int in [0, 2**64 - 1], got {seed!r}")
    for name, v, low in (("learning_rate", learning_rate, 0.0), ("l2", l2, 0.0)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)) or float(v) < low \
                or (name == "learning_rate" and float(v) == 0.0):
            raise InvalidArgument(f"{name} must be a finite number {'> 0' if name == 'learning_rate' else '>= 0'}, "
                                  f"got {v!r}")
    t = _m.TrainConfig()
    t.epochs, t.learning_rate, t.l2, t.seed, t.threads = int(epochs), float(learning_rate), float(l2), int(seed), _threads(threads)
    return t


def _finite_rows(x: np.ndarray, positions: list[int], texts: list[str]) -> None:
    """InvalidArgument naming the first text whose backend vector is not finite (the model
    would refuse the whole batch without saying which)."""
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        t = texts[positions[r]]
        raise InvalidArgument(f"the backend returned a vector with NaN/inf for texts[{positions[r]}] "
                              f"({t[:40] + ('…' if len(t) > 40 else '')!r}): fix the backend or leave that text out")


_FIT_SKIP_HINT = "on_invalid='skip' drops the examples without a text"


LABEL_KINDS = ("int", "float", "bool", "bytes")
"""The label types other than ``str`` that :meth:`CategoryIndex.fit` gives back in their own type
(numpy scalars as the Python ones: ``np.int64`` as ``int``, ``np.float32`` as the ``float`` of the
same value, ``np.bool_`` as ``bool``, ``np.bytes_`` as ``bytes``); a saved index records them."""


def _label_name(y: Any, i: int) -> tuple[str, str]:
    """(the category name the core knows label ``y`` by, its kind: "str" or one of
    :data:`LABEL_KINDS`); InvalidArgument for a type a saved index could not give back."""
    if isinstance(y, str):
        _check_utf8(y, f"labels[{i}]")  # (a lone surrogate: the core's signature in a TypeError)
        return str(y), "str"
    if isinstance(y, (bool, np.bool_)):
        return str(bool(y)), "bool"
    if isinstance(y, numbers.Integral):
        return str(int(y)), "int"
    if isinstance(y, (float, np.floating)):
        return repr(float(y) + 0.0), "float"  # (+ 0.0: -0.0 is the category 0.0)
    if isinstance(y, bytes):
        return bytes(y).decode("latin-1"), "bytes"  # one character per byte: any bytes, same order
    raise InvalidArgument(f"labels[{i}] is a {type(y).__name__} ({y!r}); labels must be str, int, float, bool or "
                          "bytes (the types an index gives back as they were): convert them, e.g. with str")


def _label_value(name: str, kind: str | None) -> Any:
    """The label a category name of kind ``kind`` stands for (None or "str": the name)."""
    if kind is None or kind == "str":
        return name
    if kind == "int":
        return int(name)
    if kind == "float":
        return float(name)
    if kind == "bool":
        if name not in ("True", "False"):
            raise ValueError(f"{name!r} is not a bool category")
        return name == "True"
    if kind == "bytes":
        return name.encode("latin-1")
    raise ValueError(f"unknown label kind {kind!r}")


def _category_names(labels: list[Any], keep: list[int] | None = None) -> tuple[list[str], dict[str, str]]:
    """Category names of ``labels`` (only the positions ``keep`` when given, errors naming the
    position in ``labels``) and the kind of each category whose labels are not ``str`` (see
    :data:`LABEL_KINDS`: predictions give them back in their type), refusing what would silently
    merge or invent categories: a missing label (None/NaN), a non-scalar one, two different labels
    with the same name (1 and "1"), and a type that could not be given back."""
    pandas = sys.modules.get("pandas")  # imported by whoever passes pandas objects
    na = pandas.NA if pandas is not None else None
    names: list[str] = []
    first: dict[str, Any] = {}
    name_of_value: dict[Any, str] = {}  # 1 and 1.0 are one value with two names
    kinds: dict[str, str] = {}
    for i in (range(len(labels)) if keep is None else keep):
        y = labels[i]
        if y is None or y is na or (isinstance(y, (float, np.floating)) and math.isnan(y)):
            raise InvalidArgument(f"labels[{i}] is missing ({y!r}); drop that example or give it a category")
        if isinstance(y, (list, tuple, set, dict, np.ndarray)):
            raise InvalidArgument(f"labels[{i}] is a {type(y).__name__}; each label is one category name")
        name, kind = _label_name(y, i)
        if name == "":  # (the core said "label 3 is empty")
            raise InvalidArgument(f"labels[{i}] is an empty string; drop that example or give it a category")
        seen = first.setdefault(name, y)
        if seen is not y and not seen == y:  # 1 and np.int64(1) are one category; 1 and "1" are not
            raise InvalidArgument(f"labels {seen!r} and {y!r} (at labels[{i}]) are different values with the same "
                                  f"category name {name!r}; make the labels one type")
        try:
            other = name_of_value.setdefault(y, name)
        except TypeError:  # an unhashable label: its name alone identifies it
            other = name
        if other != name:
            raise InvalidArgument(f"labels {first[other]!r} and {y!r} (at labels[{i}]) are equal values with "
                                  f"different category names {other!r} and {name!r}; make the labels one type")
        names.append(name)
        if kind != "str":
            kinds[name] = kind
    return names, kinds


_ENCODE_OPTIONS = {"convert_to_numpy": True, "normalize_embeddings": True, "show_progress_bar": False}
"""What a sentence-transformers backend's ``encode`` is called with."""


def _backend_vectors(out: Any) -> np.ndarray:
    """A backend's answer as float32, or InvalidArgument saying what it returned instead."""
    if out is None or isinstance(out, numbers.Number):
        # np.asarray(None) became a 0-d array of NaN, reported as "backend returned shape (1,)".
        raise InvalidArgument(f"the backend returned {'None' if out is None else 'one ' + type(out).__name__}, not "
                              "an array [n_texts, dim] (one vector of numbers per text; did it forget to return?)")
    try:
        wide = np.asarray(out)
        if wide.dtype.kind == "f" and wide.dtype.itemsize > 4 and wide.size:
            big = np.abs(wide[np.isfinite(wide)])
            if big.size and big.max() > np.finfo(np.float32).max:
                raise InvalidArgument(f"the backend returned values up to {big.max():.3g}, beyond float32's range "
                                      f"({np.finfo(np.float32).max:.3g}), in which the index keeps its vectors: "
                                      "scale or normalize them")
        return np.asarray(wide, dtype=np.float32)
    except (TypeError, ValueError) as e:  # strings, ragged rows, objects
        got = f"an array of dtype {out.dtype}" if hasattr(out, "dtype") else f"a {type(out).__name__}"
        raise InvalidArgument(f"the backend returned {got}, not numbers: a backend returns one vector of numbers "
                              f"per text, an array [n_texts, dim] ({type(e).__name__}: {e})") from None


def _backend_fn(backend: Any) -> Callable[[list[str]], np.ndarray]:
    if isinstance(backend, StaticEmbedding):  # its encode() is the tokenizer's, one text at a time
        return backend.embed
    if hasattr(backend, "encode"):  # sentence-transformers
        try:
            params: Mapping[str, inspect.Parameter] | None = inspect.signature(backend.encode).parameters
        except (TypeError, ValueError):  # a builtin without a signature: called as it is
            params = None
        if params is not None and not any(q.kind is q.VAR_KEYWORD for q in params.values()):
            missing = [k for k in _ENCODE_OPTIONS if k not in params]
            if missing:
                raise InvalidArgument(f"backend.encode takes no keyword argument(s) {missing}: a backend with .encode "
                                      "is called as sentence-transformers' encode(texts, convert_to_numpy=True, "
                                      "normalize_embeddings=True, show_progress_bar=False); pass a callable "
                                      "instead, e.g. backend=lambda texts: model.encode(texts)")
        return lambda texts: _backend_vectors(backend.encode(texts, **_ENCODE_OPTIONS))
    if callable(backend):
        return lambda texts: _backend_vectors(backend(texts))
    raise InvalidArgument("backend must be a callable returning vectors or an object with .encode (sentence-transformers)")


_EMPTY_I64 = np.empty(0, np.int64)
_EMPTY_U32 = np.empty(0, np.uint32)
_EMPTY_F32 = np.empty(0, np.float32)


CALIBRATION_HELD_OUT = 1500
"""Calibration scores the folds in order until at least this many held-out in-scope examples are
collected (all ``folds`` on small data; on 15,000 examples one fold already holds out ~3,300):
a temperature and a threshold need a few thousand held-out scores, not a refit per fold."""


MIN_CALIBRATION_COVERAGE = 0.2
"""A calibrated threshold that answers fewer than this share of the held-out in-scope examples
(abstains on more than 80 % of them) is kept but warned about (``UserWarning``): at
``target_precision=0.95`` on 10 examples per Banking77 intent it answered 5 % of them.
:attr:`CategoryIndex.calibration` records the share as ``in_scope_coverage``."""


MIN_CALIBRATION_HELD_OUT = 20
"""Fewer held-out in-scope examples than this (a fit on a few examples per category) leave the
index uncalibrated (:attr:`CategoryIndex.calibration` says so): ``abstain=True`` then asks for a
threshold, and :meth:`CategoryIndex.predict_proba` is the raw model's."""


_TOP_K_BLOCK = 1 << 22  # score cells ranked at once by top_k_batch


def _top_k_order(p: np.ndarray, kk: int) -> np.ndarray:
    """``np.argsort(-p, axis=1, kind="stable")[:, :kk]`` (best first, ties to the lower column),
    a block of rows at a time, each row partitioned before the k best are sorted: the full sort of
    every row took 15 s and 3 GB for 20,000 texts x 10,000 categories at k = 5."""
    n, c = p.shape
    out = np.empty((n, kk), dtype=np.int64)
    step = max(1, _TOP_K_BLOCK // max(1, c))
    for a in range(0, n, step):
        neg = -p[a:a + step]
        if kk * 4 >= c or not np.isfinite(neg).all():  # a small catalog, or skipped (NaN) rows
            out[a:a + step] = np.argsort(neg, axis=1, kind="stable")[:, :kk]
            continue
        kth = np.partition(neg, kk - 1, axis=1)[:, kk - 1:kk]
        better, tied = neg < kth, neg == kth
        # the tied columns that make up k, lowest first (a stable sort's choice)
        keep = better | (tied & (np.cumsum(tied, axis=1, dtype=np.int32) <= kk - better.sum(axis=1, keepdims=True)))
        cols = np.nonzero(keep)[1].reshape(len(neg), kk)
        inner = np.argsort(np.take_along_axis(neg, cols, axis=1), axis=1, kind="stable")
        out[a:a + step] = np.take_along_axis(cols, inner, axis=1)
    return out


def _output_fits(n_texts: int, n_categories: int) -> None:
    """InvalidArgument before scoring a batch whose texts x categories float32 scores (held twice
    on the way out) exceed this machine's RAM: the core's zero-filled output touched every page (a
    bare std::bad_alloc after embedding every text, or the process killed)."""
    need = 2 * 4 * n_texts * n_categories
    ram = _system.physical_memory()
    if ram and need > ram:
        raise InvalidArgument(f"{n_texts:,} texts x {n_categories:,} categories of scores need about "
                              f"{need / 2**30:,.0f} GB, more than this machine's {ram / 2**30:,.0f} GB: score the "
                              "texts in batches (or use top_k_batch on a batch)")


def _warn(message: str) -> None:
    """A ``UserWarning`` from a fit, attributed to the caller's ``fit(...)`` line."""
    warnings.warn(message, UserWarning, stacklevel=outside_tagger())


def _check_oos_texts(oos: list[str], texts: list[str]) -> list[str] | None:
    """The ``oos_texts`` a calibration uses: None (held-out category groups) for an empty list,
    with a warning, as it is likely an empty file or filter; a warning when some are also
    training texts (an out-of-scope text is one of no category: likely the wrong column)."""
    if not oos:
        _warn("oos_texts is empty: calibrating on held-out category groups as with oos_texts=None (pass None "
              "to say so, or give out-of-scope texts)")
        return None
    # A blank out-of-scope text scores the class prior, which pulled the threshold down (to 0.09
    # with ["", "   "]); training refuses blank texts the same way.
    blank = next((i for i, t in enumerate(oos) if not t.strip()), None)
    if blank is not None:
        raise InvalidArgument(f"oos_texts[{blank}] is empty ({oos[blank]!r}): an out-of-scope example needs a text")
    train = set(texts)
    shared = [t for t in oos if t in train]
    if shared:
        _warn(f"{len(shared)} of the {len(oos)} oos_texts are also training texts (e.g. {shared[0][:60]!r}): "
              "out-of-scope texts belong to no category; is oos_texts the wrong column?")
    return oos


@dataclass(frozen=True)
class _FoldJob:
    train: np.ndarray      # example rows the fold model trains on
    in_eval: np.ndarray    # held-out examples of categories it trains on
    oos_eval: np.ndarray   # held-out examples of its held-out category group (out-of-scope)
    hold_classes: bool


def _fold_jobs(labels: list[str], have_oos: bool, folds: int, seed: int) -> list[_FoldJob]:
    """The calibration folds (see :meth:`CategoryIndex.fit`): stratified example folds (each
    category's examples dealt round-robin from a random start) and, when there are enough
    categories and no OOS texts, held-out category groups; the first folds that hold out
    :data:`CALIBRATION_HELD_OUT` in-scope examples."""
    y = np.array(labels, dtype=object)  # a '<U' array drops trailing NULs: "A" and "A\x00" became one
    cats, y_code = np.unique(y, return_inverse=True)
    n, n_cat = len(y), len(cats)
    if n_cat and np.bincount(y_code).max() < 2:
        # A held-out example is scored only when its category is also in the fold's training
        # part: with one example per category none is, and each fold model trained for nothing
        # (23 s of a 10,000-category fit, to skip the calibration after).
        return []
    rng = np.random.default_rng(seed)
    fold = np.empty(n, dtype=np.int64)
    for c in range(n_cat):
        members = np.flatnonzero(y_code == c)
        fold[members] = (rng.permutation(len(members)) + rng.integers(folds)) % folds
    hold_classes = not have_oos and n_cat >= 2 * folds
    group = rng.permutation(n_cat)[y_code] % folds if hold_classes else np.full(n, -1)
    jobs: list[_FoldJob] = []
    held = 0
    # Only the folds that hold a text, in order: the same jobs as range(folds), whose empty folds
    # are skipped below anyway (folds=2**40 on 120 texts looped over them for months).
    for k in np.unique(fold).tolist():
        train = np.flatnonzero((fold != k) & (group != k))
        in_eval = np.flatnonzero((fold == k) & (group != k))
        oos_eval = np.flatnonzero((fold == k) & (group == k))
        if len(np.unique(y_code[train])) < 2 or len(in_eval) == 0:
            continue
        jobs.append(_FoldJob(train, in_eval, oos_eval, hold_classes))
        held += len(in_eval)
        if held >= CALIBRATION_HELD_OUT:
            break
    return jobs


def _fold_result(y: np.ndarray, job: _FoldJob, fcats: np.ndarray,
                 proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log p of the in-scope held-out examples whose category the fold model knows, their true
    category's column, log p of the out-of-scope ones) from a fold model's probabilities of
    ``in_eval`` then ``oos_eval``."""
    n_in = len(job.in_eval)
    p_in, p_oos = proba[:n_in], proba[n_in:]
    known = np.isin(y[job.in_eval], fcats)  # a category with all its examples in this fold
    logp = np.log(np.maximum(p_in[known], 1e-30))
    truth = np.searchsorted(fcats, y[job.in_eval][known])
    return logp, truth, np.log(np.maximum(p_oos, 1e-30))


_P = ParamSpec("_P")


class _fit_in_place_or_new(Generic[_P]):
    """``CategoryIndex.fit(...)`` builds and returns a new fitted index (a classmethod);
    ``idx.fit(...)`` fits ``idx`` in place and returns it, as scikit-learn users expect
    (before, the fitted index was returned and ``idx`` stayed unfitted)."""

    def __init__(self, build: Callable[Concatenate[type[CategoryIndex], _P], CategoryIndex]) -> None:
        self._build = build
        self.__doc__ = build.__doc__
        self.__wrapped__ = build

    def __get__(self, obj: CategoryIndex | None, owner: type[CategoryIndex]) -> Callable[_P, CategoryIndex]:
        build = self._build
        if obj is None:
            @functools.wraps(build)
            def new(*args: _P.args, **kwargs: _P.kwargs) -> CategoryIndex:
                return build(owner, *args, **kwargs)
            return new
        target = obj

        @functools.wraps(build)
        def in_place(*args: _P.args, **kwargs: _P.kwargs) -> CategoryIndex:
            target._replace_fit(build(type(target), *args, **kwargs))
            return target
        return in_place


class _AbstainState(NamedTuple):
    """What predict(abstain=True) reads, taken in a query's snapshot."""
    threshold: float | None
    calibration: dict[str, Any]
    catalog: bool  # a catalog index (default, from_catalog): never calibrated


class CategoryIndex:
    r"""Scores texts against named categories.

    Representation :math:`x` = :class:`Embedder` vector (or, with ``backend=``, the vector any
    embedding model returns), model :math:`p(c\mid x) = \mathrm{softmax}(Wx + b)_c`: multinomial
    logistic regression trained in C++ by AdaGrad on the cross-entropy. ``top_k`` scores are these
    posterior probabilities — in [0, 1], summing to 1 over categories — temperature-scaled,
    softmax(z / T), with T fitted on held-out folds by ``fit(calibrate=True)`` (the default);
    docs/matching.md reports the measured expected calibration error. ``predict(texts,
    abstain=True)`` answers None ("none of these") below the calibrated :attr:`threshold`.
    Every ``str`` is answered; texts that carry little signal are flagged (:class:`Predictions`).

    - ``CategoryIndex.default()`` — the shipped :class:`Catalog` (zero-shot for the user: each
      category's id words, description and example phrasings are its training texts).
    - ``CategoryIndex.from_catalog(catalog)`` — your own or an extended catalog.
    - ``CategoryIndex.fit(texts, labels)`` — few-shot from labeled examples.

    >>> idx = CategoryIndex.default()
    >>> best, score = idx.top_k("Transcribe these podcast recordings into text", k=1)[0]
    >>> best
    'audio/transcription'
    """

    _default: CategoryIndex | None = None
    _default_lock = threading.Lock()
    # Held only while a query takes its snapshot of the fitted state or an
    # in-place fit replaces it, so a query never mixes two fits.
    _state_lock = threading.Lock()

    def __init__(self, *, _core: Any = None, _backend: Any = None, _model: Any = None,
                 _categories: list[str] | None = None, _source: str = "") -> None:
        self._core = _core
        self._backend = _backend
        self._model = _model
        self._categories = list(_core.categories()) if _core is not None else list(_categories or [])
        self._source = _source
        self._temperature = 1.0
        self._zero_shot: Any = None
        self._dense: StaticEmbedding | None = None  # the table a fit used (recorded for save)
        # Labels that are not str (LABEL_KINDS) come back in their type: the core's categories
        # are names ("0", "1", "10", ...) in text order; numbers come back in numeric order.
        self._label_kinds: dict[str, str] = {}  # core name -> kind, for the categories not str
        self._label_values: list[Any] = []  # the label of each core column
        self._label_order: np.ndarray | None = None  # core column of each output column
        self._build: dict[str, Any] | None = None   # from_catalog's settings (a saved catalog index is rebuilt)
        self.catalog: Catalog | None = None
        self._threshold: float | None = None
        self.calibration: dict[str, Any] = {}
        """What the calibration measured (temperature, threshold, held-out counts)."""

    @property
    def threshold(self) -> float | None:
        """Abstention threshold on the top probability (``predict(abstain=True)``); None until
        calibrated by ``fit(calibrate=True)``; settable to a probability in [0, 1] or None."""
        return self._threshold

    @threshold.setter
    def threshold(self, value: float | None) -> None:
        if value is not None:
            # (NaN turned abstention off silently, inf broke save(), "0.5" broke repr)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
                    or not 0.0 <= float(value) <= 1.0:
                raise InvalidArgument(f"threshold must be a probability in [0, 1] or None, got {value!r}")
            value = float(value)
        if self is CategoryIndex._default:
            raise InvalidArgument("CategoryIndex.default() is shared by the whole process: set a threshold on "
                                  "a copy (copy.copy(CategoryIndex.default())) or pass abstain=<probability>")
        with self._state_lock:
            self._threshold = value

    # -- construction

    @classmethod
    def default(cls) -> CategoryIndex:
        """The index over the shipped catalog (built once per process, then shared)."""
        with cls._default_lock:
            if cls._default is None:
                cls._default = cls.from_catalog(Catalog.default())
            return cls._default

    @classmethod
    def from_catalog(cls, catalog: Catalog | Iterable[Category | dict], *, tokenizer: Tokenizer | None = None,
                     epochs: int = 5, learning_rate: float = 0.5, l2: float = 1e-4, seed: int = 0,
                     threads: int = 0, dense: bool | StaticEmbedding | None = True, dense_weight: float = DENSE_WEIGHT,
                     zero_shot: bool = True, **embedder_options: Any) -> CategoryIndex:
        """Zero-shot index over ``catalog``. ``dense``: append the :class:`StaticEmbedding` vector
        (times ``dense_weight``) to the sparse features (docs/matching.md, "Dense features").

        ``zero_shot=True`` (the default, with ``dense``): scores come from token alignment and
        dense similarity to the catalog texts (docs/matching.md, "Zero-shot catalog matching")
        instead of the classifier trained on them; ``False`` gives the classifier's."""
        cat = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        if len(cat) == 0:
            raise InvalidArgument("the category catalog is empty")
        embedder_options = _embedder_options("CategoryIndex.from_catalog", embedder_options)
        cfg = _m.IndexConfig()
        cfg.embedder = _embedder_config(**embedder_options)
        cfg.train = _train_config(epochs, learning_rate, l2, seed, threads)
        cfg.dense, cfg.dense_weight = _dense(dense), _dense_weight(dense_weight)
        # ~6 texts per category in 5 epochs: every small step counts (a larger skip threshold
        # measured 0.255 instead of 0.29 top-1 on held-out phrasings).
        cfg.train.skip_grad = 1e-5
        tok = _tokenizer(tokenizer)
        core = _m.CategoryIndex.from_catalog([(c.id, c.description, list(c.examples)) for c in cat], tok._core, cfg)
        idx = cls(_core=core, _source="catalog")
        idx.catalog = cat
        idx._build = {"tokenizer": tok.serialized_model(), "dense": _dense_table(dense), "epochs": int(epochs),
                      "learning_rate": float(learning_rate), "l2": float(l2), "seed": int(seed),
                      "dense_weight": _dense_weight(dense_weight), "zero_shot": bool(zero_shot), **embedder_options}
        if zero_shot and dense is not None and dense is not False:
            emb = StaticEmbedding.default() if dense is True else dense
            order = {c: k for k, c in enumerate(idx._categories)}
            texts, labels = [], []
            for c in cat:  # the texts the classifier trains on (category_index.cc, from_catalog)
                for t in [re.sub(r"[/_-]", " ", c.id), c.description, *c.examples]:
                    if t.strip():
                        texts.append(t)
                        labels.append(order[c.id])
            idx._zero_shot = _m.ZeroShotScorer.build(emb._core, texts, labels, len(order), _zero_shot_config(),
                                                     threads)
            idx._source = "catalog, zero-shot"
        return idx

    @_fit_in_place_or_new
    def fit(cls: type[CategoryIndex], /, texts: Iterable[str], labels: Iterable[Any], *, backend: Any = None,
            tokenizer: Tokenizer | None = None, epochs: int = 6, learning_rate: float = 0.1, l2: float = 1e-6,
            seed: int = 0, threads: int = 0, dense: bool | StaticEmbedding | None = True, dense_weight: float = DENSE_WEIGHT,
            calibrate: bool = True, oos_texts: Iterable[str] | None = None,
            target_precision: float = 0.9, folds: int = 3, on_invalid: str = "raise",
            oos_share: float | None = None, **embedder_options: Any) -> CategoryIndex:
        """Few-shot index from labeled examples. Labels are category names (``str``) or ints,
        floats, bools or bytes (numpy's too), which predictions give back in their own type
        (:data:`LABEL_KINDS`); other types are refused.

        ``dense``: append the :class:`StaticEmbedding` vector (times ``dense_weight``) to the
        sparse features (default on; ``False`` for the sparse model alone).

        ``backend``: a sentence-transformers model, or any callable ``texts -> array [n, d]``,
        replaces the built-in :class:`Embedder`; the classifier is the same C++ model.

        ``calibrate=True`` (default) also fits, on ``folds`` held-out folds of the examples
        (docs/matching.md, "Calibration and out-of-scope"; the folds are scored until
        :data:`CALIBRATION_HELD_OUT` examples are held out, so large data needs one fold model,
        which trains beside the full model):

        - a temperature :math:`T` so that :meth:`predict_proba` = softmax(z / T) is calibrated
          (minimum held-out cross-entropy; :attr:`temperature`);
        - the abstention threshold :attr:`threshold` on the top probability: the lowest one at
          which the answers given keep ``target_precision`` on held-out examples mixed with
          out-of-scope texts — ``oos_texts`` when given, else the examples of a held-out
          group of categories in each fold (1/``folds`` of them: a category the model never
          saw is exactly an out-of-scope request).

        A ``UserWarning`` says when the calibration falls short: no cut reaches
        ``target_precision`` (the best one is used), the threshold answers fewer than
        :data:`MIN_CALIBRATION_COVERAGE` of the held-out in-scope texts, the temperature ends at
        the upper end of its range, or ``oos_texts`` are also training texts; ``oos_texts=[]``
        calibrates as None does (with a warning). :attr:`calibration` records ``target_met``,
        ``precision`` and ``in_scope_coverage``.

        ``oos_share``: the share of out-of-scope texts you expect among the queries (e.g. 0.1);
        the calibration weighs its out-of-scope texts to make up that share of the mix. By
        default they weigh as sampled (about a third with held-out categories), which makes
        ``abstain=True`` give up on many in-scope texts to keep the precision target.

        ``on_invalid="skip"`` drops examples whose text is not a str (or is empty) instead of
        raising; it applies to ``texts`` only (``oos_texts`` must all be str).

        ``CategoryIndex.fit(...)`` returns a new fitted index; ``idx.fit(...)`` on an index
        fits that index in place and returns it (as scikit-learn estimators do; it has no
        ``get_params``, so scikit-learn's ``clone`` and ``Pipeline`` do not take it). Queries running in other
        threads meanwhile finish on the previous fit. The shared :meth:`default` index cannot be
        refitted in place.
        """
        texts_l, bad = _texts_lenient(texts, on_invalid, skip_hint=_FIT_SKIP_HINT)
        labels_in = _text_list(labels, "labels", "a sequence with one label per text", "label")
        if len(texts_l) != len(labels_in):
            raise InvalidArgument(f"fit got {len(texts_l)} texts and {len(labels_in)} labels")
        keep: list[int] | None = None
        if on_invalid == "skip":
            # Examples without a text go before their labels are checked: a blank CSV row is a
            # NaN text with a NaN label, and its label is not the caller's to fix.
            keep = [i for i, t in enumerate(texts_l) if not bad[i] and t.strip()]
            texts_l = [texts_l[i] for i in keep]
        elif backend is None:
            # (the core refused it as "text 500 is empty", naming neither texts[500] nor the option)
            # Any Unicode white space, as on_invalid="skip" drops (a category trained on '\xa0' and
            # '\u3000' alone passed in this mode only).
            blank = next((i for i, t in enumerate(texts_l) if not t.strip()), None)
            if blank is not None:
                raise InvalidArgument(f"texts[{blank}] is empty ({texts_l[blank]!r}): an example needs a text "
                                      f"({_FIT_SKIP_HINT})")
        labels_l, label_kinds = _category_names(labels_in, keep)
        if isinstance(target_precision, bool) or not isinstance(target_precision, numbers.Real) \
                or not 0.0 < float(target_precision) <= 1.0:
            raise InvalidArgument(f"target_precision must be a number in (0, 1], got {target_precision!r}")
        embedder_options = _embedder_options("CategoryIndex.fit", embedder_options)
        if oos_share is not None and (isinstance(oos_share, (bool, np.bool_)) or not isinstance(oos_share, numbers.Real)
                                      or not 0.0 < float(oos_share) < 1.0):
            raise InvalidArgument(f"oos_share must be a number in (0, 1) or None, got {oos_share!r}")
        share = None if oos_share is None else float(oos_share)
        if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or not 2 <= folds <= 2**62:
            raise InvalidArgument(f"folds must be an int in [2, 2**62], got {folds!r}")
        if not isinstance(calibrate, (bool, np.bool_)):  # "no" calibrated, as any non-empty string is true
            raise InvalidArgument(f"calibrate must be True or False, got {calibrate!r}")
        if not calibrate:
            # Accepted and ignored before: a user who set target_precision=0.99 got no threshold.
            some_oos = oos_texts is not None and not (hasattr(oos_texts, "__len__") and len(oos_texts) == 0)
            unused = [name for name, given in (("oos_texts", some_oos),
                                               ("target_precision", target_precision != 0.9), ("folds", folds != 3),
                                               ("oos_share", oos_share is not None)) if given]
            if unused:
                raise InvalidArgument(f"{', '.join(unused)} set(s) the calibration, which calibrate=False turns off: "
                                      "they would change nothing; drop them, or calibrate")
        if backend is not None:
            # Options of the built-in features, which a backend replaces: they were accepted and
            # did nothing.
            unused = [name for name, given in (("tokenizer", tokenizer is not None), ("dense", dense is not True),
                                               ("dense_weight", dense_weight != DENSE_WEIGHT))
                      if given] + sorted(embedder_options)
            if unused:
                raise InvalidArgument(f"{', '.join(unused)} set(s) the built-in features, which backend= replaces: "
                                      "they would change nothing; drop them, or drop backend=")

        oos = _texts(oos_texts, "oos_texts") if oos_texts is not None else None
        if calibrate and oos is not None:
            oos = _check_oos_texts(oos, texts_l)
        train = _train_config(epochs, learning_rate, l2, seed, threads)
        if backend is None:
            cfg = _m.IndexConfig()
            cfg.embedder = _embedder_config(**embedder_options)
            cfg.train = train
            cfg.require_latin = tokenizer is None
            cfg.dense, cfg.dense_weight = _dense(dense), _dense_weight(dense_weight)
            tok = _tokenizer(tokenizer)._core
            jobs = _fold_jobs(labels_l, oos is not None, int(folds), int(seed)) if calibrate else []
            # One C++ call fits the index and the fold models: the texts are featurized once
            # and the models train side by side (docs/matching.md, "Calibration").
            try:
                core, scored = _m.CategoryIndex.fit_with_folds(
                    texts_l, labels_l, tok, cfg,
                    [(j.train.tolist(), np.concatenate([j.in_eval, j.oos_eval]).tolist()) for j in jobs])
            except MemoryError as e:  # the core's bare std::bad_alloc
                raise MemoryError(
                    f"CategoryIndex.fit ran out of memory on {len(texts_l):,} texts and {len(set(labels_l)):,} "
                    f"categories ({e}): training keeps two floats per (feature, category) for the model and "
                    f"{len(jobs)} calibration fold model(s); fewer categories, calibrate=False, dense=False or a "
                    "smaller hash_bits need less") from None
            idx_ = cls(_core=core, _source="fit")
            idx_._dense = _dense_table(dense)
            idx_._use_label_kinds(label_kinds)
            idx_._require_finite(texts_l, learning_rate, l2)
            if calibrate:
                results = [_fold_result(np.array(labels_l, dtype=object), j, np.array(c, dtype=object), p) for j, (c, p) in zip(jobs, scored)]
                idx_._apply_calibration(results, jobs, oos, float(target_precision), int(folds), len(labels_l), share)
            return idx_
        else:
            if not texts_l:
                raise InvalidArgument("fit needs at least one labeled example")
            embed = _backend_fn(backend)
            cats_all = sorted(set(labels_l))
            if len(cats_all) < 2:
                raise InvalidArgument("fit needs examples of at least 2 categories")
            x = np.ascontiguousarray(embed(texts_l), dtype=np.float32)
            if x.ndim != 2 or x.shape[0] != len(texts_l):
                raise InvalidArgument(f"backend returned shape {x.shape} for {len(texts_l)} texts")
            _finite_rows(x, list(range(len(texts_l))), texts_l)
            labels_a = np.array(labels_l, dtype=object)  # (not '<U': it drops trailing NULs)

            def dense_fit(rows: np.ndarray) -> tuple[Any, list[str]]:
                cats = sorted(set(labels_a[rows].tolist()))
                pos = {c: i for i, c in enumerate(cats)}
                xr = np.ascontiguousarray(x[rows])
                y = np.array([pos[v] for v in labels_a[rows].tolist()], dtype=np.int32)
                return _m.LinearModel.fit(_EMPTY_I64, _EMPTY_U32, _EMPTY_F32, xr, xr.shape[0], xr.shape[1], y,
                                          len(cats), train), cats

            model, cats = dense_fit(np.arange(len(texts_l)))
            idx_ = cls(_backend=embed, _model=model, _categories=cats,
                       _source=f"fit, backend={type(backend).__name__}")
            idx_._use_label_kinds(label_kinds)
            idx_._require_finite(texts_l, learning_rate, l2)
            if calibrate:
                from concurrent.futures import ThreadPoolExecutor

                jobs = _fold_jobs(labels_l, oos is not None, int(folds), int(seed))
                y_all = np.array(labels_l, dtype=object)

                def run(j: _FoldJob) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
                    fold_model, fold_cats = dense_fit(j.train)
                    xe = np.ascontiguousarray(x[np.concatenate([j.in_eval, j.oos_eval])], np.float32)
                    p = fold_model.predict_proba(_EMPTY_I64, _EMPTY_U32, _EMPTY_F32, xe, xe.shape[0], xe.shape[1],
                                                 threads)
                    return _fold_result(y_all, j, np.array(fold_cats, dtype=object), p)

                # Folds train independently (the GIL is released in C++); results are collected
                # in fold order, so the calibration is the same for any thread count.
                with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), 4))) as ex:
                    results = list(ex.map(run, jobs))
                idx_._apply_calibration(results, jobs, oos, float(target_precision), int(folds), len(labels_l), share)
        return idx_

    def _apply_calibration(self, results: list[tuple[np.ndarray, np.ndarray, np.ndarray]], jobs: list[_FoldJob],
                           oos: list[str] | None, target: float, folds: int, n_examples: int,
                           oos_share: float | None = None) -> None:
        """Temperature and abstention threshold from the folds' out-of-fold predictions (see
        :meth:`fit`)."""
        held_out = sum(len(r[0]) for r in results)
        if held_out < MIN_CALIBRATION_HELD_OUT:
            # A temperature fitted on a handful of scores runs to the end of its search range
            # (T = 1/20 on one example) and the threshold to 1.0: an index that abstains on
            # everything. The raw model stays uncalibrated and says why.
            self.calibration = {"skipped": f"only {held_out} held-out example(s) of known categories; calibration "
                                           f"needs at least {MIN_CALIBRATION_HELD_OUT} (about "
                                           f"{MIN_CALIBRATION_HELD_OUT * folds // max(1, folds - 1)} labeled "
                                           "examples)", "held_out_in_scope": held_out}
            return
        hold_classes = jobs[0].hold_classes
        t = _fit_temperature([r[0] for r in results], [r[1] for r in results])
        bound = "lower" if t <= _T_MIN * 1.01 else "upper" if t >= _T_MAX / 1.01 else None
        if bound == "lower":
            # Every held-out example right with a wide margin: the cross-entropy falls as T -> 0,
            # so T says nothing but "sharper", and at the bound every text (out-of-scope ones too)
            # would score ~1. The raw scores are kept instead.
            t = 1.0
        elif bound == "upper":
            # The held-out predictions are no better than the prior (identical texts with
            # different labels, a backend without information): T -> inf flattens every score to
            # the uniform. Kept (it is the calibrated answer), but said.
            _warn(f"calibration: the temperature reached the upper end of its search range (T = {t:.3g}): the "
                  "held-out predictions are barely better than chance, so every score is flattened towards "
                  "uniform; the examples do not tell the categories apart (more or more distinct examples, or "
                  "another backend)")
        self._set_temperature(t)
        conf_in = np.concatenate([_softmax_max(r[0], t) for r in results])
        correct = np.concatenate([_softmax_argmax(r[0], t) == r[1] for r in results])
        in_weight = 1.0
        if oos is not None:
            conf_oos = self.predict_proba(oos).max(axis=1) if oos else np.empty(0)
            # The out-of-scope texts meet the in-scope examples in the proportion given: each
            # held-out example stands for all the examples when only some folds were scored.
            in_weight = n_examples / max(1, sum(len(j.in_eval) for j in jobs))
        else:
            conf_oos = np.concatenate([_softmax_max(r[2], t) for r in results])
        if oos_share is not None and len(conf_oos) and len(conf_in):
            # The traffic the user expects: out-of-scope texts weigh oos_share of the mix (the
            # held-out category groups alone make it about a third, which costs coverage).
            in_weight = len(conf_oos) / len(conf_in) * (1.0 - oos_share) / oos_share
        tau, precision, met = _precision_cut(conf_in, correct, conf_oos, target, in_weight)
        self.threshold = tau
        coverage = float(np.mean(conf_in >= tau)) if len(conf_in) else 0.0
        if not met:
            hint = ("oos_texts may not be out-of-scope texts (the wrong column?), or " if oos is not None else "")
            _warn(f"calibration: target_precision {target:g} is not reached on the held-out texts (best precision "
                  f"{precision:.3f}, at threshold {tau:.3g}, which is used instead); {hint}lower target_precision")
        if coverage < MIN_CALIBRATION_COVERAGE:
            _warn(f"calibration: the threshold {tau:.3g} abstains on {1.0 - coverage:.0%} of the in-scope held-out "
                  f"texts ({int(np.sum(conf_in >= tau))} of {len(conf_in)} answered) to keep target_precision "
                  f"{target:g}; lower target_precision, or pass oos_share= (the share of out-of-scope queries you "
                  "expect), to answer more")
        self.calibration = {"temperature": t, "temperature_at_bound": bound is not None, "temperature_bound": bound,
                            "threshold": self.threshold, "target_precision": target, "target_met": bool(met),
                            "precision": precision, "in_scope_coverage": coverage,
                            "folds": folds, "folds_scored": len(jobs), "held_out_in_scope": int(len(conf_in)),
                            "held_out_oos": int(len(conf_oos)), "oos_share": oos_share,
                            "oos_source": "oos_texts" if oos is not None else
                            ("held-out categories" if hold_classes else "none")}

    def _shared_copy(self) -> CategoryIndex:
        """A new index on this one's fitted state (the C++ model is shared: queries never change
        it, and an in-place fit of either replaces its own state only)."""
        new = CategoryIndex.__new__(CategoryIndex)
        with self._state_lock:
            new.__dict__.update(self.__dict__)
        new.calibration = dict(self.calibration)
        return new

    def _require_finite(self, texts: list[str], learning_rate: float, l2: float) -> None:
        """InvalidArgument when the weights left float32's range (learning_rate=1e38 or l2=1e39
        passed the finite-number checks and every probability came out NaN: predict answered
        the first category with score NaN and never abstained)."""
        sample = texts[:: max(1, len(texts) // 64)][:64]
        if sample and not np.isfinite(self.predict_proba(sample, threads=1)).all():
            raise InvalidArgument(f"the fit diverged (weights out of float range) with learning_rate={learning_rate!r}, "
                                  f"l2={l2!r}: use smaller values")

    def _set_temperature(self, t: float) -> None:
        if self._core is not None:
            self._core.set_temperature(float(t))
        self._temperature = float(t)

    @property
    def temperature(self) -> float:
        """The calibration temperature T of every score, softmax(z / T); 1 = uncalibrated."""
        return self._temperature

    # -- queries

    @property
    def categories(self) -> list[Any]:
        """The categories, in the column order of :meth:`predict_proba`: names (str), or the labels
        given to :meth:`fit` in their type (:data:`LABEL_KINDS`; numbers in numeric order)."""
        with self._state_lock:
            return self._output_categories()

    def _output_categories(self) -> list[Any]:
        if not self._label_kinds:
            return list(self._categories)
        order = self._label_order if self._label_order is not None else range(len(self._label_values))
        return [self._label_values[j] for j in order]

    def _use_label_kinds(self, kinds: dict[str, str]) -> None:
        """Categories whose labels were not str come back in their type (``_label_kinds``);
        when all are numbers (int, float, bool), in numeric order."""
        if not kinds:
            return
        unknown = sorted(set(kinds) - set(self._categories))
        if unknown or not set(kinds.values()) <= set(LABEL_KINDS):
            raise ValueError(f"label kinds {kinds!r} do not fit the categories")
        values = [_label_value(c, kinds.get(c)) for c in self._categories]
        self._label_kinds, self._label_values = dict(kinds), values
        numeric = all(kinds.get(c) in ("int", "float", "bool") for c in self._categories)
        self._label_order = (np.array(sorted(range(len(values)), key=values.__getitem__), dtype=np.int64)
                             if numeric else None)

    def _score(self, texts: Any, threads: int, on_invalid: str) -> tuple[np.ndarray, np.ndarray, list[str], _AbstainState]:
        """(probabilities [n, C] with NaN rows for skipped entries, reason codes [n], the C
        categories they refer to, the threshold), all from one fit."""
        with self._state_lock:
            core, zero_shot, backend, model = self._core, self._zero_shot, self._backend, self._model
            # the static table the zero-shot scorer reads (its tokens are the scorer's features)
            zs_table = self._build.get("dense") if zero_shot is not None and self._build is not None else None
            temperature, categories = self._temperature, self._output_categories()
            label_order = self._label_order if self._label_kinds else None
            # predict's abstention reads this fit's threshold (it was read after, outside the
            # snapshot: an in-place refit in between mixed two fits)
            state = _AbstainState(self._threshold, self.calibration, self._build is not None or self is CategoryIndex._default)
        threads = _threads(threads)
        if core is None and backend is None:
            raise NotFitted("this CategoryIndex is not fitted: fit it with idx.fit(texts, labels) (or use "
                            "idx = CategoryIndex.fit(texts, labels)), or take CategoryIndex.default() / "
                            "CategoryIndex.from_catalog(catalog)")
        tl, bad = _texts_lenient(texts, on_invalid)
        _output_fits(len(tl), len(categories))
        if core is not None:
            p, codes = core.predict_proba(tl, threads)
            if zero_shot is not None:
                p = zero_shot.predict_proba(tl, temperature, threads)
        else:
            codes = _m.text_signals(tl, False)  # the backend model may read any script
            # The backend gets every text; only skipped (non-str) entries are left out of the call.
            ok = np.flatnonzero(~bad)
            p = np.full((len(tl), len(categories)), np.nan, np.float32)
            if len(ok):
                x = np.ascontiguousarray(backend([tl[i] for i in ok]), dtype=np.float32)
                if x.ndim != 2 or x.shape[0] != len(ok):
                    raise InvalidArgument(f"backend returned shape {x.shape} for {len(ok)} texts")
                _finite_rows(x, [int(i) for i in ok], tl)
                p[ok] = model.predict_proba(_EMPTY_I64, _EMPTY_U32, _EMPTY_F32, x, x.shape[0], x.shape[1],
                                            threads, temperature)
        codes = np.asarray(codes, dtype=np.uint8).copy()
        if zs_table is not None:
            # The zero-shot scorer answers a text without a token of its table (a long "word", a
            # base64 blob) with the uniform distribution; the core's signal saw its character
            # n-grams and called it ordinary. Its sentence vector is then all zeros.
            ok = np.flatnonzero((codes == 0) & ~bad)
            if len(ok):
                v = zs_table._core.embed_batch([tl[i] for i in ok], threads)
                codes[ok[~np.asarray(v).any(axis=1)]] = _UNSEEN
        if label_order is not None:
            p = np.ascontiguousarray(p[:, label_order])
        if bad.any():
            p = np.array(p, dtype=np.float32, copy=True)
            p[bad] = np.nan
            codes[bad] = _INVALID
        return p, codes, categories, state

    def _replace_fit(self, fitted: CategoryIndex) -> None:
        """Takes the fitted state of ``fitted`` (an in-place ``fit``)."""
        if self is CategoryIndex._default:
            raise InvalidArgument("CategoryIndex.default() is shared by the whole process and cannot be refitted "
                                  "in place; CategoryIndex.fit(texts, labels) returns a new index")
        with self._state_lock:
            self.__dict__.update(fitted.__dict__)

    def predict_proba(self, texts: Iterable[str], threads: int = 0, *, on_invalid: str = "raise") -> np.ndarray:
        """[n_texts, n_categories] probabilities (columns in :attr:`categories` order),
        temperature-calibrated when the index was fitted with ``calibrate=True``.

        Every ``str`` gets a row, whatever it holds (see :meth:`predict` for how odd texts are
        answered); with ``on_invalid="skip"`` a non-str entry gets a row of NaN instead of an
        InvalidArgument naming its position."""
        return self._score(texts, threads, on_invalid)[0]

    def predict(self, texts: Iterable[str], threads: int = 0, *, abstain: bool | float = False,
                abstain_label: Any = None, on_invalid: str = "raise") -> Predictions:
        """The most probable category of each text, as a :class:`Predictions` list (with
        ``scores``, ``abstained``, ``reasons``, ``low_signal`` and ``to_pandas()``).

        Any ``str`` is answered: a text with no letters ("10-4"), an empty one, one in an
        unsupported script or one of words never seen in training is scored on what features it
        has (character n-grams), else gets the class prior, and its ``reasons`` entry says why
        it is low-signal. Non-strings raise InvalidArgument naming the position, or with
        ``on_invalid="skip"`` are answered ``abstain_label`` with reason ``"invalid"``.

        ``abstain=True`` answers ``abstain_label`` (default None: "none of these categories")
        where the top probability is below the calibrated :attr:`threshold`; a float gives the
        threshold directly."""
        self._abstain_threshold(abstain, None)  # a bad abstain fails before the work
        p, codes, categories, state = self._score(texts, threads, on_invalid)
        skipped = codes == _INVALID
        n = len(codes)
        best = np.where(skipped[:, None], 0.0, p).argmax(axis=1) if n else np.zeros(0, np.int64)
        scores = p[np.arange(n), best].astype(np.float64) if n else np.zeros(0)
        scores[skipped] = np.nan
        tau = self._abstain_threshold(abstain, state)
        below = (scores < tau) if tau is not None else np.zeros(n, dtype=bool)
        abstained = below | skipped
        out = Predictions(abstain_label if abstained[i] else categories[j] for i, j in enumerate(best.tolist()))
        out.scores, out.abstained, out.reasons = scores, abstained, _reasons(codes)
        index = getattr(texts, "index", None)  # a pandas Series' index (list.index is a method)
        out._index = index if hasattr(index, "__len__") else None
        return out

    def predict_frame(self, texts: Iterable[str], threads: int = 0, *, abstain: bool | float = False,
                      abstain_label: Any = None, on_invalid: str = "raise") -> Any:
        """:meth:`predict` as a pandas DataFrame: columns ``label``, ``score``, ``abstained``,
        ``low_signal``, ``reason``; the index of ``texts`` when it is a Series."""
        return self.predict(texts, threads, abstain=abstain, abstain_label=abstain_label,
                            on_invalid=on_invalid).to_pandas()

    def _abstain_threshold(self, abstain: bool | float, state: _AbstainState | None) -> float | None:
        """The threshold ``abstain`` asks for, from ``state`` (a query's snapshot); with None,
        only ``abstain`` itself is checked."""
        if isinstance(abstain, np.bool_):
            abstain = bool(abstain)
        if abstain is False or abstain is None:
            return None
        if not isinstance(abstain, (bool, int, float, np.integer, np.floating)):
            raise InvalidArgument(f"abstain must be True, False or a probability threshold in [0, 1], got {abstain!r}")
        if abstain is True:
            if state is None:
                return None
            if state.threshold is None:
                why = state.calibration.get("skipped") if isinstance(state.calibration, dict) else None
                if why:
                    reason = f"calibration skipped: {why}"
                elif state.catalog:
                    reason = "a catalog index (CategoryIndex.default(), from_catalog) is not calibrated"
                else:
                    reason = "fit it with calibrate=True"
                raise InvalidArgument(f"this index has no calibrated threshold ({reason}); pass abstain=<probability> "
                                      "to set one")
            if isinstance(state.calibration, dict) and state.calibration.get("oos_source") == "none":
                # Documented, but a user asking for abstention expects "none of these" to be caught:
                # with 2-5 categories and no oos_texts, 42-60 % of out-of-scope queries were answered.
                _warn("abstain=True: this index's threshold saw no out-of-scope text (fewer than 2 x folds "
                      "categories and no oos_texts), so it abstains on low-confidence texts only and answers many "
                      "out-of-scope ones; fit with oos_texts= (examples of requests that fit no category)")
            return float(state.threshold)
        tau = float(abstain)
        if not 0.0 <= tau <= 1.0:
            raise InvalidArgument(f"abstain threshold must be in [0, 1], got {abstain!r}")
        return tau

    def top_k_batch(self, texts: Iterable[str], k: int = 5, threads: int = 0, *,
                    on_invalid: str = "raise") -> list[Matches]:
        """:meth:`top_k` of many texts; each answer is a :class:`Matches` list with ``reason``
        (``on_invalid="skip"``: a non-str entry gets an empty answer, reason ``"invalid"``)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 2**31 - 1:
            raise InvalidArgument(f"k must be an int in [1, 2**31 - 1], got {k!r}")
        p, codes, categories, _ = self._score(texts, threads, on_invalid)
        kk = min(int(k), len(categories))
        order = _top_k_order(p, kk)  # ties: category name order
        out = []
        for i, row in enumerate(order):
            mm = Matches([] if codes[i] == _INVALID else [(categories[j], float(p[i, j])) for j in row])
            mm.reason = None if codes[i] == 0 else SIGNALS[codes[i]]
            out.append(mm)
        return out

    def top_k(self, text: str, k: int = 5, *, strict: bool = False) -> Matches:
        """The ``k`` most probable categories of ``text`` with their probabilities, best first,
        as a :class:`Matches` list whose ``reason`` says when the text carries little signal.

        A non-string raises InvalidArgument. ``strict=True`` also raises for an empty or
        letterless text or one in a script the tokenizer does not cover (the check a task
        description gets at publish time) instead of answering it."""
        if isinstance(text, bytes):  # UTF-8 bytes are read as text; strict checks only with strict=True
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InvalidArgument(f"description is not valid UTF-8 (byte {e.start})") from None
        if not isinstance(text, str):
            raise InvalidArgument(f"description must be a str, got {type(text).__name__}")
        _check_utf8(text, "description")
        if strict:
            validate_text(text, "description")
        return self.top_k_batch([text], k, threads=1)[0]

    def __len__(self) -> int:
        return len(self._categories)

    # -- persistence (tagger/_match_io.py)

    def to_bytes(self) -> bytes:
        """The fitted index as bytes (weights, IDF, calibration; never the training texts).
        :meth:`from_bytes` gives back an index whose predictions equal this one's bit for bit.
        An index fitted with a ``backend`` cannot be saved (InvalidArgument)."""
        from . import _match_io

        return _match_io.to_bytes(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> CategoryIndex:
        """The index saved by :meth:`to_bytes`; DecodeError for damaged or foreign bytes."""
        from . import _match_io

        with _reading_saved():
            return _match_io.from_bytes(data)

    def save(self, path: str | Path) -> None:
        """Writes :meth:`to_bytes` to ``path`` atomically (a crash leaves the old file or the new)."""
        from . import _match_io

        _match_io.save(self, path)

    @classmethod
    def load(cls, path: str | Path) -> CategoryIndex:
        """The index :meth:`save` wrote to ``path``."""
        from . import _match_io

        with _reading_saved():
            return _match_io.load(path)

    def __copy__(self) -> CategoryIndex:
        # The fitted model is never changed by a query, and an in-place fit replaces the state
        # rather than editing it: a copy shares it. (copy went through the saved form, which an
        # index fitted with a backend has not: copy.copy and deepcopy raised.)
        return self._shared_copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> CategoryIndex:
        return self._shared_copy()

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle (multiprocessing, Ray, joblib) goes through the saved form; an unfitted index
        # pickles as a new unfitted one (as scikit-learn's estimators do), not as an error.
        with self._state_lock:
            unfitted = self._core is None and self._backend is None
        if unfitted:
            return (CategoryIndex, ())
        return (_index_from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        if self._core is None and self._backend is None:
            return "CategoryIndex(not fitted)"
        cal = f", T={self._temperature:.3g}, threshold={self.threshold:.3g}" if self.threshold is not None else ""
        return f"CategoryIndex({len(self)} categories, {self._source}{cal})"


def _index_from_bytes(data: bytes) -> CategoryIndex:
    return CategoryIndex.from_bytes(data)


def _softmax_max(logp: np.ndarray, t: float) -> np.ndarray:
    z = logp.astype(np.float64) / t
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e.max(axis=1) / e.sum(axis=1) if len(z) else np.zeros(0)


def _softmax_argmax(logp: np.ndarray, t: float) -> np.ndarray:
    return logp.argmax(axis=1) if len(logp) else np.zeros(0, np.int64)


_T_MIN = 1 / 20  # the temperature search range is [1/20, 20]
_T_MAX = 1 / _T_MIN


def _fit_temperature(logps: list[np.ndarray], truths: list[np.ndarray]) -> float:
    """argmin_T of the mean held-out cross-entropy of softmax(log p / T): golden-section search on
    log T in [1/20, 20] (the loss is convex in 1/T). Deterministic (float64, fixed iterations)."""
    rows = [(lp.astype(np.float64), tr) for lp, tr in zip(logps, truths) if len(lp)]
    if not rows:
        return 1.0
    total = sum(len(tr) for _, tr in rows)

    def nll(log_t: float) -> float:
        inv = math.exp(-log_t)
        s = 0.0
        for lp, tr in rows:
            z = lp * inv
            m = z.max(axis=1)
            s += float((m + np.log(np.exp(z - m[:, None]).sum(axis=1)) - z[np.arange(len(tr)), tr]).sum())
        return s / total

    lo, hi = math.log(_T_MIN), math.log(1 / _T_MIN)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(40):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return float(math.exp((lo + hi) / 2))


def _precision_threshold(conf_in: np.ndarray, correct: np.ndarray, conf_oos: np.ndarray, target: float,
                         in_weight: float = 1.0) -> float:
    """The lowest top-probability threshold at which the answers given (score >= threshold) on
    held-out in-scope examples and out-of-scope texts are correct at least ``target`` of the
    time; the threshold of the best precision when none reaches it. ``in_weight``: how many
    in-scope texts each held-out one stands for (when only some folds were scored, so that the mix
    with a fixed set of out-of-scope texts is the one of all the examples)."""
    return _precision_cut(conf_in, correct, conf_oos, target, in_weight)[0]


def _precision_cut(conf_in: np.ndarray, correct: np.ndarray, conf_oos: np.ndarray, target: float,
                   in_weight: float = 1.0) -> tuple[float, float, bool]:
    """(:func:`_precision_threshold`, the precision of the answers at it, whether it reaches
    ``target``)."""
    conf = np.concatenate([conf_in, conf_oos])
    good = np.concatenate([correct.astype(np.float64), np.zeros(len(conf_oos))])
    weight = np.concatenate([np.full(len(conf_in), float(in_weight)), np.ones(len(conf_oos))])
    if not len(conf):
        return 0.0, float("nan"), False
    order = np.argsort(-conf, kind="stable")
    c, g, w = conf[order], good[order] * weight[order], weight[order]
    prec = np.cumsum(g) / np.cumsum(w)
    # Cut only between distinct scores (ties are answered alike).
    last = np.r_[c[1:] != c[:-1], True]
    ok = np.flatnonzero(last & (prec >= target))
    i = int(ok[-1]) if len(ok) else int(np.flatnonzero(last)[np.argmax(prec[last])])
    return float(c[i]), float(prec[i]), bool(len(ok))


# ----------------------------------------------------------------------------- Assignment


@dataclass
class Assignment:
    """Result of :func:`solve_assignment`.

    ``workers``: [n_items, overlap] worker indices, each row ascending, ``-1`` for empty slots
    (last). ``objective``: total suitability. ``shortfall``: slots no assignment can fill
    (= slots - max flow). ``item_shortfall``: per item, for a maximum assignment."""

    workers: np.ndarray
    objective: float
    shortfall: int
    item_shortfall: np.ndarray
    augmentations: int = field(default=0, repr=False)

    @property
    def short_items(self) -> np.ndarray:
        """Positions of the items that got fewer than ``overlap`` workers."""
        return np.flatnonzero(self.item_shortfall)

    def __repr__(self) -> str:
        n, o = self.workers.shape
        return f"Assignment(items={n}, overlap={o}, objective={self.objective:.6g}, shortfall={self.shortfall})"


def _scipy_sparse(x: Any) -> Any:
    """``scipy.sparse`` when ``x`` is one of its matrices, else None. scipy is an
    extra (tagger[sparse]): a sparse input means the caller already imported it,
    so dense inputs never need it."""
    sp = sys.modules.get("scipy.sparse")
    return sp if sp is not None and sp.issparse(x) else None


def _as_csr(suitability: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    sp = _scipy_sparse(suitability)
    if sp is not None:
        # A copy: csr_array() of a CSR shares its arrays, and summing duplicates and sorting the
        # indices rewrote the caller's matrix. (scipy's DIA conversions drop stored zeros: pass
        # allowed pairs of suitability 0 as COO, CSR, LIL or DOK.)
        s = sp.csr_array(suitability, copy=True)
        s.sum_duplicates()
        s.sort_indices()
        if np.iscomplexobj(s.data):
            raise InvalidArgument(f"suitability must be real numbers, got dtype {s.data.dtype}")
        n, m = s.shape
        return (s.indptr.astype(np.int64), s.indices.astype(np.int32), s.data.astype(np.float64, copy=False), n, m)
    try:
        a = np.asarray(suitability)
    except ValueError:  # numpy's "inhomogeneous shape": rows of different lengths
        raise InvalidArgument("suitability must be a 2-D array [n_items, n_workers]; its rows have different "
                              "lengths") from None
    if a.ndim != 2:
        raise InvalidArgument(f"suitability must be a 2-D array [n_items, n_workers], got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise InvalidArgument(f"suitability must be real numbers, got dtype {a.dtype}")
    n, m = a.shape
    data = np.ascontiguousarray(a, dtype=np.float64).ravel()
    indptr = np.arange(0, n * m + 1, m, dtype=np.int64) if m else np.zeros(n + 1, np.int64)
    indices = np.tile(np.arange(m, dtype=np.int32), n)
    return indptr, indices, data, n, m


def _exclude_pairs(exclude: Any, n: int, m: int, suitability: Any = None) -> np.ndarray:
    """``exclude`` (pairs, a boolean mask or a sparse matrix, see :func:`assign`) as an int64
    array [k, 2] of (item, worker) pairs, each checked to lie in [0, n) x [0, m). A DataFrame
    is read by its labels: those of ``suitability`` when it is a DataFrame, else positions."""
    if exclude is None:
        return np.zeros((0, 2), np.int64)
    sp = _scipy_sparse(exclude)
    if sp is not None:
        e = sp.coo_array(exclude)
        if e.shape != (n, m):
            raise InvalidArgument(f"exclude has shape {e.shape}; it needs (items, workers) = {(n, m)}")
        mask = e.data != 0
        return np.stack([e.row[mask], e.col[mask]], axis=1).astype(np.int64).reshape(-1, 2)
    if isinstance(exclude, (str, bytes)):
        raise InvalidArgument("exclude must be (item, worker) pairs, a boolean [n_items, n_workers] mask, "
                              "or a sparse matrix; got a string")
    pd = sys.modules.get("pandas")  # (a frame means the caller imported pandas)
    if pd is not None and isinstance(exclude, pd.DataFrame):  # list(frame) gave its column names
        mask_or_pairs = _exclude_frame(exclude, n, m, suitability, pd)
        if mask_or_pairs.dtype == bool:
            return np.argwhere(mask_or_pairs).astype(np.int64).reshape(-1, 2)
        exclude = mask_or_pairs
    try:
        # A nested list and the array made of it are read alike (only an array was refused as
        # ambiguous, so the same 0/1 rows meant a mask or pairs by container).
        raw = exclude if isinstance(exclude, np.ndarray) else np.asarray(list(exclude))
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"exclude must be (item, worker) pairs of ints: {e}") from None
    if raw.dtype == bool:
        if raw.shape != (n, m):
            raise InvalidArgument(f"boolean exclude mask has shape {raw.shape}; it needs one row per item and one "
                                  f"column per worker: (items, workers) = {(n, m)}")
        return np.argwhere(raw).astype(np.int64).reshape(-1, 2)
    if raw.size == 0:
        return np.zeros((0, 2), np.int64)
    # Pairs are indices: 0.7 must not quietly become item 0, nor 2**70 wrap around.
    if raw.dtype.kind == "f" and not np.all(np.isfinite(raw) & (raw == np.round(raw))):
        raise InvalidArgument("exclude pairs must be whole numbers (item and worker indices)")
    if raw.dtype.kind not in "iuf" or raw.dtype == object:
        raise InvalidArgument(f"exclude pairs must be int indices below n_items / n_workers, got {raw.dtype} values")
    if raw.dtype.kind == "f" and np.any(np.abs(raw) >= 2.0**62):
        raise InvalidArgument("exclude names an item or worker out of range")
    pairs = raw.astype(np.int64)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        hint = (" (a mask of that shape must be boolean: exclude.astype(bool))" if pairs.shape == (n, m) else "")
        raise InvalidArgument(f"exclude must be (item, worker) pairs, a boolean [n_items, n_workers] mask, "
                              f"or a sparse matrix; got {raw.dtype} values of shape {raw.shape}{hint}")
    if m == 2 and pairs.shape == (n, m) and np.isin(pairs, (0, 1)).all():
        # With two workers, 0/1 rows of (items, workers) shape read both as a mask and as pairs.
        as_mask = {tuple(p) for p in np.argwhere(pairs).tolist()}
        if as_mask != {tuple(p) for p in pairs.tolist()}:
            raise InvalidArgument(f"exclude holds only 0 and 1 in the shape (items, workers) = {(n, m)}: as a mask "
                                  "and as (item, worker) pairs it excludes different pairs; pass a boolean mask "
                                  "(exclude.astype(bool)) or a DataFrame with columns 'item' and 'worker'")
    bad = (pairs[:, 0] < 0) | (pairs[:, 0] >= n) | (pairs[:, 1] < 0) | (pairs[:, 1] >= m)
    if bad.any():
        i, j = pairs[int(np.flatnonzero(bad)[0])].tolist()
        raise InvalidArgument(f"exclude pair ({i}, {j}) is out of range: items are 0..{n - 1}, "
                              f"workers 0..{m - 1}")
    return pairs


def _exclude_frame(frame: Any, n: int, m: int, suitability: Any, pd: Any) -> np.ndarray:
    """An exclude DataFrame as a boolean mask [n, m] (boolean columns, aligned by labels) or as
    an array of (item, worker) pairs (columns ``item`` and ``worker``, labels made positions)."""
    labelled = isinstance(suitability, pd.DataFrame)
    rows = suitability.index if labelled else pd.RangeIndex(n)
    cols = suitability.columns if labelled else pd.RangeIndex(m)
    names = list(frame.columns)
    if sorted(map(str, names)) == ["item", "worker"] and {"item", "worker"} <= set(names):
        # By name: a frame with columns worker, item was read as (item, worker) rows.
        part = frame[["item", "worker"]]
        if part.isna().to_numpy().any():
            at = int(np.flatnonzero(part.isna().to_numpy().any(axis=1))[0])
            raise InvalidArgument(f"exclude frame row {at} has a missing item or worker")
        return np.stack([_positions(part["item"], rows, "item", pd), _positions(part["worker"], cols, "worker", pd)],
                        axis=1)
    if len(names) and all(pd.api.types.is_bool_dtype(t) for t in frame.dtypes):
        if frame.isna().to_numpy().any():
            raise InvalidArgument("boolean exclude frame has missing values")
        # By label, like a capacity Series: a frame whose columns are the workers in another
        # order (or whose rows are the items in another order) was read by position.
        for what, mine, theirs in (("rows", frame.index, rows), ("columns", frame.columns, cols)):
            whose = "item" if what == "rows" else "worker"
            if not mine.is_unique:
                raise InvalidArgument(f"boolean exclude frame repeats a{'n' if whose == 'item' else ''} {whose} "
                                      f"label: {mine[mine.duplicated()][0]!r}")
            missing = theirs.difference(mine, sort=False)
            extra = mine.difference(theirs, sort=False)
            if len(missing) or len(extra):
                where = (f"the suitability frame's {'index' if what == 'rows' else 'columns'}" if labelled
                         else f"{whose} positions 0..{len(theirs) - 1} (suitability has no {whose} labels)")
                raise InvalidArgument(f"boolean exclude frame's {what} are matched by label to {where}: "
                                      + (f"missing {list(missing[:5])}" if len(missing) else "")
                                      + ("; " if len(missing) and len(extra) else "")
                                      + (f"unknown {list(extra[:5])}" if len(extra) else ""))
        return frame.reindex(index=rows, columns=cols).to_numpy(dtype=bool)
    raise InvalidArgument("an exclude frame needs exactly the columns 'item' and 'worker' (pairs) or boolean "
                          f"columns (a mask, aligned by labels), got {names}")


def _positions(values: Any, labels: Any, what: str, pd: Any) -> np.ndarray:
    """An exclude frame's ``item`` or ``worker`` column as positions: looked up in ``labels``
    (the suitability frame's), or kept as given where those are the positions themselves."""
    if isinstance(labels, pd.RangeIndex) and labels.equals(pd.RangeIndex(len(labels))):
        if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
            v = values.iloc[0] if len(values) else None
            raise InvalidArgument(f"exclude frame's {what} column holds {values.dtype} values ({v!r}); the "
                                  f"suitability has no {what} labels, so give {what} positions (or pass the "
                                  f"suitability as a DataFrame labelled by {what})")
        return values.to_numpy(dtype=np.float64 if values.dtype.kind == "f" else np.int64)
    if not labels.is_unique:
        raise InvalidArgument(f"the suitability frame repeats the {what} label {labels[labels.duplicated()][0]!r}: "
                              f"an exclude frame cannot name one {what}")
    at = labels.get_indexer(values)
    if (at < 0).any():
        v = values.iloc[int(np.flatnonzero(at < 0)[0])]
        v = v.item() if isinstance(v, np.generic) else v
        raise InvalidArgument(f"exclude frame names {what} {v!r}, which is not a{'n' if what == 'item' else ''} {what} "
                              f"label of the suitability frame ({'index' if what == 'item' else 'columns'} "
                              f"{list(labels[:5])}{', ...' if len(labels) > 5 else ''})")
    return at.astype(np.int64)


def _apply_exclude(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n: int, m: int,
                   exclude: Any, suitability: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pairs = _exclude_pairs(exclude, n, m, suitability)
    if len(pairs) == 0:
        return indptr, indices, data
    row_of = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    key = row_of * max(m, 1) + indices
    drop = np.isin(key, pairs[:, 0].astype(np.int64) * max(m, 1) + pairs[:, 1].astype(np.int64))
    keep = ~drop
    counts = np.bincount(row_of[keep], minlength=n)
    new_ptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=new_ptr[1:])
    return new_ptr, np.ascontiguousarray(indices[keep]), np.ascontiguousarray(data[keep])


def _capacity_by_label(capacity: Any, suitability: Any, m: int) -> Any:
    """A pandas Series capacity in the order of the suitability frame's columns, matched by
    label (position order gave worker "a" of capacity 0 two items); other inputs unchanged."""
    pd = sys.modules.get("pandas")  # (a Series means the caller imported pandas)
    if pd is None or not isinstance(capacity, pd.Series):
        return capacity
    if isinstance(suitability, pd.DataFrame):
        labels = suitability.columns
    else:
        labels = pd.RangeIndex(m)
    if not capacity.index.is_unique:
        raise InvalidArgument(f"capacity repeats a worker label: {capacity.index[capacity.index.duplicated()][0]!r}")
    missing = labels.difference(capacity.index, sort=False)
    extra = capacity.index.difference(labels, sort=False)
    if len(missing) or len(extra):
        where = "the suitability frame's columns" if isinstance(suitability, pd.DataFrame) else \
            f"worker positions 0..{m - 1} (suitability has no worker labels)"
        raise InvalidArgument(f"capacity is a Series matched by label to {where}: "
                              + (f"missing {list(missing[:5])}" if len(missing) else "")
                              + ("; " if len(missing) and len(extra) else "")
                              + (f"unknown {list(extra[:5])}" if len(extra) else ""))
    return capacity.reindex(labels).to_numpy()


MAX_SUITABILITY = 1e150
"""Largest |suitability| :func:`assign` takes (the solver's costs are sums of differences)."""


def solve_assignment(suitability: Any, overlap: int, capacity: Any, exclude: Any = None, *,
                     partial: bool = False) -> Assignment:
    r"""Maximum-suitability assignment, with its objective and shortfall (see :func:`assign`).

    Never raises for infeasibility: ``shortfall > 0`` says the demand cannot be met, and
    ``workers`` is then the best assignment of as many slots as can be filled (with ``partial``
    or without: before 2026-12-07, without it, a feasible but not the best one)."""
    return _solve(suitability, overlap, capacity, exclude, partial=partial, _best=True)


def _solve(suitability: Any, overlap: int, capacity: Any, exclude: Any, *, partial: bool,
           _best: bool) -> Assignment:
    """``_best``: the best partial assignment when the demand cannot be met (``assign`` without
    ``partial`` only needs the shortfall it raises)."""
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)):
        raise InvalidArgument(f"overlap must be an int, got {type(overlap).__name__}")
    if not 1 <= int(overlap) <= 2**31 - 1:
        raise InvalidArgument(f"overlap must be in [1, 2**31 - 1], got {int(overlap)}")
    pd = sys.modules.get("pandas")  # (a frame means the caller imported pandas)
    if pd is not None and isinstance(suitability, pd.DataFrame) and not suitability.columns.is_unique \
            and (isinstance(capacity, pd.Series) or isinstance(exclude, pd.DataFrame)):
        # A capacity Series or an exclude frame names workers by these labels: one label, two workers.
        dup = suitability.columns[suitability.columns.duplicated()][0]
        raise InvalidArgument(f"the suitability frame repeats the worker label {dup!r}: each column must name "
                              "one worker")
    indptr, indices, data, n, m = _as_csr(suitability)
    if n * int(overlap) > 2**31 - 1:
        raise InvalidArgument(f"{n} items x overlap {int(overlap)} is more than 2**31 - 1 answer slots")
    if data.size and not np.isfinite(data).all():
        bad = np.flatnonzero(~np.isfinite(data))[0]
        item = int(np.searchsorted(indptr, bad, side="right") - 1)
        raise InvalidArgument(f"suitability has a non-finite value ({data[bad]}) at item {item}, worker {int(indices[bad])}")
    if data.size and np.abs(data).max() > MAX_SUITABILITY:
        # The solver's reduced costs (max - s, and slots x range for a partial solve) overflowed
        # to inf near 1e305: a false InfeasibleAssignment, a partial answer missing the best pair.
        bad = int(np.argmax(np.abs(data)))
        item = int(np.searchsorted(indptr, bad, side="right") - 1)
        raise InvalidArgument(f"suitability {float(data[bad])!r} at item {item}, worker {int(indices[bad])} is beyond "
                              f"+-{MAX_SUITABILITY:g}: rescale the scores")
    cap = np.asarray(_capacity_by_label(capacity, suitability, m))
    if cap.dtype == object:
        # Python ints beyond 64 bits (or non-numbers) land here.
        try:
            cap = np.asarray([float(x) for x in cap.ravel()], dtype=np.float64).reshape(cap.shape)
        except (TypeError, ValueError):
            raise InvalidArgument("capacity must be whole numbers") from None
    if cap.dtype.kind not in "iuf":
        raise InvalidArgument(f"capacity must be whole numbers, got dtype {cap.dtype}")
    if cap.ndim == 0:
        cap = np.full(m, cap)
    if cap.shape != (m,):
        raise InvalidArgument(f"capacity must be a scalar or have one entry per worker ({m}), got shape {cap.shape}")
    if cap.size and not np.issubdtype(cap.dtype, np.integer):
        if not np.all(np.isfinite(cap)) or not np.all(cap == np.round(cap)):
            raise InvalidArgument("capacity must be whole numbers")
    if cap.size and (cap < 0).any():
        j = int(np.flatnonzero(cap < 0)[0])
        raise InvalidArgument(f"capacity of worker {j} is negative ({cap[j]})")
    # (As floats, 2**63 - 1 rounds to 2**63: the bound is >= 2**63 there, or the cast would wrap.)
    too_big = cap >= 2.0**63 if cap.dtype.kind == "f" else cap > np.iinfo(np.int64).max
    if cap.size and too_big.any():
        j = int(np.flatnonzero(too_big)[0])
        raise InvalidArgument(f"capacity of worker {j} is too large ({cap[j]}; at most 2**63 - 1)")
    cap = np.ascontiguousarray(cap, dtype=np.int64)
    if not isinstance(partial, (bool, np.bool_)):
        raise InvalidArgument(f"partial must be True or False, got {partial!r}")
    indptr, indices, data = _apply_exclude(indptr, indices, data, n, m, exclude, suitability)
    if int(overlap) > m and n and not partial and not _best:
        # No item can get more distinct workers than there are: infeasible before any search
        # (the solver allocated n x overlap slots first: 0.4 GB for overlap 10**8 on one item).
        short = np.full(n, int(overlap) - m, dtype=np.int64)
        return Assignment(np.full((n, 0), -1, np.int32), 0.0, int(short.sum()), short, 0)
    # The solver needs no more slots per item than there are workers; the rest stay empty (-1).
    solve_overlap = min(int(overlap), m)
    if solve_overlap == 0:
        # No workers: every slot is short. (The core, asked for overlap 0, refused an overlap
        # the caller never passed.)
        short = np.full(n, int(overlap), dtype=np.int64)
        return Assignment(np.full((n, int(overlap)), -1, np.int32), 0.0, int(short.sum()), short, 0)
    # Without partial, the solve stops at the first pass when the demand cannot be met: a
    # feasible assignment, not the best one (items served in index order). Returned as the
    # result, that pass is replaced by the best assignment of the most slots.
    try:
        workers, objective, shortfall, item_short, aug = _m.assign(indptr, indices, data, n, m, solve_overlap, cap,
                                                                  bool(partial) or _best)
    except MemoryError as e:  # the core's bare std::bad_alloc
        raise MemoryError(f"assign ran out of memory on {n:,} items x {m:,} workers ({len(data):,} allowed pairs; {e}): "
                          "the solver keeps about 20 bytes per pair; a sparse suitability with only the candidate "
                          "pairs (scipy.sparse) needs less") from None
    if solve_overlap < int(overlap):
        extra = int(overlap) - solve_overlap
        workers = np.hstack([workers, np.full((n, extra), -1, np.int32)])
        item_short = np.asarray(item_short) + extra
        shortfall = int(shortfall) + n * extra
    return Assignment(workers, float(objective), int(shortfall), item_short, int(aug))


def assign(suitability: Any, overlap: int, capacity: Any, exclude: Any = None, *, partial: bool = False) -> np.ndarray:
    r"""Assign every item to ``overlap`` distinct workers, maximizing total suitability.

    .. math::
        \max_{x\in\{0,1\}^{n\times m}} \sum_{ij} s_{ij} x_{ij}\quad\text{s.t.}\quad
        \sum_j x_{ij} = \text{overlap},\ \sum_i x_{ij} \le \text{capacity}_j,\ x_{ij}=0 \text{ if excluded}

    solved exactly as a min-cost flow by successive shortest paths with potentials (see
    docs/matching.md). ``suitability``: dense array [n_items, n_workers] (every pair allowed) or
    ``scipy.sparse`` (only stored entries allowed; a stored 0 is an allowed pair, except in DIA,
    whose conversion drops them); |values| at most :data:`MAX_SUITABILITY`. ``capacity``:
    int or one int per worker (a pandas Series is matched by label to the columns of a suitability
    DataFrame, or to worker positions). ``exclude``: (item, worker) pairs of positions (or a
    DataFrame with columns ``item`` and ``worker``, read as the labels of a suitability DataFrame),
    a boolean mask [n_items, n_workers] (or a DataFrame of booleans, aligned by those labels), or a
    sparse matrix of pairs that must not be assigned (e.g. the item's uploader, earlier labelers);
    with two workers, 0/1 numbers of the shape (items, workers) that mean other pairs as a mask
    than as pairs are refused as ambiguous. A nested list is read like its array.

    Returns int32 [n_items, overlap] worker indices, each row ascending. If the demand cannot be
    met, raises :class:`~tagger.errors.InfeasibleAssignment` whose ``shortfall`` attribute is the
    exact number of unfillable slots and ``items`` the items a maximum assignment leaves short;
    with ``partial=True`` it instead fills as many slots as possible (best suitability among
    those) and marks empty slots ``-1``.

    >>> assign([[3, 1], [2, 2]], overlap=1, capacity=1).ravel().tolist()
    [0, 1]
    """
    r = _solve(suitability, overlap, capacity, exclude, partial=partial, _best=False)
    if r.shortfall and not partial:
        items = r.short_items
        shown = ", ".join(map(str, items[:10])) + (", ..." if len(items) > 10 else "")
        err = InfeasibleAssignment(f"demand exceeds what the workers can cover by {r.shortfall} slot(s) "
                                   f"({len(items)} item(s) short: {shown})")
        err.shortfall = r.shortfall
        err.items = items
        err.item_shortfall = r.item_shortfall
        raise err
    return r.workers


# ----------------------------------------------------------------------------- Subtasks


@dataclass
class Subtask:
    """A batch shown to one worker: ``items`` in presentation order and which are control items
    (known answers, hidden among the rest)."""

    items: np.ndarray
    is_control: np.ndarray

    @property
    def regular(self) -> np.ndarray:
        """The batch's items that are not control items, in presentation order."""
        return self.items[~self.is_control]

    @property
    def controls(self) -> np.ndarray:
        """The batch's control items, in presentation order."""
        return self.items[self.is_control]

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"Subtask({len(self.items)} items, {int(self.is_control.sum())} control)"


def make_subtasks(items: int | Sequence[Any], batch_size: int, control_items: Sequence[Any] = (),
                  control_share: float = 0.1, seed: int = 0) -> list[Subtask]:
    r"""Split ``items`` (a count, or a sequence of item ids) into subtasks of ``batch_size``
    regular items in random order, each with :math:`\mathrm{round}(\rho\,b/(1-\rho))` (at least
    one) control items from ``control_items`` at uniformly random positions, where
    :math:`\rho` = ``control_share`` is the share of control items in a subtask. Deterministic for
    a seed. ``control_share=0`` gives plain batches."""
    ids = None
    if isinstance(items, (bool, np.bool_)):  # an int to the type system, but no count
        raise InvalidArgument("items must be a count or a sequence of item ids, not a bool")
    if isinstance(items, numbers.Integral):
        n = int(items)
        if not 0 <= n <= 2**31 - 1:
            raise InvalidArgument(f"items must be a count in [0, 2**31 - 1], got {n}")
    else:
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise InvalidArgument(f"items must be a count or a sequence of item ids, not {type(items).__name__}")
        listed = list(items)
        ids = np.empty(len(listed), dtype=object)  # element by element: tuple ids stay tuples
        for i, x in enumerate(listed):
            ids[i] = x
        n = len(ids)
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, numbers.Integral) or not 1 <= batch_size <= 2**31 - 1:
        raise InvalidArgument(f"batch_size must be an int >= 1, got {batch_size!r}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= 2**64 - 1:
        raise InvalidArgument(f"seed must be an int in [0, 2**64 - 1], got {seed!r}")
    if isinstance(control_items, (str, bytes)):
        raise InvalidArgument("control_items must be a sequence of item ids, not a single string")
    ctrl = list(control_items)
    if ctrl and ids is None and not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in ctrl):
        raise InvalidArgument("with a count of items, control_items must be int ids")
    # Each control item is shown at most once per subtask, and never where a regular item is
    # meant: a repeated or shared id would make the subtask ask the same item twice.
    seen: set[Any] = set()
    for c in ctrl:
        try:
            if c in seen:
                raise InvalidArgument(f"control_items repeats the id {c!r}")
            seen.add(c)
        except TypeError:
            raise InvalidArgument(f"control item ids must be hashable, got {type(c).__name__}") from None
    if ids is None:
        clash = next((c for c in ctrl if 0 <= int(c) < n), None)
        if clash is not None:
            raise InvalidArgument(f"control item {int(clash)} is also a regular item id (a count of {n} items means "
                                  f"ids 0..{n - 1}); give control items other ids")
    else:
        try:
            regular = set(ids.tolist())
        except TypeError:
            raise InvalidArgument("item ids must be hashable") from None
        if len(regular) != n:
            raise InvalidArgument("items repeats an item id; each item belongs to one subtask once")
        clash = next((c for c in ctrl if c in regular), None)
        if clash is not None:
            raise InvalidArgument(f"control item {clash!r} is also one of the regular items")
    if isinstance(control_share, (bool, np.bool_)) or not isinstance(control_share, numbers.Real):
        raise InvalidArgument(f"control_share must be a number in [0, 1), got {control_share!r}")
    share = 0.0 if not ctrl and control_share == 0.1 else float(control_share)
    if not math.isfinite(share):
        raise InvalidArgument("control_share must be finite")
    raw = _m.make_subtasks(n, int(batch_size), np.arange(len(ctrl), dtype=np.int64), share, int(seed))
    out = []
    for it, flag in raw:
        flag = flag.astype(bool)
        # Core ids: regular items are positions 0..n-1, control items positions in ctrl.
        if ids is None and not ctrl:
            mapped = it
        else:
            mapped = np.empty(len(it), dtype=object)
            reg = ~flag
            mapped[reg] = ids[it[reg]] if ids is not None else it[reg]
            for pos, k in zip(np.flatnonzero(flag), it[flag]):  # one by one: tuple ids stay tuples
                mapped[pos] = ctrl[k]  # (a list of tuples assigned at once became a 2-D array: TypeError)
            if ids is None:
                mapped = mapped.astype(np.int64)
        out.append(Subtask(mapped, flag))
    return out


# Class-wide locks a forked child must not inherit held (tagger/_fork.py).
renew_after_fork(StaticEmbedding, "_lock")
renew_after_fork(CategoryIndex, "_default_lock")
renew_after_fork(CategoryIndex, "_state_lock")

from ._match_sklearn import CategoryClassifier  # noqa: E402  (it fits CategoryIndex, defined above)
