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

import json
import math
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _core
from ._optional import require
from .errors import InfeasibleAssignment, InvalidArgument

_m = _core.match

__all__ = [
    "DATA_DIR", "TOKENIZER_PATH", "CATALOG_PATH", "Tokenizer", "Embedder", "Category", "Catalog",
    "CategoryIndex", "Assignment", "assign", "solve_assignment", "Subtask", "make_subtasks",
    "validate_text", "StaticEmbedding", "STATIC_EMBEDDING_PATH",
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


def _texts(texts: Any, what: str = "texts") -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise InvalidArgument(f"{what} must be a sequence of strings, got a single {type(texts).__name__}")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InvalidArgument(f"{what}[{i}] must be a str, got {type(t).__name__}")
        _check_utf8(t, f"{what}[{i}]")
    return out


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
            self._core = _m.Tokenizer.from_file(str(model))
            self._source = str(model)

    @classmethod
    def from_file(cls, path: str | Path) -> Tokenizer:
        return cls(Path(path))

    @classmethod
    def from_bytes(cls, model: bytes) -> Tokenizer:
        return cls(bytes(model))

    @classmethod
    def _wrap(cls, core: Any, source: str) -> Tokenizer:
        t = cls.__new__(cls)
        t._core, t._source = core, source
        return t

    def encode(self, text: str, out_type: type = int) -> list[int] | list[str]:
        """Pieces of ``text`` as ids (``out_type=int``) or strings (``out_type=str``)."""
        text = _text_arg(text)
        return self._core.encode_pieces(text) if out_type is str else self._core.encode_ids(text)

    def encode_ids(self, text: str) -> list[int]:
        return self._core.encode_ids(_text_arg(text))

    def encode_pieces(self, text: str) -> list[str]:
        return self._core.encode_pieces(_text_arg(text))

    def encode_batch(self, texts: Iterable[str], threads: int = 0) -> list[list[int]]:
        """Ids of many texts, in parallel (``threads=0``: every core)."""
        return self._core.encode_ids_batch(_texts(texts), threads)

    def decode(self, ids: Iterable[int]) -> str:
        return self._core.decode([int(i) for i in ids])

    def piece_score(self, id: int) -> float:
        """Unigram log-probability (natural log) of piece ``id``."""
        return self._core.piece_score(int(id))

    def id_to_piece(self, id: int) -> str:
        return self._core.id_to_piece(int(id))

    def piece_to_id(self, piece: str) -> int:
        return self._core.piece_to_id(piece)

    def mean_log_prob(self, text: str, unk_penalty: float = -20.0) -> float:
        r"""Mean per-piece log-probability :math:`\frac1n\sum_i \log p(x_i)` of the unigram
        segmentation of ``text``; unknown pieces count ``unk_penalty``. Low for gibberish."""
        return self._core.mean_log_prob(_text_arg(text), unk_penalty)

    def log_prob_per_char(self, text: str, unk_penalty: float = -20.0) -> float:
        """Total unigram log-probability of ``text`` per non-space character (the gibberish
        signal: natural words take few likely pieces, random strings many single characters)."""
        return self._core.log_prob_per_char(_text_arg(text), unk_penalty)

    @property
    def vocab_size(self) -> int:
        return self._core.vocab_size()

    @property
    def unk_id(self) -> int:
        return self._core.unk_id()

    def __len__(self) -> int:
        return self.vocab_size

    def serialized_model(self) -> bytes:
        return self._core.serialized_model()

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.serialized_model())

    def __getstate__(self) -> dict:
        return {"model": self.serialized_model(), "source": self._source}

    def __setstate__(self, state: dict) -> None:
        self._core = _m.Tokenizer.from_bytes(state["model"])
        self._source = state["source"]

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, source={self._source!r})"


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
        if isinstance(path, (bytes, bytearray)):
            self._core = _m.StaticEmbedding.from_bytes(bytes(path))
            self._source = "bytes"
        else:
            p = Path(path) if path is not None else STATIC_EMBEDDING_PATH
            self._core = _m.StaticEmbedding.from_file(str(p))
            self._source = p.name

    @classmethod
    def default(cls) -> StaticEmbedding:
        """The shipped table, loaded once per process."""
        with cls._lock:
            if cls._default is None:
                cls._default = cls()
            return cls._default

    @property
    def dim(self) -> int:
        return self._core.dim()

    def embed(self, texts: Iterable[str], threads: int = 0) -> np.ndarray:
        """float32 [n, dim], unit rows (all zeros for a text without a known token)."""
        return self._core.embed_batch(_texts(texts), threads)

    __call__ = embed

    def tokenize(self, text: str) -> list[str]:
        """WordPiece tokens of ``text`` (lowercased, accents stripped; ``[UNK]`` for unknown words)."""
        return self._core.tokenizer().tokenize(_text_arg(text))

    def encode(self, text: str) -> list[int]:
        return self._core.tokenizer().encode(_text_arg(text))

    def __repr__(self) -> str:
        return f"StaticEmbedding({self._core.tokenizer().vocab_size()} tokens x {self.dim}, {self._source})"


