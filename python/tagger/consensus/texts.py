"""Text aggregation: :class:`ROVER` (word alignment and vote in C++),
:class:`TextRASA` and :class:`TextHRRASA` (RASA / HRRASA over sentence
embeddings), crowd-kit 1.4.2's classes.

Input: a DataFrame with columns ``task, worker, text``. Output: ``texts_``,
a Series named ``agg_text`` indexed by ``task`` (sorted, as ``groupby``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import _core
from ..errors import InvalidArgument
from ._checks import frame, no_missing
from .base import _plain
from ._serial import Serialized
from .embeddings import HRRASA, RASA, glue_similarity

__all__ = ["ROVER", "TextRASA", "TextHRRASA"]


class ROVER(Serialized):
    """Recognizer Output Voting Error Reduction (Fiscus 1997): each task's
    tokenized texts are aligned one after the other into a word transition
    network by edit distance (unit costs), and every slot keeps its most
    voted token (ties: the longer token, then the larger string); empty slots
    are dropped before ``detokenizer``. ``tokenizer``/``detokenizer`` are
    required, as in crowd-kit (e.g. ``str.split`` and ``" ".join``). The
    ``worker`` column is optional and not read (as in crowd-kit). Fitted: ``texts_``."""

    def __init__(self, tokenizer: Callable[[str], list[str]], detokenizer: Callable[[list[str]], str],
                 silent: bool = True) -> None:
        self.tokenizer, self.detokenizer, self.silent = tokenizer, detokenizer, silent

    def fit(self, data: pd.DataFrame) -> ROVER:
        """Aligns and votes each task's texts; returns the estimator itself.

        ``data``: columns ``task, text`` (str texts; a ``worker`` column may be
        there and is not read). Sets ``texts_``: a Series task -> text, named
        ``agg_text``, tasks sorted.
        """
        if not callable(self.tokenizer) or not callable(self.detokenizer):
            raise InvalidArgument("ROVER: tokenizer and detokenizer must be callables")
        # crowd-kit's ROVER never reads `worker`: it may be absent, and its ids (NaN included) are
        # not checked, so a frame crowd-kit aggregates is aggregated here too.
        df = frame(data, ("task", "text"), "ROVER")
        no_missing(df, ("task", "text"), "ROVER")
        texts = df["text"].to_numpy()
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise InvalidArgument(f"ROVER: text at row {i} is {type(t).__name__}, not str")
        try:
            task_codes, tasks = pd.factorize(df["task"], sort=True)
        except TypeError as e:
            raise InvalidArgument(f"ROVER: task ids must be sortable: {e}") from None
        order = np.argsort(task_codes, kind="stable")
        vocab: dict[str, int] = {"": 0}
        tokens: list[int] = []
        hyp_start = [0]
        rows: Any = order if self.silent else tqdm(order, desc="ROVER")
        for r in rows:
            toks = self.tokenizer(texts[r])
            if isinstance(toks, str) or not isinstance(toks, Iterable):
                raise InvalidArgument(f"ROVER: the tokenizer returned {type(toks).__name__} for row {int(r)}, "
                                      "not a list of str tokens")
            for tok in toks:
                if not isinstance(tok, str):
                    raise InvalidArgument(f"ROVER: the tokenizer returned {type(tok).__name__} for row {int(r)}, not str")
                tokens.append(vocab.setdefault(tok, len(vocab)))
            hyp_start.append(len(tokens))
        words = list(vocab)
        # The vote's tie-break: max over (count, len(token), token).
        by = sorted(range(len(words)), key=lambda c: (len(words[c]), words[c]))
        rank = np.empty(len(words), dtype=np.int64)
        rank[by] = np.arange(len(words))
        counts = np.bincount(task_codes, minlength=len(tasks))
        task_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        out, out_start = _core.consensus_families.rover(np.asarray(tokens, dtype=np.int32), np.asarray(hyp_start, dtype=np.int64),
                                                         task_start, rank)
        result = [self.detokenizer([words[c] for c in out[out_start[t]:out_start[t + 1]] if c != 0]) for t in range(len(tasks))]
        self.texts_ = pd.Series(result, index=pd.Index(tasks, name="task"), name="agg_text")
        return self

    def fit_predict(self, data: pd.DataFrame) -> pd.Series[Any]:
        """``fit(data)``, then ``texts_``: a Series task -> text, named ``agg_text``."""
        return self.fit(data).texts_

    def __repr__(self) -> str:
        return f"ROVER(tokenizer={self.tokenizer!r}, detokenizer={self.detokenizer!r}, silent={self.silent!r})"


def _encode(encoder: Callable[[str], Any], texts: pd.Series[Any], owner: str) -> pd.Series[Any]:
    if not callable(encoder):
        raise InvalidArgument(f"{owner}: encoder must be a callable text -> 1-d numpy array")
    out = []
    for row, t in zip(texts.index, texts):
        v = encoder(t)
        try:
            out.append(np.asarray(v, dtype=np.float64).ravel())
        except (TypeError, ValueError):  # (a bare "could not convert string to float" named no row)
            raise InvalidArgument(f"{owner}: encoder returned {type(v).__name__} for the text of row {_plain(row)!r}, "
                                  "not a vector of numbers") from None
    return pd.Series(out, index=texts.index, dtype=object)


def _as_encoder(encoder: Any) -> Callable[[str], Any]:
    """A callable for crowd-kit's encoder argument; a tagger ``Embedder`` (fitted) works via its transform."""
    from ..match import Embedder
    if isinstance(encoder, Embedder):
        emb = encoder

        def call(text: str) -> np.ndarray:
            m = emb.transform([text])
            return np.asarray(m.toarray() if hasattr(m, "toarray") else m, dtype=np.float64).ravel()
        return call
    return encoder