DENSE_WEIGHT = 4.0
"""Default scale of the dense block against the unit sparse vector (chosen on Banking77 from {1, 2, 4})."""


def _dense(dense: bool | StaticEmbedding | None) -> Any:
    """The core StaticEmbedding for an index's ``dense`` option (None: sparse only)."""
    if dense is None or dense is False:
        return None
    if dense is True:
        return StaticEmbedding.default()._core
    if isinstance(dense, StaticEmbedding):
        return dense._core
    raise InvalidArgument(f"dense must be a bool or a tg.match.StaticEmbedding, got {type(dense).__name__}")


# ----------------------------------------------------------------------------- Embedder


def _embedder_config(hash_bits: int = 20, char_ngrams: tuple[int, int] | None = (2, 5), piece_bigrams: bool = True,
                     word_unigrams: bool = True, sublinear_tf: bool = True) -> Any:
    c = _m.EmbedderConfig()
    c.hash_bits = int(hash_bits)
    lo, hi = char_ngrams if char_ngrams else (1, 0)
    c.char_ngram_min, c.char_ngram_max = int(lo), int(hi)
    c.piece_bigrams, c.word_unigrams, c.sublinear_tf = bool(piece_bigrams), bool(word_unigrams), bool(sublinear_tf)
    return c


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
            cfg = _embedder_config(hash_bits, char_ngrams, piece_bigrams, word_unigrams, sublinear_tf)
            self._core = _m.Embedder(_tokenizer(tokenizer)._core, cfg)

    def fit(self, corpus: Iterable[str], threads: int = 0) -> Embedder:
        """Learn document frequencies from ``corpus``; returns ``self``."""
        self._core.fit_idf(_texts(corpus, "corpus"), threads)
        return self

    def transform(self, texts: Iterable[str], threads: int = 0) -> Any:
        """``scipy.sparse.csr_array`` [n_texts, dim] of unit rows."""
        sp = require("scipy.sparse", "Embedder.transform")
        texts = _texts(texts)
        indptr, indices, values = self._core.embed_batch(texts, threads)
        return sp.csr_array((values, indices, indptr), shape=(len(texts), self.dim))

    def embed(self, text: str) -> Any:
        """One text as a 1 x dim ``scipy.sparse.csr_array``."""
        return self.transform([_text_arg(text)])

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two texts, in [0, 1] (all weights are non-negative)."""
        return self._core.similarity(_text_arg(a, "a"), _text_arg(b, "b"))

    @property
    def dim(self) -> int:
        return self._core.dim()

    @property
    def fitted(self) -> bool:
        return self._core.has_idf()

    @property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer._wrap(self._core.tokenizer(), "embedder")

    def __repr__(self) -> str:
        c = self._core.config()
        ng = f"({c.char_ngram_min}, {c.char_ngram_max})" if c.char_ngram_max else "None"
        return f"Embedder(dim=2**{c.hash_bits}, char_ngrams={ng}, idf={'fitted' if self.fitted else 'none'})"


# ----------------------------------------------------------------------------- Catalog


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
        object.__setattr__(self, "examples", tuple(self.examples))
        if not self.modality and "/" in self.id:
            object.__setattr__(self, "modality", self.id.split("/", 1)[0])
        if not self.description.strip() and not self.examples:
            raise InvalidArgument(f"category {self.id!r} has neither a description nor examples")

    def to_dict(self) -> dict:
        return {"id": self.id, "modality": self.modality, "task": self.task, "description": self.description,
                "examples": list(self.examples)}


class Catalog(Sequence[Category]):
    """An ordered collection of :class:`Category` with unique ids.

    ``Catalog.default()`` is the shipped one (``CATALOG_PATH``); extend it with
    ``catalog + [Category(...)]`` or :meth:`extend`, replace entries with :meth:`replace`, or
    load your own with :meth:`load` (same JSON layout: ``{"categories": [{"id", "description",
    "examples", "modality", "task"}]}``).
    """

    def __init__(self, categories: Iterable[Category | dict] = ()) -> None:
        cats = [c if isinstance(c, Category) else Category(**c) for c in categories]
        seen: set[str] = set()
        for c in cats:
            if c.id in seen:
                raise InvalidArgument(f"duplicate category id {c.id!r}")
            seen.add(c.id)
        self._cats = cats
        self._by_id = {c.id: c for c in cats}

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalog:
        p = Path(path) if path is not None else CATALOG_PATH
        data = json.loads(p.read_text(encoding="utf-8"))
        return cls(data["categories"] if isinstance(data, dict) else data)

    @classmethod
    def default(cls) -> Catalog:
        return cls.load(CATALOG_PATH)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"categories": [c.to_dict() for c in self]}, indent=1, ensure_ascii=False)
                              + "\n", encoding="utf-8")

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
        return [c.id for c in self._cats]

    def extend(self, more: Iterable[Category | dict]) -> Catalog:
        """A new catalog with ``more`` appended (ids must stay unique)."""
        return Catalog([*self._cats, *more])

    __add__ = extend

    def replace(self, category: Category) -> Catalog:
        """A new catalog with the category of the same id replaced (or appended)."""
        if category.id not in self._by_id:
            return self.extend([category])
        return Catalog([category if c.id == category.id else c for c in self._cats])

    def to_pandas(self) -> Any:
        import pandas as pd
        return pd.DataFrame([c.to_dict() for c in self._cats]).set_index("id")

    def __repr__(self) -> str:
        mods = sorted({c.modality for c in self._cats})
        return f"Catalog({len(self)} categories, modalities={mods})"


# ----------------------------------------------------------------------------- CategoryIndex


def _train_config(epochs: int, learning_rate: float, l2: float, seed: int, threads: int) -> Any:
    t = _m.TrainConfig()
    t.epochs, t.learning_rate, t.l2, t.seed, t.threads = int(epochs), float(learning_rate), float(l2), int(seed), int(threads)
    return t


def _backend_fn(backend: Any) -> Callable[[list[str]], np.ndarray]:
    if hasattr(backend, "encode"):  # sentence-transformers
        return lambda texts: np.asarray(backend.encode(texts, convert_to_numpy=True, normalize_embeddings=True,
                                                       show_progress_bar=False), dtype=np.float32)
    if callable(backend):
        return lambda texts: np.asarray(backend(texts), dtype=np.float32)
    raise InvalidArgument("backend must be a callable returning vectors or an object with .encode (sentence-transformers)")


_EMPTY_I64 = np.empty(0, np.int64)
_EMPTY_U32 = np.empty(0, np.uint32)
_EMPTY_F32 = np.empty(0, np.float32)


class CategoryIndex:
    r"""Scores texts against named categories.

    Representation :math:`x` = :class:`Embedder` vector (or, with ``backend=``, the vector any
    embedding model returns), model :math:`p(c\mid x) = \mathrm{softmax}(Wx + b)_c`: multinomial
    logistic regression trained in C++ by AdaGrad on the cross-entropy. ``top_k`` scores are these
    posterior probabilities — in [0, 1], summing to 1 over categories. Cross-entropy is a proper
    scoring rule, so the scores are calibrated as far as the model fits; docs/matching.md reports
    the measured expected calibration error.

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

    def __init__(self, *, _core: Any = None, _backend: Any = None, _model: Any = None,
                 _categories: list[str] | None = None, _source: str = "") -> None:
        self._core = _core
        self._backend = _backend
        self._model = _model
        self._categories = list(_core.categories()) if _core is not None else list(_categories or [])
        self._source = _source
        self.catalog: Catalog | None = None

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
                     **embedder_options: Any) -> CategoryIndex:
        """Zero-shot index over ``catalog``. ``dense``: append the :class:`StaticEmbedding` vector
        (times ``dense_weight``) to the sparse features (docs/matching.md, "Dense features")."""
        cat = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        if len(cat) == 0:
            raise InvalidArgument("the category catalog is empty")
        cfg = _m.IndexConfig()
        cfg.embedder = _embedder_config(**embedder_options)
        cfg.train = _train_config(epochs, learning_rate, l2, seed, threads)
        cfg.dense, cfg.dense_weight = _dense(dense), float(dense_weight)
        core = _m.CategoryIndex.from_catalog([(c.id, c.description, list(c.examples)) for c in cat],
                                             _tokenizer(tokenizer)._core, cfg)
        idx = cls(_core=core, _source="catalog")
        idx.catalog = cat
        return idx

    @classmethod
    def fit(cls, texts: Iterable[str], labels: Iterable[Any], *, backend: Any = None,
            tokenizer: Tokenizer | None = None, epochs: int = 12, learning_rate: float = 0.1, l2: float = 1e-6,
            seed: int = 0, threads: int = 0, dense: bool | StaticEmbedding | None = True, dense_weight: float = DENSE_WEIGHT,
            **embedder_options: Any) -> CategoryIndex:
        """Few-shot index from labeled examples (labels are category names, any hashable -> str).

        ``dense``: append the :class:`StaticEmbedding` vector (times ``dense_weight``) to the
        sparse features (default on; ``False`` for the sparse model alone).

        ``backend``: a sentence-transformers model, or any callable ``texts -> array [n, d]``,
        replaces the built-in :class:`Embedder`; the classifier is the same C++ model.
        """
        texts = _texts(texts)
        labels = [str(y) for y in labels]
        if len(texts) != len(labels):
            raise InvalidArgument(f"fit got {len(texts)} texts and {len(labels)} labels")
        train = _train_config(epochs, learning_rate, l2, seed, threads)
        if backend is None:
            cfg = _m.IndexConfig()
            cfg.embedder = _embedder_config(**embedder_options)
            cfg.train = train
            cfg.require_latin = tokenizer is None
            cfg.dense, cfg.dense_weight = _dense(dense), float(dense_weight)
            core = _m.CategoryIndex.fit(texts, labels, _tokenizer(tokenizer)._core, cfg)
            return cls(_core=core, _source="fit")
        if not texts:
            raise InvalidArgument("fit needs at least one labeled example")
        embed = _backend_fn(backend)
        cats = sorted(set(labels))
        if len(cats) < 2:
            raise InvalidArgument("fit needs examples of at least 2 categories")
        pos = {c: i for i, c in enumerate(cats)}
        x = np.ascontiguousarray(embed(texts), dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != len(texts):
            raise InvalidArgument(f"backend returned shape {x.shape} for {len(texts)} texts")
        y = np.array([pos[v] for v in labels], dtype=np.int32)
        model = _m.LinearModel.fit(_EMPTY_I64, _EMPTY_U32, _EMPTY_F32, x, x.shape[0], x.shape[1], y, len(cats), train)
        return cls(_backend=embed, _model=model, _categories=cats, _source=f"fit, backend={type(backend).__name__}")

    # -- queries

    @property
    def categories(self) -> list[str]:
        return list(self._categories)

    def predict_proba(self, texts: Iterable[str], threads: int = 0) -> np.ndarray:
        """[n_texts, n_categories] probabilities (columns in :attr:`categories` order)."""
        texts = _texts(texts)
        if self._core is not None:
            return self._core.predict_proba(texts, threads)
        for i, t in enumerate(texts):
            validate_text(t, f"texts[{i}]")
        x = np.ascontiguousarray(self._backend(texts), dtype=np.float32)
        return self._model.predict_proba(_EMPTY_I64, _EMPTY_U32, _EMPTY_F32, x, x.shape[0], x.shape[1], threads)

    def predict(self, texts: Iterable[str], threads: int = 0) -> list[str]:
        """The most probable category of each text."""
        p = self.predict_proba(texts, threads)
        return [self._categories[j] for j in p.argmax(axis=1)] if len(p) else []

    def top_k_batch(self, texts: Iterable[str], k: int = 5, threads: int = 0) -> list[list[tuple[str, float]]]:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 2**31 - 1:
            raise InvalidArgument(f"k must be an int in [1, 2**31 - 1], got {k!r}")
        texts = _texts(texts)
        if self._core is not None:
            return self._core.top_k_batch(texts, int(k), threads)
        p = self.predict_proba(texts, threads)
        order = np.argsort(-p, axis=1, kind="stable")[:, :k]
        return [[(self._categories[j], float(p[i, j])) for j in row] for i, row in enumerate(order)]

    def top_k(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable categories of ``text`` with their probabilities, best first.

        Raises InvalidArgument for a non-string, empty or letterless text, or one in a script
        the tokenizer does not cover."""
        if isinstance(text, bytes):
            text = validate_text(text, "description")
        if not isinstance(text, str):
            raise InvalidArgument(f"description must be a str, got {type(text).__name__}")
        if self._core is not None:
            validate_text(text, "description")
        return self.top_k_batch([text], k, threads=1)[0]

    def __len__(self) -> int:
        return len(self._categories)

    def __repr__(self) -> str:
        return f"CategoryIndex({len(self)} categories, {self._source})"


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
        s = sp.csr_array(suitability)
        s.sum_duplicates()
        s.sort_indices()
        n, m = s.shape
        return (s.indptr.astype(np.int64), s.indices.astype(np.int32), s.data.astype(np.float64, copy=False), n, m)
    a = np.asarray(suitability)
    if a.ndim != 2:
        raise InvalidArgument(f"suitability must be a 2-D array [n_items, n_workers], got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise InvalidArgument(f"suitability must be real numbers, got dtype {a.dtype}")
    n, m = a.shape
    data = np.ascontiguousarray(a, dtype=np.float64).ravel()
    indptr = np.arange(0, n * m + 1, m, dtype=np.int64) if m else np.zeros(n + 1, np.int64)
    indices = np.tile(np.arange(m, dtype=np.int32), n)
    return indptr, indices, data, n, m


def _apply_exclude(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n: int, m: int,
                   exclude: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if exclude is None:
        return indptr, indices, data
    sp = _scipy_sparse(exclude)
    if sp is not None:
        e = sp.coo_array(exclude)
        if e.shape != (n, m):
            raise InvalidArgument(f"exclude has shape {e.shape}, suitability {(n, m)}")
        mask = e.data != 0
        pairs = np.stack([e.row[mask], e.col[mask]], axis=1)
    else:
        arr = np.asarray(exclude)
        if arr.dtype == bool:
            if arr.shape != (n, m):
                raise InvalidArgument(f"boolean exclude mask has shape {arr.shape}, suitability {(n, m)}")
            pairs = np.argwhere(arr)
        else:
            pairs = np.asarray(list(exclude) if not isinstance(exclude, np.ndarray) else exclude, dtype=np.int64)
            if pairs.size == 0:
                return indptr, indices, data
            if pairs.ndim != 2 or pairs.shape[1] != 2:
                raise InvalidArgument("exclude must be (item, worker) pairs, a boolean [n_items, n_workers] mask, "
                                      "or a sparse matrix")
            if (pairs[:, 0] < 0).any() or (pairs[:, 0] >= n).any() or (pairs[:, 1] < 0).any() or (pairs[:, 1] >= m).any():
                raise InvalidArgument("exclude names an item or worker out of range")
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


def solve_assignment(suitability: Any, overlap: int, capacity: Any, exclude: Any = None, *,
                     partial: bool = False) -> Assignment:
    r"""Maximum-suitability assignment, with its objective and shortfall (see :func:`assign`).

    Never raises for infeasibility: ``shortfall > 0`` says the demand cannot be met."""
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)):
        raise InvalidArgument(f"overlap must be an int, got {type(overlap).__name__}")
    if not 0 <= int(overlap) <= 2**31 - 1:
        raise InvalidArgument(f"overlap must be in [0, 2**31 - 1], got {int(overlap)}")
    indptr, indices, data, n, m = _as_csr(suitability)
    if data.size and not np.isfinite(data).all():
        bad = np.flatnonzero(~np.isfinite(data))[0]
        item = int(np.searchsorted(indptr, bad, side="right") - 1)
        raise InvalidArgument(f"suitability has a non-finite value ({data[bad]}) at item {item}, worker {int(indices[bad])}")
    cap = np.asarray(capacity)
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
    if cap.size and (cap > np.iinfo(np.int64).max).any():
        j = int(np.flatnonzero(cap > np.iinfo(np.int64).max)[0])
        raise InvalidArgument(f"capacity of worker {j} is too large ({cap[j]}; at most 2**63 - 1)")
    cap = np.ascontiguousarray(cap, dtype=np.int64)
    indptr, indices, data = _apply_exclude(indptr, indices, data, n, m, exclude)
    workers, objective, shortfall, item_short, aug = _m.assign(indptr, indices, data, n, m, int(overlap), cap,
                                                              bool(partial))
    return Assignment(workers, float(objective), int(shortfall), item_short, int(aug))


def assign(suitability: Any, overlap: int, capacity: Any, exclude: Any = None, *, partial: bool = False) -> np.ndarray:
    r"""Assign every item to ``overlap`` distinct workers, maximizing total suitability.

    .. math::
        \max_{x\in\{0,1\}^{n\times m}} \sum_{ij} s_{ij} x_{ij}\quad\text{s.t.}\quad
        \sum_j x_{ij} = \text{overlap},\ \sum_i x_{ij} \le \text{capacity}_j,\ x_{ij}=0 \text{ if excluded}

    solved exactly as a min-cost flow by successive shortest paths with potentials (see
    docs/matching.md). ``suitability``: dense array [n_items, n_workers] (every pair allowed) or
    ``scipy.sparse`` (only stored entries allowed; a stored 0 is an allowed pair). ``capacity``:
    int or one int per worker. ``exclude``: (item, worker) pairs, a boolean mask, or a sparse
    matrix of pairs that must not be assigned (e.g. the item's uploader, earlier labelers).

    Returns int32 [n_items, overlap] worker indices, each row ascending. If the demand cannot be
    met, raises :class:`~tagger.errors.InfeasibleAssignment` whose ``shortfall`` attribute is the
    exact number of unfillable slots and ``items`` the items a maximum assignment leaves short;
    with ``partial=True`` it instead fills as many slots as possible (best suitability among
    those) and marks empty slots ``-1``.

    >>> assign([[3, 1], [2, 2]], overlap=1, capacity=1).ravel().tolist()
    [0, 1]
    """
    r = solve_assignment(suitability, overlap, capacity, exclude, partial=partial)
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
        return self.items[~self.is_control]

    @property
    def controls(self) -> np.ndarray:
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
    if isinstance(items, bool):  # an int to the type system, but no count (list(True) raised TypeError too)
        raise TypeError("items must be a count or a sequence of item ids, not a bool")
    if isinstance(items, (int, np.integer)):
        n = int(items)
    else:
        ids = np.asarray(list(items), dtype=object)
        n = len(ids)
    ctrl = list(control_items)
    if ctrl and ids is None and not all(isinstance(c, (int, np.integer)) for c in ctrl):
        raise InvalidArgument("with a count of items, control_items must be int ids")
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
            mapped[flag] = [ctrl[k] for k in it[flag]]
            if ids is None:
                mapped = mapped.astype(np.int64)
        out.append(Subtask(mapped, flag))
    return out