class _TextEmbeddings(Serialized):
    """An embedding aggregator over encoded texts (crowd-kit's TextRASA/TextHRRASA).

    The parameters live on this object; each fit builds a fresh inner RASA/HRRASA
    from them and keeps it, so a parameter set after construction takes effect, and a
    ``copy.copy`` fitted on other data never changes the original's results."""

    _owner = ""
    _est: RASA

    def __init__(self, encoder: Callable[[str], Any]) -> None:
        self.encoder = encoder

    def _make(self) -> RASA:
        raise NotImplementedError

    @property
    def loss_history_(self) -> list[float]:
        """The inner RASA/HRRASA's ``loss_history_`` of the last fit."""
        return self._fitted().loss_history_

    def _fitted(self) -> RASA:
        est = self.__dict__.get("_est")
        if est is None:
            raise AttributeError(f"{self._owner} is not fitted: call fit(data) first")
        return est

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name.endswith("_"):  # fitted attributes come from the inner estimator of the last fit
            return getattr(self._fitted(), name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _new_est(self) -> RASA:
        est = self._make()
        est._owner_name = self._owner
        return est

    def _data(self, data: pd.DataFrame) -> pd.DataFrame:
        df = frame(data, ("task", "worker", "text"), self._owner)
        no_missing(df, ("task", "worker", "text"), self._owner)
        bad = [i for i, t in enumerate(df["text"].to_numpy()) if not isinstance(t, str)]
        if bad:
            raise InvalidArgument(f"{self._owner}: text at row {bad[0]} is {type(df['text'].iloc[bad[0]]).__name__}, not str")
        out = df.rename(columns={"text": "output"})
        return out.assign(embedding=_encode(_as_encoder(self.encoder), out["output"], self._owner))

    def _true(self, true_objects: pd.Series[Any] | None) -> pd.Series[Any] | None:
        if true_objects is None:
            return None
        if not isinstance(true_objects, pd.Series):
            raise InvalidArgument(f"{self._owner}: true_objects must be a pandas Series task -> text")
        return _encode(_as_encoder(self.encoder), true_objects, self._owner)

    def _run(self, method: str, data: pd.DataFrame, true_objects: pd.Series[Any] | None) -> Any:
        """``method`` of a fresh inner estimator on the encoded ``data``; kept once it succeeded."""
        est = self._new_est()
        out = getattr(est, method)(self._data(data), self._true(true_objects))
        self._est = est
        self.__dict__.pop("texts_", None)  # the previous fit's
        return out

    def fit(self, data: pd.DataFrame, true_objects: pd.Series[Any] | None = None) -> Any:
        """Encodes the texts and fits a fresh inner RASA/HRRASA on them; returns the estimator itself.

        ``data``: columns ``task, worker, text`` (str texts). ``true_objects``:
        optional Series task -> true text, encoded and fixed as those tasks'
        aggregates. The fitted attributes (``skills_``, ``loss_history_``,
        ``aggregated_embeddings_`` ...) are the inner estimator's; ``texts_``
        of an earlier fit is dropped (``fit_predict`` sets it).
        """
        self._run("fit", data, true_objects)
        return self

    def fit_predict_scores(self, data: pd.DataFrame, true_objects: pd.Series[Any] | None = None) -> pd.DataFrame:
        """``fit(data, true_objects)``, then every answer's distance to its task's
        aggregate: a DataFrame indexed by task (``output`` = the text, ``score``,
        ``embedding``)."""
        return self._run("fit_predict_scores", data, true_objects)

    def fit_predict(self, data: pd.DataFrame, true_objects: pd.Series[Any] | None = None) -> pd.Series[Any]:
        """``fit(data, true_objects)``, then each task's text closest to its
        aggregate: ``texts_``, a Series task -> text named ``agg_text``."""
        self.texts_ = self._run("fit_predict", data, true_objects)["output"].rename("agg_text")
        return self.texts_


class TextRASA(_TextEmbeddings):
    """RASA over sentence embeddings: ``encoder`` (any callable text -> 1-d
    array, e.g. ``SentenceTransformer(...).encode``, or a fitted tagger
    :class:`~tagger.match.Embedder`) encodes every text, :class:`RASA`
    aggregates, and each task gets the text closest to its aggregate.
    ``true_objects`` (Series task -> text) is optional here; crowd-kit
    requires the argument but fails on any Series (it tests its truth value).
    Fitted: ``texts_`` (by ``fit_predict``), and RASA's attributes
    (``skills_``, ``loss_history_`` ...)."""

    _owner = "TextRASA"

    def __init__(self, encoder: Callable[[str], Any], n_iter: int = 100, tol: float = 1e-5, alpha: float = 0.05) -> None:
        super().__init__(encoder)
        self.n_iter, self.tol, self.alpha = n_iter, tol, alpha

    def _make(self) -> RASA:
        return RASA(self.n_iter, self.tol, self.alpha)

    def __repr__(self) -> str:
        return f"TextRASA(encoder={self.encoder!r}, n_iter={self.n_iter!r}, tol={self.tol!r}, alpha={self.alpha!r})"


class TextHRRASA(_TextEmbeddings):
    """HRRASA over sentence embeddings and the texts themselves (local
    reliability from embedding and ``output_similarity`` agreement); same
    ``encoder`` and ``true_objects`` rules as :class:`TextRASA`."""

    _owner = "TextHRRASA"

    def __init__(self, encoder: Callable[[str], Any], n_iter: int = 100, tol: float = 1e-5, lambda_emb: float = 0.5,
                 lambda_out: float = 0.5, alpha: float = 0.05, calculate_ranks: bool = False,
                 output_similarity: Callable[[str, Any], float] = glue_similarity) -> None:
        super().__init__(encoder)
        self.n_iter, self.tol, self.lambda_emb, self.lambda_out = n_iter, tol, lambda_emb, lambda_out
        self.alpha, self.calculate_ranks, self.output_similarity = alpha, calculate_ranks, output_similarity

    def _make(self) -> HRRASA:
        return HRRASA(self.n_iter, self.tol, self.lambda_emb, self.lambda_out, self.alpha, self.calculate_ranks,
                      self.output_similarity)

    def __repr__(self) -> str:
        return f"TextHRRASA(encoder={self.encoder!r}, {repr(self._make())[len('HRRASA('):]}"
