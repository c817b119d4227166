"""The verification pipeline: Verdict, CheckResult, user checks, Verifier and check()."""

from __future__ import annotations

import decimal
import functools
import importlib.resources
import io
import json
import math
import re
import sys
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional, Sequence

import numpy as np

from .. import crypto
from .._fork import renew_after_fork
from .._optional import require
from .._core import verify as _v
from ..errors import InvalidArgument, InvalidKey, TaggerError
from . import _tabular
from ._reasons import ACCEPTED, IGNORE, NEEDS_REVIEW, REJECTED
from ._receipt import Receipt, score_name
from ._registry import NearText, shingle_text, sketch_of, words_of
from ._spec import VerifySpec, _unicode_text, as_spec, has_letters, normalize_kind

# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: ``reason`` is None when it passed; ``severity`` is the
    status it asks for when it failed (None: the reason's default)."""

    name: str
    score: Optional[float] = None
    reason: Optional[str] = None
    severity: Optional[str] = None
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.reason is None

    def __repr__(self) -> str:
        s = "" if self.score is None else f", score={self.score:.4g}"
        r = "" if self.reason is None else f", reason={self.reason!r}"
        return f"CheckResult({self.name!r}{s}{r})"


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`check`: ``status`` is ``"rejected"`` if any failed check's
    severity is rejected, else ``"needs_review"`` if any is needs_review, else
    ``"accepted"``; ``reasons`` lists every failed check's code in pipeline order;
    ``scores`` every measured number; ``details`` a human message per reason."""

    status: str
    reasons: tuple[str, ...]
    scores: dict[str, float]
    details: dict[str, str]
    kind: str
    sha256: bytes
    checks: tuple[CheckResult, ...] = field(repr=False, default=())
    features: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED

    def receipt(self, item_id: str, ciphertext_hash: bytes, signing_key: crypto.SigningKey,
                task_id: str = "") -> Receipt:
        """The signed :class:`Receipt` of this verdict for the sealed item."""
        return Receipt.create(self, item_id=item_id, ciphertext_hash=ciphertext_hash,
                              signing_key=signing_key, task_id=task_id)

    def __repr__(self) -> str:
        r = f", reasons={list(self.reasons)}" if self.reasons else ""
        return f"Verdict({self.status!r}{r}, kind={self.kind!r})"

    def _repr_html_(self) -> str:
        import html
        color = {ACCEPTED: "#2e7d32", NEEDS_REVIEW: "#ef6c00", REJECTED: "#c62828"}[self.status]
        rows = "".join(f"<tr><td>{html.escape(c)}</td><td>{html.escape(self.details.get(c, ''))}</td></tr>"
                       for c in self.reasons)
        sc = ", ".join(f"{k}={v:.4g}" for k, v in self.scores.items())
        return (f"<div><b style='color:{color}'>{self.status}</b> ({html.escape(self.kind)}) "
                f"<small>{html.escape(sc)}</small><table>{rows}</table></div>")


# -------------------------------------------------------------- user checks


class Item:
    """What a user check sees: the raw ``data`` and ``kind``, plus whatever the
    pipeline decoded (``text``, ``image`` (PIL, RGB/L), ``gray`` (uint8 array),
    ``value`` (parsed JSON), ``records`` (JSON objects or CSV rows as dicts)) and the spec."""

    __slots__ = ("data", "kind", "spec", "text", "image", "gray", "value", "records")

    def __init__(self, data: bytes, kind: str, spec: VerifySpec) -> None:
        self.data, self.kind, self.spec = data, kind, spec
        self.text: Optional[str] = None
        self.image: Any = None  # a PIL image (Pillow is optional)
        self.gray: Optional[np.ndarray] = None
        self.value: Any = None
        self.records: Optional[Sequence[Mapping[str, Any]]] = None

    def __repr__(self) -> str:
        return f"Item(kind={self.kind!r}, {len(self.data)} bytes)"


def _plain_check(fn: Callable[[Item], Any], position: int) -> "Check":
    """A callable given as it is in ``VerifySpec(checks=)``, named as :class:`Check` names it, but
    a lambda or functools.partial ``check_<i>`` after its place in the list (a lambda was reported
    as ``custom:s_lambda_``, a partial as ``custom:partial``)."""
    if getattr(fn, "__name__", None) == "<lambda>" or isinstance(fn, functools.partial):
        return Check(fn, f"check_{position}")
    return Check(fn)  # its own name, or its class's (a check object's reason code stays as it was)


class Check:
    """A user check around any callable ``fn(item) -> result``, where result is:
    ``None``/``True`` (pass), ``False`` (fail), a number (the score; fails below
    ``threshold``), ``(score, reason or None)``, or a :class:`CheckResult`.
    ``kinds`` limits it to some kinds; a failure reports ``reason`` (default
    ``"custom:<name>"``) with ``severity``. An exception inside ``fn`` becomes the
    reason ``custom_check_error`` (needs_review), never an exception in the caller."""

    def __init__(self, fn: Callable[[Item], Any], name: Optional[str] = None, *, threshold: Optional[float] = None,
                 reason: Optional[str] = None, severity: str = REJECTED, kinds: Optional[Iterable[str]] = None) -> None:
        if not callable(fn):
            raise InvalidArgument(f"a check must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = score_name(name or getattr(fn, "__name__", None) or type(fn).__name__)
        self.reason = reason or f"custom:{self.name}"
        if not _v.valid_reason_code(self.reason):
            raise InvalidArgument(f"reason {self.reason!r} is not a reason code ([a-z][a-z0-9_.:-]{{0,63}})")
        if severity not in (NEEDS_REVIEW, REJECTED):
            raise InvalidArgument(f"severity must be 'needs_review' or 'rejected', got {severity!r}")
        self.severity, self.threshold = severity, threshold
        self.kinds = None if kinds is None else frozenset(normalize_kind(k) for k in kinds)

    def evaluate(self, item: Item) -> Any:
        return self.fn(item)

    def __call__(self, item: Item) -> Optional[CheckResult]:
        if self.kinds is not None and item.kind not in self.kinds:
            return None
        try:
            return self._interpret(self.evaluate(item))
        except Exception as e:  # a user's bug (raised, or an unusable result) must not take down the upload loop
            return CheckResult(self.name, None, "custom_check_error", NEEDS_REVIEW, f"{self.name}: {type(e).__name__}: {e}"[:300])

    def _interpret(self, out: Any) -> CheckResult:
        if isinstance(out, CheckResult):
            # Checked here, not when a receipt is signed: a bad code or severity is the check's error.
            if out.reason is not None and not _v.valid_reason_code(str(out.reason)):
                return CheckResult(self.name, out.score, "custom_check_error", NEEDS_REVIEW,
                                   f"{self.name} returned a bad reason {out.reason!r}")
            if out.severity is not None and out.severity not in (NEEDS_REVIEW, REJECTED, ACCEPTED):
                return CheckResult(self.name, out.score, "custom_check_error", NEEDS_REVIEW,
                                   f"{self.name} returned a bad severity {out.severity!r}")
            if out.score is not None and not isinstance(out.score, (int, float)):
                raise TypeError(f"score {out.score!r} is not a number")
            if out.score is not None:
                try:
                    finite = math.isfinite(float(out.score))
                except OverflowError:  # an int beyond any float (10**400): Receipt.create raised on it
                    finite = False
                if not finite:
                    return CheckResult(self.name, None, "custom_check_error", NEEDS_REVIEW,
                                       f"{self.name} returned the score {str(out.score)[:40]}, not a finite number")
            if out.severity == ACCEPTED and out.reason is not None:
                # "accepted" is the severity that lets a reason pass (as severity={"code": "accepted"}
                # does): an accepted verdict listing the reason could not be receipted, and every
                # upload of the task raised after its data was sealed.
                return CheckResult(self.name, out.score, None, None, out.detail)
            return out
        if isinstance(out, np.bool_):  # numpy comparisons: np.bool_(False) is not False
            out = bool(out)
        if out is None or out is True:
            return CheckResult(self.name, 1.0)
        if out is False:
            return CheckResult(self.name, 0.0, self.reason, self.severity, f"{self.name} failed")
        if isinstance(out, tuple) and len(out) == 2:
            score, reason = out
            score = None if score is None else float(score)
            if reason is None:
                return CheckResult(self.name, score)
            if not _v.valid_reason_code(str(reason)):
                return CheckResult(self.name, score, "custom_check_error", NEEDS_REVIEW, f"{self.name} returned a bad reason {reason!r}")
            return CheckResult(self.name, score, str(reason), self.severity, f"{self.name} failed")
        try:
            score = float(np.asarray(out).reshape(-1)[0]) if not isinstance(out, (int, float)) else float(out)
        except (TypeError, ValueError, IndexError):
            return CheckResult(self.name, None, "custom_check_error", NEEDS_REVIEW,
                               f"{self.name} returned {type(out).__name__}, not a bool, number, tuple or CheckResult")
        if not math.isfinite(score):
            # NaN failed "score >= threshold" and rejected the upload, which is then not stored:
            # a broken model is the check's error, for the owner to review.
            return CheckResult(self.name, None, "custom_check_error", NEEDS_REVIEW,
                               f"{self.name} returned the score {score}, not a finite number")
        if self.threshold is not None and not (score >= self.threshold):
            return CheckResult(self.name, score, self.reason, self.severity, f"{self.name} score {score:.4g} < {self.threshold}")
        return CheckResult(self.name, score)

    def __repr__(self) -> str:
        return f"Check({self.name!r}, reason={self.reason!r}, severity={self.severity!r})"


class ModelCheck(Check):
    """A trained model as a check: ``featurize(item)`` gives one sample (default: the
    text for text uploads), the score is the model's probability of the "good" class
    (scikit-learn ``predict_proba`` column of ``positive``, default the last column), failing
    below ``threshold``. A torch or any other callable model may return that probability (one
    number) or one row of class probabilities, read like ``predict_proba``: the column
    ``positive`` (an int position, as a callable has no ``classes_``), default the last one.
    Before 2026-12-07 a callable's ``[[p_bad, p_good]]`` was read as ``p_bad``. Any other
    shape, or a score that is not a finite number, is ``custom_check_error`` (needs review).
    For example, with a fitted scikit-learn text pipeline ``pipe`` whose class 1 is "fine"::

        ok = ModelCheck(pipe, name="toxicity_ok", threshold=0.5, positive=1)
        tg.verify.check(b"thanks, that helped", "text", VerifySpec(checks=[ok]))
    """

    def __init__(self, model: Any, featurize: Optional[Callable[[Item], Any]] = None, name: Optional[str] = None, *,
                 threshold: float = 0.5, positive: Any = None, reason: Optional[str] = None,
                 severity: str = REJECTED, kinds: Optional[Iterable[str]] = None) -> None:
        if not (hasattr(model, "predict_proba") or callable(model)):
            raise InvalidArgument(f"model must have predict_proba or be callable, got {type(model).__name__}")
        self.model, self.featurize, self.positive = model, featurize, positive
        super().__init__(self.evaluate, name or type(model).__name__, threshold=threshold, reason=reason,
                         severity=severity, kinds=kinds if kinds is not None else (None if featurize else ["text"]))

    def evaluate(self, item: Item) -> float:
        x = self.featurize(item) if self.featurize else item.text
        if hasattr(self.model, "predict_proba"):
            proba = np.asarray(self.model.predict_proba([x] if not isinstance(x, np.ndarray) or x.ndim == 1 else x))
            col = -1
            if self.positive is not None:
                if not hasattr(self.model, "classes_"):
                    raise InvalidArgument(f"positive={self.positive!r} needs the model's classes_ (scikit-learn's), and "
                                          f"{type(self.model).__name__} has none: leave positive unset to take the "
                                          "last predict_proba column")
                classes = list(self.model.classes_)
                if self.positive not in classes:
                    raise InvalidArgument(f"positive class {self.positive!r} not in the model's classes {classes}")
                col = classes.index(self.positive)
            return float(proba[0, col])
        out = self.model(x)
        if hasattr(out, "detach"):
            out = out.detach().cpu().numpy()
        arr = np.asarray(out, dtype=float)
        if arr.size == 1:
            return float(arr.reshape(-1)[0])
        row = arr.reshape(-1) if arr.ndim == 1 else arr[0] if arr.ndim == 2 and arr.shape[0] == 1 else None
        if row is None:
            raise ValueError(f"the model returned an array of shape {arr.shape}: one probability, or one row of "
                             "class probabilities, is read")
        if self.positive is None:
            return float(row[-1])
        if isinstance(self.positive, bool) or not isinstance(self.positive, (int, np.integer)) \
                or not -len(row) <= int(self.positive) < len(row):
            raise InvalidArgument(f"positive={self.positive!r} must be a column position of the model's {len(row)} "
                                  "outputs (a callable model has no classes_)")
        return float(row[int(self.positive)])


# --------------------------------------------------------------- text model


# Relevance = (1 - DENSE_SHARE) * sparse cosine + DENSE_SHARE * dense cosine (each the max over
# the task's references); the "auto" threshold is calibrated per task (TextModel.calibrate).
DENSE_SHARE = 0.5
BACKGROUND_QUANTILE = 0.85   # the threshold sits at this quantile of generic text's relevance...
ON_TOPIC_MARGIN = 0.9        # ...but at most this share of the examples' median leave-one-out score
CALIBRATION_CACHE = 256      # calibrated tasks kept per TextModel
# The median log-likelihood per character of the real English text the default gibberish threshold
# was calibrated on (banking77 test, docs/verification.md "Calibration"): the threshold sits
# 1.43 nats below it. A task's own texts that are typically less likely than this (another
# language, a jargon) move the task's threshold down by the difference (TextModel.calibrate_gibberish).
GIBBERISH_TYPICAL_ENGLISH = -2.42


class TextModel:
    """The language model behind the gibberish and relevance checks: a sentencepiece
    unigram model (the matching module's, shipped as ``tagger/data/tokenizer.model``),
    the matching Embedder over it and, with ``dense=True`` (the default), the shipped
    :class:`tagger.match.StaticEmbedding`. ``TextModel.default()`` loads the shipped one once.

    Relevance is the max cosine similarity to the task's references (description and
    examples): ``(1 - DENSE_SHARE)`` times the sparse one plus ``DENSE_SHARE`` times the
    dense one. :meth:`calibrate` sets a task's ``"auto"`` threshold against a background of
    generic English shipped with the package (docs/verification.md, "Relevance")."""

    _default: Optional["TextModel"] = None
    _lock = threading.Lock()
    _background: Optional[list[str]] = None

    def __init__(self, model_bytes: bytes, dense: Any = True) -> None:
        from ..match import _dense, _dense_table
        core = _dense(dense)
        self._source = (bytes(model_bytes), _dense_table(dense))  # what pickle rebuilds it from
        if core is None:
            self._m = _v.TextModel.from_bytes(model_bytes)
        else:
            self._m = _v.TextModel.from_bytes_dense(model_bytes, core, DENSE_SHARE)
        self.dense = core is not None
        self.model_size = len(model_bytes)
        self._calibrated: dict[tuple, float] = {}
        self._cal_lock = threading.Lock()
        renew_after_fork(self, "_cal_lock")

    def __reduce__(self) -> tuple[Any, ...]:
        # The shipped model by reference; any other from its bytes (its table pickles itself).
        if self is TextModel._default:
            return (_default_text_model, ())
        model_bytes, table = self._source
        return (TextModel, (model_bytes, table if table is not None else False))

    @classmethod
    def default(cls) -> "TextModel":
        with cls._lock:
            if cls._default is None:
                path = importlib.resources.files("tagger").joinpath("data", "tokenizer.model")
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    raise InvalidArgument(f"the shipped tokenizer model is missing at {path}") from None
                cls._default = cls(data)
            return cls._default

    @classmethod
    def from_file(cls, path: str, dense: Any = True) -> "TextModel":
        with open(path, "rb") as f:
            return cls(f.read(), dense)

    @classmethod
    def background(cls) -> list[str]:
        """The shipped generic sentences (WordNet 3.0 usage examples, scripts/distill_embeddings.py)."""
        if cls._background is None:
            path = importlib.resources.files("tagger").joinpath("data", "background.txt")
            cls._background = [t for t in path.read_text(encoding="utf-8").splitlines() if t]
        return cls._background

    def score(self, text: str, references: Sequence[str] = ()) -> Any:
        """Scores with ``log_prob_per_char``, ``mean_log_prob``, ``unknown_share``, ``pieces``
        and ``relevance`` (max cosine similarity to ``references``)."""
        return self._m.score(text, list(references))

    def score_many(self, texts: Sequence[str], references: Sequence[str] = (), threads: int = 0) -> list:
        return self._m.score_many(texts, list(references), threads)

    def calibrate(self, references: Sequence[str], examples: Sequence[str] = ()) -> float:
        """The relevance threshold for a task whose references are ``references`` (description
        first, then ``examples``, as :attr:`VerifySpec.references`).

        Generic text should fall below it: the threshold is the ``BACKGROUND_QUANTILE``
        quantile of the shipped background's relevance to the references. On-topic text should
        stay above it: each example is scored against the other references (leave one out),
        and the threshold is lowered to ``ON_TOPIC_MARGIN`` times the median of those scores
        when that is lower (a task whose own examples look like generic text must not flag
        its typical upload). Cached per task."""
        refs = [r for r in references if r.strip()]
        examples = [e for e in examples if e.strip()]  # a blank example's score of 0 would set the cut to 0
        key = (tuple(refs), tuple(examples))
        with self._cal_lock:
            hit = self._calibrated.get(key)
        if hit is not None:
            return hit
        bg = np.array([s.relevance for s in self._m.score_many(self.background(), refs, 0)])
        cut = float(np.quantile(bg, BACKGROUND_QUANTILE)) if len(bg) else 0.0
        loo = []
        for e in examples:
            rest = list(refs)
            if e in rest:
                rest.remove(e)
            if rest:
                loo.append(self._m.score(e, rest).relevance)
        if loo:
            cut = min(cut, ON_TOPIC_MARGIN * float(np.median(loo)))
        cut = round(cut, 4)
        with self._cal_lock:
            if len(self._calibrated) >= CALIBRATION_CACHE:
                self._calibrated.pop(next(iter(self._calibrated)))
            self._calibrated[key] = cut
        return cut

    def calibrate_gibberish(self, threshold: float, texts: Sequence[str]) -> float:
        """The gibberish threshold (nats per character) for a task whose own texts (description and
        examples, :attr:`VerifySpec.own_texts`) are ``texts``.

        ``threshold`` is set for English: it sits ``GIBBERISH_TYPICAL_ENGLISH - threshold`` nats
        below typical English text. The model is English, so a task's text in another language
        (or a jargon) is less likely under it: German scores a median of -3.8 nats per character,
        and the English threshold rejected half of the genuine uploads of a German task, two of its
        own three examples included. The task's own texts say how likely its typical text is: when
        their median score is below typical English, the threshold moves down by the difference
        (the same distance below the task's typical text as below typical English). It is never
        raised, and the texts the gibberish check would not judge (not mostly Latin) do not
        count. Cached per task."""
        key = ("gibberish", float(threshold), tuple(texts))
        with self._cal_lock:
            hit = self._calibrated.get(key)
        if hit is not None:
            return hit
        scores = []
        for t in texts:
            st = _v.text_stats(t.encode("utf-8"))
            if st.letters == 0 or st.script_fraction(["Latin"]) < 0.5:
                continue
            scores.append(self.score(_gibberish_view(t, st.chars) or t, []).log_prob_per_char)
        cut = float(threshold)
        if scores and min(scores) < cut:  # the English threshold would reject the task's own text
            cut = round(cut + min(0.0, float(np.median(scores)) - GIBBERISH_TYPICAL_ENGLISH), 4)
        with self._cal_lock:
            if len(self._calibrated) >= CALIBRATION_CACHE:
                self._calibrated.pop(next(iter(self._calibrated)))
            self._calibrated[key] = cut
        return cut

    def __repr__(self) -> str:
        return f"TextModel(sentencepiece, {self.model_size} bytes{', dense' if self.dense else ''})"


def _default_text_model() -> "TextModel":
    return TextModel.default()


# ---------------------------------------------------------------- pipeline

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image", "PNG"), (b"\xff\xd8\xff", "image", "JPEG"), (b"GIF87a", "image", "GIF"),
    (b"GIF89a", "image", "GIF"), (b"II*\x00", "image", "TIFF"), (b"MM\x00*", "image", "TIFF"),
    (b"%PDF-", "document", "PDF"), (b"PK\x03\x04", "archive", "ZIP"), (b"\x1f\x8b", "archive", "gzip"),
    (b"\x7fELF", "executable", "ELF"), (b"OggS", "audio", "Ogg"), (b"fLaC", "audio", "FLAC"), (b"ID3", "audio", "MP3"),
)


def sniff(data: bytes) -> Optional[tuple[str, str]]:
    """(kind, format) from magic bytes, or None when nothing is recognised."""
    if data[:4] == b"RIFF" and len(data) >= 12:
        return {b"WAVE": ("audio", "WAV"), b"WEBP": ("image", "WEBP")}.get(data[8:12])
    for magic, kind, fmt in _MAGIC:
        if data.startswith(magic):
            return kind, fmt
    return None


def _looks_like_text(data: bytes) -> bool:
    try:
        s = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        try:  # a cut in the middle of a character at the 4096 boundary
            s = data[:4093].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return "\x00" not in s


def _plain_text(data: bytes) -> bool:
    """UTF-8 (in the first 4 KiB) without control characters other than whitespace."""
    if not _looks_like_text(data):
        return False
    head = data[:4096]
    return not any(b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D) or b == 0x7F for b in head)


class _Run:
    """Collects results for one item and knows the spec's severities."""

    def __init__(self, spec: VerifySpec) -> None:
        self.spec = spec
        self.results: list[CheckResult] = []
        self.scores: dict[str, float] = {}
        self.stopped = False
        self.exact_duplicate = False  # then a near-duplicate finding would only repeat it
        self.registry_seen: Optional[int] = None  # registry additions when the near copies were looked up
        self.prompt = ""  # the slot's own prompt (check(prompt=)): a copy of it is no upload either

    def score(self, name: str, value: float) -> None:
        self.scores[name] = float(value)

    def fail(self, name: str, reason: str, detail: str, score: Optional[float] = None, stop: bool = False) -> None:
        self.results.append(CheckResult(name, score, reason, None, detail))
        self.stopped = self.stopped or stop

    def duplicate(self, owner: tuple[str, str], task_id: str, same: str, note: str = "") -> None:
        """An exact copy (``same``: the same bytes, or the same content) of ``owner``'s upload."""
        self.exact_duplicate = True
        self.fail("exact_duplicate", "duplicate_in_task" if owner[0] == task_id else "duplicate_in_network",
                  f"{same} as item {owner[1]!r} of task {owner[0]!r}{note}")

    def near_text(self, near: Sequence[Any]) -> None:
        """The first of a registry's near copies (:class:`NearText`, or a registry of one's own
        giving (task_id, item_id, Jaccard) as ``find_text`` does)."""
        if near and "near_duplicate" not in self.reasons():
            c = near[0] if isinstance(near[0], NearText) else NearText._of(near[0][:2], "jaccard", float(near[0][2]),
                                                                           f"estimated Jaccard {near[0][2]:.2f} with")
            name = "near_duplicate" if c.rule == "jaccard" else f"near_duplicate_{c.rule}"
            self.score(name, c.score)
            self.fail(name, "near_duplicate", c.detail, c.score)

    def near_image(self, near: list[tuple[str, str, int]]) -> None:
        if near and "near_duplicate_image" not in self.reasons():
            t, i, d = near[0]
            self.score("near_duplicate_image", d)
            self.fail("near_duplicate", "near_duplicate_image", f"pHash {d} bits from item {i!r} of task {t!r}", d)

    def reasons(self) -> set[Optional[str]]:
        return {r.reason for r in self.results}

    def add(self, r: CheckResult) -> None:
        self.results.append(r)
        if r.score is not None:
            self.scores[r.name] = r.score

    def verdict(self, kind: str, sha: bytes, features: dict) -> Verdict:
        reasons, details, worst = [], {}, ACCEPTED
        rank = {ACCEPTED: 0, NEEDS_REVIEW: 1, REJECTED: 2}
        for r in self.results:
            if r.reason is None:
                continue
            sev = r.severity if r.severity is not None and r.reason not in self.spec.severity else self.spec.severity_of(r.reason)
            if sev == IGNORE:
                continue
            if r.reason not in details:
                reasons.append(r.reason)
                details[r.reason] = r.detail
            worst = max(worst, sev, key=rank.__getitem__)
        return Verdict(worst, tuple(reasons), dict(self.scores), details, kind, sha, tuple(self.results), features)


# Shingle sets of tasks' own texts, for the check that an upload does not copy one of them.
TASK_TEXT_CACHE = 256


class _OwnText(NamedTuple):
    """One of the task's own texts (or the upload compared with them), in the forms the copy
    rules compare (:func:`_own_text`)."""

    name: str  # what it is ("the task's example 0 (...)")
    shingles: tuple[frozenset, frozenset]  # 5-grams of its sketch and of its shingle_text (_own_text)
    sketch: str  # sketch_text
    words: frozenset[str]  # distinct words


_task_text_sets: dict[tuple[str, ...], list[_OwnText]] = {}
_task_text_lock = threading.Lock()
renew_after_fork(sys.modules[__name__], "_task_text_lock")


def _own_text(name: str, text: str) -> _OwnText:
    """``text`` in the forms the copy rules compare, normalised once (:func:`shingle_text`).

    Its character 5-gram hashes in two forms: of its letters and digits alone (:func:`sketch_text`:
    a copy whose spaces were replaced by blank, invisible or punctuation characters is found) and
    with its spaces (a one-letter edit of a short text changes fewer of them, half of such copies
    of Banking77 questions were found against 37 % by the letters alone); a copy by either form is
    a copy. Its distinct words: runs of letters and digits, case-folded."""
    plain = shingle_text(text)
    sketch = sketch_of(plain)
    shingles = (frozenset(_v.shingle_hashes(sketch, 5).tolist()), frozenset(_v.shingle_hashes(plain, 5).tolist()))
    return _OwnText(name, shingles, sketch, words_of(plain))


def _task_texts(spec: VerifySpec) -> list[_OwnText]:
    """The task's own texts (its description and examples; a collection task's item prompts are
    its examples) as (what it is, its shingles, its sketch), cached per task."""
    d = spec.description.strip()
    desc = bool(d) and has_letters(d)
    key = ((d,) if desc else ("",)) + tuple(spec.examples)  # "" first: no description
    if len(key) == 1 and not desc:
        return []
    with _task_text_lock:
        hit = _task_text_sets.get(key)
    if hit is not None:
        return hit
    out = [_own_text("the task's description", d)] if desc else []
    out += [_own_text(f"the task's example {i} ({e[:40]!r})", e) for i, e in enumerate(spec.examples)]
    with _task_text_lock:
        if len(_task_text_sets) >= TASK_TEXT_CACHE:
            _task_text_sets.pop(next(iter(_task_text_sets)))
        _task_text_sets[key] = out
    return out


def _prompt_text(what: str, prompt: Any) -> None:
    """A ``prompt`` is a str that can be encoded (a lone surrogate raised out of the shingling)."""
    if not isinstance(prompt, str):
        raise InvalidArgument(f"{what} must be a str, got {type(prompt).__name__}")
    _unicode_text(what, prompt)


def _closest(pairs: Iterable[tuple[str, frozenset, frozenset]], threshold: float) -> tuple[Optional[str], float]:
    """The name of the (name, upload's set, task text's set) whose Jaccard is the highest, at
    least ``threshold``, and that Jaccard; (None, 0.0) when none reaches it."""
    best, j = None, 0.0
    for name, up, own in pairs:
        n, m = len(up), len(own)
        if n < threshold * m or m < threshold * n:  # J <= min / max
            continue
        inter = len(up & own)
        if n + m - inter == 0:  # both empty (fillers only): nothing to compare (ZeroDivisionError lost the batch)
            continue
        x = inter / (n + m - inter)
        if x >= threshold and x > j:
            best, j = name, x
    return best, j


def _task_text_copy(spec: VerifySpec, text: str, run: "_Run") -> None:
    """``copies_task_text`` (rejected) when ``text`` is a copy or near copy of the task's own
    description or of an example (relevance scored such a copy at or near 1.0: it was accepted
    and paid). The rule of near-duplicate uploads: the same normalisation and character 5-grams,
    Jaccard >= the registry's ``text_threshold`` (0.8 without a registry). A task has few texts,
    so the Jaccard is exact (the registry's lower LSH cutoff allows for MinHash's estimation error)."""
    own = _task_texts(spec)
    p = run.prompt.strip()
    if p and has_letters(p) and p not in spec.examples:
        own = own + [_own_text("the slot's prompt", p)]
    if not own:
        return
    up = _own_text("the upload", text)
    threshold = float(getattr(spec.registry, "text_threshold", 0.8))
    best, j = _closest(((o.name, u, sh) for o in own for u, sh in zip(up.shingles, o.shingles)), threshold)
    if best is not None:
        run.score("task_text_jaccard", j)
        # Its own code, so that a task whose uploads should stay close to their prompts (spelling
        # correction, transcription) can set it to "ignore" and keep the check of copies of other
        # workers' uploads (near_duplicate).
        run.results.append(CheckResult("task_text", j, "copies_task_text", None,
                                       f"a copy of {best}: Jaccard {j:.2f} (the task's own text is no upload)"))
    elif not _edited_copy(own, up, run) and not _reordered_copy(own, up, run):
        _contained_copy(own, up, run)


# A text within this share of a task text's letters and digits in edits (at least one, for task
# texts of at least EDIT_MIN_LETTERS of them) is a copy of it.
EDIT_SHARE = 0.1
EDIT_MIN_LETTERS = 10


def _edited_copy(own: list[_OwnText], upload: _OwnText, run: "_Run") -> bool:
    """``copies_task_text`` for a task text with a few letters changed, added or removed. One
    edit changes up to five of the 5-grams of a 20-letter question: half of the one-letter edits
    of Banking77 questions passed the Jaccard rule and were paid. Measured (benchmarks/bench_verify.py
    part 5: 5 examples per intent, Banking77's 3,080 test questions as honest uploads): 100 % of
    one-letter, 96 % of two-letter and 74 % of three-letter edits of the examples are caught (57 %,
    15 % and 7.5 % by the Jaccard rule alone), and 0.39 % of the honest questions are flagged
    (0.29 % by the Jaccard rule alone) — each within a word of an example ("Can my friends send me
    money?" for "Can my friend send me money?")."""
    up = upload.sketch
    best, best_share, edits, letters = None, 2.0, 0, 0
    for name, _, own_sketch, _ in own:
        n = len(own_sketch)
        cap = max(1, int(EDIT_SHARE * n)) if n >= EDIT_MIN_LETTERS else 0
        if not n or abs(len(up) - n) > cap:
            continue
        d = _v.bounded_edit_distance(up, own_sketch, cap)
        if d <= cap and d / n < best_share:
            best, best_share, edits, letters = name, d / n, d, n
    if best is None:
        return False
    run.score("task_text_edits", edits)
    run.results.append(CheckResult("task_text", 1.0 - best_share, "copies_task_text", None,
                                   f"a copy of {best} with {edits} of its {letters} letters and digits "
                                   "changed (the task's own text is no upload)"))
    return True


# Word overlap (Jaccard of the distinct words) from which a text is a task text's words reordered.
WORD_OVERLAP = 0.9


def _reordered_copy(own: list[_OwnText], upload: _OwnText, run: "_Run") -> bool:
    """``copies_task_text`` for a task text's words in another order, give or take a word, or
    repeated ("arrive my card new When will?"): it changes most 5-grams and edits, and was accepted
    and paid. Word overlap (the Jaccard of the distinct words) >= ``WORD_OVERLAP``. Measured as
    ``_edited_copy``: every word-shuffled example is caught; 2 of the 3,080 honest questions
    (0.06 %) share 90 % of an example's words, 23 share 80 %."""
    best, overlap = _closest(((o.name, upload.words, o.words) for o in own), WORD_OVERLAP)
    if best is not None:
        run.score("task_text_words", overlap)
        run.results.append(CheckResult("task_text", overlap, "copies_task_text", None,
                                       f"a copy of {best} with its words reordered: {overlap:.0%} of the words "
                                       "shared (the task's own text is no upload)"))
    return best is not None


# Cut, joined or wrapped copies (contains_task_text): a task text whose 5-grams are at least
# CONTAINED inside the upload, of at least CONTAINED_MIN[0] 5-grams, when at most NOVEL_MAX of the
# upload's 5-grams are its own; or an upload whose 5-grams are at least CONTAINED inside one task
# text, of at least CONTAINED_MIN[1] 5-grams.
CONTAINED = 0.95
CONTAINED_MIN = (16, 12)
NOVEL_MAX = 0.5


def _contained_copy(own: list[_OwnText], upload: _OwnText, run: "_Run") -> None:
    """``contains_task_text`` (needs_review) for a task text cut short, joined to another or
    wrapped in a few words ("Hi! <example> Thanks!"): the length changes, so Jaccard, edits and
    word overlap all miss it, and it was accepted and paid. Measured (benchmarks/bench_verify.py
    part 5): 80 % of the examples cut to 70 % of their words, 99.7 % of two examples joined and
    95 % of the wrapped ones are caught; 0.6 % of the honest questions are flagged, most of
    them an example less a few words ("My top-up has failed." for "I think my top-up has
    failed."), so the owner reviews them rather than having them refused."""
    up = upload.shingles[0]
    if not up:
        return
    novel = len(up.difference(*(o.shingles[0] for o in own))) / len(up)
    for o in own:
        mine = o.shingles[0]
        if len(mine) >= CONTAINED_MIN[0] and novel <= NOVEL_MAX and len(mine & up) >= CONTAINED * len(mine):
            share = 1.0 - novel
            run.score("task_text_contained", share)
            run.results.append(CheckResult("task_text", share, "contains_task_text", None,
                                           f"{o.name} with a few words around it: {share:.0%} of the upload's 5-grams "
                                           "are the task's own text"))
            return
    for o in own:
        inside = len(o.shingles[0] & up) / len(up)
        if len(up) >= CONTAINED_MIN[1] and inside >= CONTAINED:
            run.score("task_text_contained", inside)
            run.results.append(CheckResult("task_text", inside, "contains_task_text", None,
                                           f"a part of {o.name}: {inside:.0%} of the upload's 5-grams are in it"))
            return


def _claim(spec: VerifySpec, key: bytes, item_id: str, register: bool, run: _Run, same: str, note: str = "") -> bool:
    """Looks ``key`` up in the registry (and, registering, holds it in the same step, so a copy
    checked by another thread meanwhile is its duplicate); whether this caller now holds it."""
    owner = spec.registry.claim(key, spec.task_id, item_id) if register else spec.registry.find_exact(key)
    if owner is not None:
        run.duplicate(owner, spec.task_id, same, note)
    return register and owner is None


# Below this share of the text's code points in words, the gibberish check scores the words alone
# (ordinary prose keeps ~0.95 of its characters in words and the spaces between them).
WORDS_SHARE = 0.8
# ... and only when that leaves at least this many code points out: a short "ok... ok... fine."
# is judged whole (its words alone are too few to score fairly), padding that dilutes is long.
MIN_PADDING = 32
_WORD = re.compile(r"[^\W_]+(?:['’.\-][^\W_]+)*")


def _words_view(text: str) -> str:
    """The words of ``text`` (letters and digits, with inner apostrophes, dots and hyphens)
    joined by single spaces, after NFKC and without invisible characters and marks."""
    return " ".join(_WORD.findall(shingle_text(text)))


def _gibberish_view(text: str, chars: int) -> Optional[str]:
    """The words alone when padding (emoji, dots, invisible or combining characters) is most of
    ``text`` (``chars`` code points): its cheap pieces diluted the per-character likelihood of
    random letters to an accepted score. None: the text is judged whole."""
    words = _words_view(text)
    if words and len(words) < WORDS_SHARE * chars and chars - len(words) >= MIN_PADDING:
        return words
    return None


_NUMBER = re.compile(r"[$£€¥#+\-]?\d[\d.,:/\-]*%?")
NUMBERS_MAX_SHARE = 0.5
"""The gibberish check judges a text without its numbers while they are at most this share of
its non-space characters (and at least 8 letters remain)."""


def _numbers_view(text: str) -> Optional[str]:
    """``text`` without its numbers (amounts, dates, codes: "$100", "45.99", "12/03"), for the
    gibberish check: the tokenizer's unigram model gives digits low likelihood, and 3.1 % of the
    Banking77 questions with a number were rejected as gibberish (0.2 % of those without; none
    of them with the numbers out, and shuffled or random text was still all flagged). None: no
    number, or numbers are most of the text (judged whole)."""
    if not any(ch.isdigit() for ch in text):
        return None
    digits = sum(ch.isdigit() for ch in text)
    if digits > NUMBERS_MAX_SHARE * sum(not ch.isspace() for ch in text):
        return None
    view = " ".join(_NUMBER.sub(" ", text).split())
    return view if sum(ch.isalpha() for ch in view) >= 8 else None


# A real encoder writes one scan (baseline) or about ten (progressive); libjpeg decodes every
# scan in full, so a 0.7 MB file repeating one scan thousands of times costs a minute of CPU.
MAX_JPEG_SCANS = 100


def _gray8(img: Any, Image: Any) -> Any:
    """8-bit grey of ``img`` as it is seen. Pillow's convert("L") clips 16-bit and 32-bit grey (a
    depth map of 500..4000 became all 255: blank); those are scaled from their full range."""
    # The float64 arithmetic runs over strips of rows: on whole images it took ~30 bytes a pixel
    # (a 0.4 MB 10000 x 10000 RGBA PNG peaked at 3.6 GB); per element it is the same, so are the bits.
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        raw = np.asarray(img)
        if img.mode.startswith("I;16"):
            top = 65535.0
        else:
            # The largest finite value: one +inf pixel made the top inf and every other pixel 0
            # (blank). A float image whose values are all in [0, 1] is read on that scale, as such
            # images are written (it read as 0..255 and came out black, "blank").
            finite = (part[np.isfinite(part)] for part in (raw[rows] for rows in _strip_slices(raw)))
            tops = [float(f.max()) for f in finite if f.size]
            largest = max(tops, default=0.0)
            top = 1.0 if img.mode == "F" and 0.0 < largest <= 1.0 else max(largest, 255.0)
        out = np.empty(raw.shape, dtype=np.uint8)
        for rows in _strip_slices(raw):
            a = np.nan_to_num(raw[rows].astype(np.float64), nan=0.0, posinf=top, neginf=0.0)
            out[rows] = np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(out, mode="L")
    if "A" in img.getbands():
        # What is seen: the pixels over a mid-grey ground. convert("L") drops alpha, so a fully
        # transparent layer of noise (an empty picture) passed as a detailed one.
        alpha8 = np.asarray(img.getchannel("A"))
        grey8 = np.asarray(img.convert("L"))
        out = np.empty(grey8.shape, dtype=np.uint8)
        for rows in _strip_slices(grey8):
            alpha = alpha8[rows].astype(np.float64) / 255.0
            out[rows] = np.rint(grey8[rows].astype(np.float64) * alpha + 128.0 * (1.0 - alpha)).astype(np.uint8)
        return Image.fromarray(out, mode="L")
    return img.convert("L")


_STRIP_ROWS = 256


def _strip_slices(a: np.ndarray) -> list[slice]:
    """Row ranges of an image array, _STRIP_ROWS at a time."""
    return [slice(r, r + _STRIP_ROWS) for r in range(0, len(a), _STRIP_ROWS)]


def _other_image_format(Image: Any, data: bytes) -> Optional[str]:
    """The format of an image the task's formats could not read, when Pillow can name it from
    the header (never decoded); None for bytes no plugin accepts."""
    try:
        with Image.open(io.BytesIO(data)) as other:
            return (other.format or "").upper() or None
    except Exception:  # a hostile header: whatever the plugin raises, it is not an allowed image
        return None


class Verifier:
    """Runs the checks and signs receipts. ``signing_key`` (a tg.crypto.SigningKey) is
    needed only for :meth:`receipt`; ``text_model`` defaults to the shipped model
    (``False`` turns the gibberish and relevance checks off)."""

    def __init__(self, signing_key: Optional[crypto.SigningKey] = None, text_model: Any = None) -> None:
        if signing_key is not None and not isinstance(signing_key, crypto.SigningKey):
            raise InvalidKey(f"signing_key must be a tg.crypto.SigningKey (Ed25519), got {type(signing_key).__name__}")
        if text_model not in (None, False) and not isinstance(text_model, TextModel):
            raise InvalidArgument(f"text_model must be a tg.verify.TextModel, None or False, got {type(text_model).__name__}")
        self.signing_key = signing_key
        self._text_model = text_model

    @property
    def verify_key(self) -> Optional[crypto.VerifyKey]:
        return None if self.signing_key is None else self.signing_key.verify_key

    @property
    def text_model(self) -> Optional[TextModel]:
        if self._text_model is False:
            return None
        if self._text_model is None:
            self._text_model = TextModel.default()
        return self._text_model

    # -------------------------------------------------------------- public

    def check(self, data: bytes, kind: str, task: Any = None, *, item_id: str = "", register: bool = True,
              prompt: str = "") -> Verdict:
        """Verify one upload; see :func:`tagger.verify.check`."""
        if not isinstance(item_id, str):
            raise InvalidArgument(f"item_id must be a str, got {type(item_id).__name__}")
        _prompt_text("prompt", prompt)
        _unicode_text("item_id", item_id)  # (its receipt could not be signed)
        return self._check(data, kind, as_spec(task), item_id, register, None, prompt)

    def check_many(self, items: Sequence[bytes], kind: str, task: Any = None, *, item_ids: Optional[Sequence[str]] = None,
                   register: bool = True, threads: int = 0, prompts: Optional[Sequence[str]] = None) -> list[Verdict]:
        """Verify many uploads of one kind; text model scores are computed in one
        multi-threaded C++ call (GIL released). ``prompts``: one per item, as :meth:`check`'s
        ``prompt``."""
        spec, kind = as_spec(task), normalize_kind(kind)
        if isinstance(items, (bytes, bytearray, memoryview, str)):
            raise InvalidArgument(f"items must be a sequence of uploads, got a single {type(items).__name__} "
                                  "(use check() for one upload)")
        if hasattr(items, "columns") and hasattr(items, "iloc"):  # iterating a DataFrame gives its column names
            raise InvalidArgument(f"items must be a sequence of uploads, got a DataFrame (columns "
                                  f"{list(items.columns)[:5]}): pass the column of uploads, e.g. df['data']")
        if isinstance(items, Mapping):  # iterating gives the keys
            raise InvalidArgument("items must be a sequence of uploads, got a mapping: pass its values "
                                  "(and its keys as item_ids)")
        # Every item is checked for its type before any is verified: a bad one must not leave the
        # uploads before it registered (a retry would find them as duplicates of themselves).
        items = [_upload_bytes(d, f"items[{i}]") for i, d in enumerate(items)]
        from ..match import _threads  # match loads on first use (import tagger stays fast)

        threads = _threads(threads)
        if item_ids is not None:
            if isinstance(item_ids, (str, bytes)):
                raise InvalidArgument("item_ids must be a sequence of str, one per item, not a single str")
            item_ids = list(item_ids)  # a generator is read once, here
            if len(item_ids) != len(items):
                raise InvalidArgument(f"item_ids must have one id per item: {len(item_ids)} ids for {len(items)} items")
            bad = next((i for i, x in enumerate(item_ids) if not isinstance(x, str)), None)
            if bad is not None:
                raise InvalidArgument(f"item_ids[{bad}] must be a str, got {type(item_ids[bad]).__name__}")
            for i, x in enumerate(item_ids):
                _unicode_text(f"item_ids[{i}]", x)
            seen: set[str] = set()
            for x in item_ids:  # a registry records uploads under these ids
                if x in seen:
                    raise InvalidArgument(f"item_ids repeats {x!r}: each upload needs an id of its own")
                seen.add(x)
        if prompts is not None:
            if isinstance(prompts, (str, bytes)):
                raise InvalidArgument("prompts must be a sequence of str, one per item, not a single str")
            prompts = list(prompts)
            if len(prompts) != len(items):
                raise InvalidArgument(f"prompts must have one prompt per item: {len(prompts)} for {len(items)} items")
            for i, x in enumerate(prompts):
                _prompt_text(f"prompts[{i}]", x)
        pre: list = [None] * len(items)
        model = self.text_model if kind == "text" and self._wants_model(spec) else None
        if model is not None:
            texts, where = [], []
            for i, d in enumerate(items):
                t = _decode_or_none(d)
                # (over text_max_chars the text is refused unscored, as check() does: a 30 MB
                # text in a batch cost 9.5 s and 2.6 GB in the model for nothing)
                if t is not None and len(t) <= spec.text_max_chars:
                    texts.append(t)
                    where.append(i)
            for i, s in zip(where, model.score_many(texts, spec.references if spec.relevance_cutoff is not None else [], threads)):
                pre[i] = s
        out: list[Verdict] = []
        try:
            for i, d in enumerate(items):
                out.append(self._check(d, kind, spec, item_ids[i] if item_ids is not None else "", register, pre[i],
                                       prompts[i] if prompts is not None else ""))
        except BaseException:
            # Interrupted part way (Ctrl-C in a notebook): the caller never sees these verdicts, so
            # the uploads they registered are taken back; a re-run found them as duplicates of
            # themselves before.
            if register and spec.registry is not None:
                for v in out:
                    if v.status != REJECTED:
                        spec.registry.forget(v.sha256)
            raise
        return out

    def receipt(self, verdict: Verdict, item_id: str, ciphertext_hash: bytes, task_id: str = "") -> Receipt:
        """Sign ``verdict`` for the sealed item (its ciphertext hash) with this verifier's key."""
        if self.signing_key is None:
            raise InvalidKey("this Verifier has no signing key (Verifier(signing_key=tg.crypto.SigningKey.generate()))")
        return Receipt.create(verdict, item_id, ciphertext_hash, self.signing_key, task_id)

    def __repr__(self) -> str:
        k = "unsigned" if self.signing_key is None else f"key={bytes(self.signing_key.verify_key).hex()[:12]}…"
        return f"Verifier({k})"

    # ------------------------------------------------------------ pipeline

    @staticmethod
    def _relevance_cutoff(spec: VerifySpec, model: TextModel) -> Optional[float]:
        """A float threshold as given; ``"auto"`` calibrated per task when the model is dense
        (the fixed sparse-only constants otherwise)."""
        if spec.relevance_threshold == "auto" and model.dense and spec.references:
            return model.calibrate(spec.references, spec.examples)
        return spec.relevance_cutoff

    @staticmethod
    def _gibberish_cutoff(spec: VerifySpec, model: TextModel) -> float:
        """The spec's gibberish threshold, moved down when the task's own texts are less likely
        than typical English (:meth:`TextModel.calibrate_gibberish`)."""
        assert spec.gibberish_threshold is not None
        texts = spec.own_texts
        return model.calibrate_gibberish(spec.gibberish_threshold, texts) if texts else spec.gibberish_threshold

    @staticmethod
    def _wants_model(spec: VerifySpec) -> bool:
        return spec.gibberish_threshold is not None or (spec.relevance_cutoff is not None and bool(spec.references))

    def _check(self, data: Any, kind: str, spec: VerifySpec, item_id: str, register: bool, pre: Any,
               prompt: str = "") -> Verdict:
        kind = normalize_kind(kind)
        data = _upload_bytes(data, "data")
        run = _Run(spec)
        run.prompt = prompt
        sha = crypto.sha256(data)
        features: dict[str, Any] = {}
        item = Item(data, kind, spec)
        run.score("bytes", len(data))
        if not data:
            run.fail("size", "empty", "the upload has no bytes", stop=True)
        elif len(data) > spec.max_bytes:
            run.fail("size", "too_large", f"{len(data)} bytes > max_bytes {spec.max_bytes}", stop=True)
        else:
            self._type_check(data, kind, run)
        claimed = False
        if not run.stopped and spec.registry is not None:
            # Registering: look and hold the hash in one step, so a copy checked by another
            # thread meanwhile is its duplicate (find-then-add let both be accepted).
            claimed = _claim(spec, sha, item_id, register, run, "same SHA-256")
        content_claimed: Optional[bytes] = None
        try:
            if not run.stopped:
                getattr(self, f"_{kind}")(item, run, features, pre)
            content = features.get("content")
            if content is not None and content != sha and spec.registry is not None and not run.exact_duplicate:
                # The same table, document or recording in other bytes (reformatted JSON, CRLF
                # lines, a WAV with another header or bytes after its data): the same upload.
                if _claim(spec, content, item_id, register, run, f"the same {kind} content", " (reformatted)"):
                    content_claimed = content
            if not run.stopped:
                for i, c in enumerate(spec.checks):
                    chk = c if isinstance(c, Check) else _plain_check(c, i)
                    r = chk(item)
                    if r is not None:
                        run.add(r)
            verdict = run.verdict(kind, sha, features)
            if claimed and verdict.status != REJECTED:
                text_near, image_near = spec.registry.add(sha, spec.task_id, item_id, text=features.get("text"),
                                                          phash=features.get("phash"), content=content_claimed,
                                                          seen=run.registry_seen)
                claimed = False
                content_claimed = None
                # A near copy recorded by another thread since this check looked: the two were
                # checked at the same moment, and this one comes second.
                run.near_text(text_near)
                run.near_image(image_near)
                verdict = run.verdict(kind, sha, features)
                if verdict.status == REJECTED:  # (a severity override made the late near copy rejected)
                    spec.registry.forget(sha)
        finally:
            if claimed:
                spec.registry.release(sha)
            if content_claimed is not None:
                spec.registry.release(content_claimed)
        return verdict

    @staticmethod
    def _type_check(data: bytes, kind: str, run: _Run) -> None:
        s = sniff(data)
        if kind in ("text", "json", "csv"):
            # Some magics are plain words ("ID3 tags are...", "GIF89a specs", "%PDF-1.7 is..."):
            # a file of that format has binary bytes after them; text that starts so is text.
            if s is not None and not _plain_text(data):
                run.fail("type", "wrong_type", f"declared {kind} but the bytes are {s[1]} ({s[0]})", stop=True)
        elif s is not None and s[0] != kind:
            run.fail("type", "wrong_type", f"declared {kind} but the bytes are {s[1]} ({s[0]})", stop=True)
        elif s is None and _looks_like_text(data):
            run.fail("type", "wrong_type", f"declared {kind} but the bytes are UTF-8 text", stop=True)

    def _decode(self, item: Item, run: _Run) -> Optional[str]:
        st = _v.text_stats(item.data)
        if not st.valid_utf8:
            run.fail("utf8", "invalid_utf8", f"invalid UTF-8 at byte {st.invalid_offset}", stop=True)
            return None
        # A byte-order mark (Excel's "CSV UTF-8") is not part of the table or the JSON text.
        item.text = item.data.decode("utf-8").removeprefix("\ufeff")
        return item.text

    def _text(self, item: Item, run: _Run, features: dict, pre: Any) -> None:
        spec = item.spec
        st = _v.text_stats(item.data)
        if not st.valid_utf8:
            run.fail("utf8", "invalid_utf8", f"invalid UTF-8 at byte {st.invalid_offset}", stop=True)
            return
        text = item.text = item.data.decode("utf-8")
        run.score("chars", st.chars)
        if st.chars < spec.text_min_chars:
            run.fail("length", "text_too_short", f"{st.chars} code points < text_min_chars {spec.text_min_chars}")
        if st.chars > spec.text_max_chars:
            run.fail("length", "text_too_long", f"{st.chars} code points > text_max_chars {spec.text_max_chars}")
        ctrl = st.controls / max(1, st.chars)
        if ctrl > spec.text_max_control_fraction:
            run.fail("controls", "control_characters", f"{st.controls} control characters ({ctrl:.1%})", ctrl)
        latin = True
        if st.letters == 0:
            if st.chars > 0:
                run.fail("script", "no_letters", "only whitespace" if st.spaces >= st.chars else "no letters in any script")
            latin = False
        elif spec.text_scripts is not None:
            frac = st.script_fraction(list(spec.text_scripts))
            run.score("script_fraction", frac)
            if frac < spec.text_min_script_fraction:
                run.fail("script", "script_mismatch",
                         f"{frac:.0%} of letters in {list(spec.text_scripts)} (mostly {st.dominant_script})", frac)
            latin = st.script_fraction(["Latin"]) >= 0.5
        else:
            latin = st.script_fraction(["Latin"]) >= 0.5
        # The shipped model is English: its likelihood says nothing about other scripts.
        model = self.text_model if self._wants_model(spec) and st.letters > 0 else None
        if model is not None and st.chars <= spec.text_max_chars:
            sc = pre if pre is not None else model.score(text, spec.references if spec.relevance_cutoff is not None else [])
            if latin and spec.gibberish_threshold is not None and sc.pieces:
                g = sc
                words = _gibberish_view(text, st.chars)
                plain = _numbers_view(words if words is not None else text)
                if plain is not None:  # numbers out: the shipped model finds them unlikely
                    words = plain
                if words is not None:  # mostly padding: the words alone are what is judged
                    g = model.score(words, [])
                run.score("log_prob_per_char", g.log_prob_per_char)
                run.score("log_prob_per_piece", g.mean_log_prob)
                pt = spec.gibberish_piece_threshold
                gcut = self._gibberish_cutoff(spec, model)
                moved = ""
                if gcut != spec.gibberish_threshold:  # the task's own texts moved it (another language)
                    run.score("gibberish_threshold", gcut)
                    moved = f" (the task's own texts moved it from {spec.gibberish_threshold})"
                if g.log_prob_per_char < gcut:
                    run.fail("gibberish", "gibberish", f"log-likelihood {g.log_prob_per_char:.2f} nats/char < "
                             f"{gcut}{moved}", g.log_prob_per_char)
                elif pt is not None and g.mean_log_prob < pt:
                    run.fail("gibberish", "gibberish", f"log-likelihood {g.mean_log_prob:.2f} nats/piece < {pt}",
                             g.log_prob_per_char)
            cut = self._relevance_cutoff(spec, model)
            if spec.references and cut is not None:
                run.score("relevance", sc.relevance)
                if model.dense:  # its two parts, and the cut: how close an accepted upload came
                    run.score("relevance_sparse", sc.relevance_sparse)
                    run.score("relevance_dense", sc.relevance_dense)
                run.score("relevance_threshold", cut)
                if sc.relevance < cut:
                    run.fail("relevance", "off_topic", f"similarity {sc.relevance:.3f} to the task < {cut}", sc.relevance)
        if st.chars > spec.text_max_chars:
            # Already text_too_long: its copies are not looked for, nor is it recorded as a text (a
            # 20 MB text cost 6 s and 1 GB in these scans after it was refused).
            return
        features["text"] = text
        if st.letters > 0 and not run.exact_duplicate:
            _task_text_copy(spec, text, run)
        if spec.registry is not None and st.chars > 0 and not run.exact_duplicate:
            run.registry_seen = spec.registry.additions
            find = getattr(spec.registry, "find_copies", None)
            run.near_text(find(text) if find is not None else spec.registry.find_text(text))

    def _image(self, item: Item, run: _Run, features: dict, pre: Any) -> None:
        Image = require("PIL.Image", "checking images")
        UnidentifiedImageError = require("PIL", "checking images").UnidentifiedImageError

        spec = item.spec
        allowed = {f.upper() for f in spec.image_formats}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Only the allowed formats' parsers read the bytes: Pillow's rarer plugins (BLP,
            # DDS, ...) raise exceptions of their own on hostile headers and decode formats the
            # task refuses anyway. (A phone camera's MPO is read by the JPEG plugin.)
            Image.init()
            pillow_formats = sorted(f for f in allowed if f in Image.OPEN)
            try:
                img = Image.open(io.BytesIO(item.data), formats=pillow_formats)
            except Image.DecompressionBombError as e:
                run.fail("image_size", "image_too_large", str(e)[:200], stop=True)
                return
            except UnidentifiedImageError:
                other = _other_image_format(Image, item.data)
                if other:
                    run.fail("format", "image_format", f"format {other} not in {sorted(allowed)}", stop=True)
                else:
                    run.fail("decode", "image_corrupt", f"not a readable image in {sorted(allowed)}", stop=True)
                return
            except Exception as e:  # any parser failure on the header: the bytes are not an image
                run.fail("decode", "image_corrupt", f"cannot identify the image: {e}"[:200], stop=True)
                return
            fmt = (img.format or "").upper()
            if fmt == "MPO":  # phone cameras' JPEG with multi-picture data (Pillow's name for it)
                fmt = "JPEG"
            w, h = img.size
            run.score("width", w)
            run.score("height", h)
            if fmt not in allowed:  # (not reached: only allowed parsers ran)
                run.fail("format", "image_format", f"format {fmt or 'unknown'} not in {sorted(allowed)}", stop=True)
                return
            if fmt == "JPEG":
                scans = item.data.count(b"\xff\xda")  # SOS markers: 0xFF is stuffed in entropy data
                if scans > MAX_JPEG_SCANS:
                    run.fail("decode", "image_corrupt", f"JPEG with {scans} scans (more than {MAX_JPEG_SCANS}: each is "
                             "decoded in full, a decompression bomb)", stop=True)
                    return
            (minw, minh), (maxw, maxh) = spec.image_min_size, spec.image_max_size
            if w < minw or h < minh:
                run.fail("image_size", "image_too_small", f"{w}x{h} < minimum {minw}x{minh}")
            if w > maxw or h > maxh or w * h > spec.image_max_pixels:
                run.fail("image_size", "image_too_large", f"{w}x{h} over the maximum {maxw}x{maxh} or "
                         f"{spec.image_max_pixels} pixels", stop=True)
                return  # never decode a decompression bomb
            try:
                img.load()
                gray_img = _gray8(img, Image)
            except OSError as e:
                msg = str(e)
                code = "image_truncated" if "truncat" in msg.lower() or "end of file" in msg.lower() else "image_corrupt"
                run.fail("decode", code, msg[:200], stop=True)
                return
            except Exception as e:  # decoders raise what they like (EOFError, struct.error, RuntimeError...)
                run.fail("decode", "image_corrupt", f"{type(e).__name__}: {e}"[:200], stop=True)
                return
        item.image = img
        gray = item.gray = np.asarray(gray_img)
        hs = _v.image_hashes(gray)
        features["phash"], features["dhash"] = hs.phash, hs.dhash
        run.score("stddev", hs.stddev)
        if hs.stddev < spec.image_min_stddev:
            run.fail("blank", "image_blank", f"pixel standard deviation {hs.stddev:.2f} < {spec.image_min_stddev}", hs.stddev)
        if spec.registry is not None and not run.exact_duplicate:
            run.registry_seen = spec.registry.additions
            run.near_image(spec.registry.find_image(hs.phash))

    def _audio(self, item: Item, run: _Run, features: dict, pre: Any) -> None:
        spec = item.spec
        info, st = _v.analyze_wav(item.data)
        if info.reason:
            run.fail("wav", info.reason, info.detail, stop=True)
            return
        fmt = f"{info.format}/{info.channels}/{info.sample_rate}/{info.bits_per_sample}:".encode()
        features["content"] = crypto.sha256(fmt + item.data[info.data_offset:info.data_offset + info.data_bytes])
        run.score("duration_s", info.duration_s)
        run.score("sample_rate", info.sample_rate)
        run.score("silence_ratio", st.silence_ratio)
        run.score("clipping_ratio", st.clipping_ratio)
        run.score("rms_dbfs", st.rms_dbfs)
        if st.nonfinite:  # counted as clipped before: 0.5 % NaN samples passed as a usable recording
            run.fail("samples", "audio_corrupt", f"{st.nonfinite} float sample(s) are NaN or infinite", stop=True)
            return
        if spec.audio_sample_rates is not None and info.sample_rate not in set(spec.audio_sample_rates):
            run.fail("sample_rate", "audio_sample_rate", f"{info.sample_rate} Hz not in {list(spec.audio_sample_rates)}")
        if info.duration_s < spec.audio_min_seconds:
            run.fail("duration", "audio_too_short", f"{info.duration_s:.3f} s < {spec.audio_min_seconds} s")
        if info.duration_s > spec.audio_max_seconds:
            run.fail("duration", "audio_too_long", f"{info.duration_s:.1f} s > {spec.audio_max_seconds} s")
        if info.frames and st.silence_ratio > spec.audio_max_silence:
            run.fail("silence", "audio_silent", f"{st.silence_ratio:.0%} of 20 ms windows below -50 dBFS", st.silence_ratio)
        if st.clipping_ratio > spec.audio_max_clipping:
            run.fail("clipping", "audio_clipped", f"{st.clipping_ratio:.2%} of samples at full scale", st.clipping_ratio)

    def _json(self, item: Item, run: _Run, features: dict, pre: Any) -> None:
        text = self._decode(item, run)
        if text is None:
            return
        value, bad = _tabular.parse_json(text)
        if bad is not None and "\n" in text.strip():  # JSON Lines: one object per line
            # On "\n" only, as JSON Lines says (a "\r" before it is JSON white space): splitlines()
            # also cut at U+2028, U+2029 and U+0085, which a JSON string may hold raw.
            lines = [(n, ln) for n, ln in enumerate(text.split("\n"), 1) if ln.strip()]
            parsed = [_tabular.parse_json(ln) for _, ln in lines]
            if all(b is None for _, b in parsed):
                value, bad = [v for v, _ in parsed], None
            elif parsed[0][1] is None:  # JSON Lines with a bad line: name it (not "Extra data: line 2")
                i = next(k for k, (_, b) in enumerate(parsed) if b is not None)
                code, detail = parsed[i][1]  # type: ignore[misc]
                bad = (code, f"line {lines[i][0]}: {detail}"[:200])
        if bad is not None:
            run.fail("parse", *bad, stop=True)
            return
        item.value = value
        features["content"] = crypto.sha256(_canonical_json(value).encode("utf-8", "surrogatepass"))
        if item.spec.schema is None:
            if value is None or (isinstance(value, (str, list, dict)) and not value):
                # (accepted and paid without a schema, while a CSV of a header alone is table_empty)
                run.fail("schema", "table_empty", f"the JSON value {json.dumps(value)} holds nothing")
            return
        records, bad = _tabular.json_records(value)
        if bad is not None:
            run.fail("schema", *bad)
            return
        item.records = records
        run.score("records", len(records))
        for code, detail in _tabular.check_records(records, _tabular.parse_schema(item.spec.schema), item.spec.schema_strict, cell=False):
            run.fail("schema", code, detail)

    def _csv(self, item: Item, run: _Run, features: dict, pre: Any) -> None:
        text = self._decode(item, run)
        if text is None:
            return
        # JSON refuses raw control characters in its strings; a CSV takes any byte, so bytes
        # like \x01\x02\x03 made a "table" that was accepted.
        st = _v.text_stats(item.data)
        ctrl = st.controls / max(1, st.chars)
        if ctrl > item.spec.text_max_control_fraction:
            run.fail("controls", "control_characters", f"{st.controls} control characters ({ctrl:.1%})", ctrl)
        records, header, bad = _tabular.parse_csv(text, item.spec.csv_delimiter)
        if bad is not None:
            run.fail("parse", *bad, stop=True)
            return
        item.records = records
        run.score("records", len(records))
        features["content"] = _csv_content(header, records)
        if item.spec.schema is not None:
            for code, detail in _tabular.check_records(records, _tabular.parse_schema(item.spec.schema), item.spec.schema_strict, cell=True):
                run.fail("schema", code, detail)


def _csv_content(header: list[str], records: list[dict]) -> bytes:
    """The content key of a table: its cells as a JSON array of rows (separators inside cells
    cannot make two tables one), whatever its line endings or quoting, each cell without the
    white space around it, the columns in the order of their names and the rows sorted. The same
    table with a space after each comma, its columns swapped or its rows shuffled was accepted
    and paid again before 2026-12-07 (the schema itself reads " 30" as 30 and " age" as age)."""
    names = [h.strip() for h in header]
    order = sorted(range(len(header)), key=lambda j: (names[j], j))
    rows = sorted([str(rec.get(header[j], "")).strip() for j in order] for rec in records)
    return crypto.sha256(json.dumps([[names[j] for j in order], *rows], ensure_ascii=False, separators=(",", ":"))
                         .encode("utf-8", "surrogatepass"))


# An integral number with more trailing zeros than this is written as <digits>e<zeros> in the
# content key: 1e300 written out would be 301 characters from a 5-byte token.
_PLAIN_ZEROS = 15
_END = object()


def _json_number(x: Any) -> str:
    """A JSON number as its content key writes it: equal numbers alike, whether they were written
    as integers, with a fraction or an exponent (10, 10.0, 1e1, 100E-1 -> "10"; 1e22 and
    10000000000000000000000 -> "1e22"; -0.0 -> "0"). Integers, and fractions (the shortest repr
    of the double a reader sees), are written as json.dumps wrote them, so the keys of uploads
    recorded before stay valid unless they hold integral floats or 16+ trailing zeros."""
    if type(x) is int:
        if -10**16 < x < 10**16:
            return int.__repr__(x)
        sign, digits, exp = "-" if x < 0 else "", str(abs(x)), 0
    else:
        r = float.__repr__(x)
        if not x.is_integer():  # a fraction (nan and inf are not JSON: parse_json refuses them)
            return r
        if x == 0:
            return "0"
        t = decimal.Decimal(r).as_tuple()  # the decimal the double reads as, not its binary expansion
        sign, digits, exp = "-" if t.sign else "", "".join(map(str, t.digits)), int(t.exponent)
    mantissa = digits.rstrip("0")
    zeros = exp + len(digits) - len(mantissa)  # >= 0: the value is an integer
    if zeros <= _PLAIN_ZEROS:
        return sign + mantissa + "0" * zeros
    return f"{sign}{mantissa}e{zeros}"


# What json.dumps writes for a number that _json_number writes otherwise: an integral float
# ("10.0", "-0.0", "1e+16") or an integer with 16 trailing zeros. (A match inside a string only
# costs the slower writer.)
_INTEGRAL_FLOAT = re.compile(r"\.0(?![0-9])")


def _canonical_json(value: Any) -> str:
    """The parsed JSON ``value`` written canonically: sorted keys, no spaces, numbers by value
    (:func:`_json_number`); otherwise what ``json.dumps(value, sort_keys=True, separators=(",",
    ":"), ensure_ascii=False)`` writes (and json.dumps it is, when it wrote every number so)."""
    fast = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if "e+" not in fast and "0" * 16 not in fast and _INTEGRAL_FLOAT.search(fast) is None:
        return fast
    enc = json.encoder.encode_basestring
    out: list[str] = []
    stack: list[list[Any]] = []  # [iterator, closing bracket, is an object, first]
    v = value
    while True:
        if isinstance(v, dict):
            out.append("{")
            stack.append([iter(sorted(v.items(), key=lambda kv: kv[0])), "}", True, True])
        elif isinstance(v, list):
            out.append("[")
            stack.append([iter(v), "]", False, True])
        elif isinstance(v, str):
            out.append(enc(v))
        elif v is True or v is False:
            out.append("true" if v else "false")
        elif v is None:
            out.append("null")
        elif isinstance(v, (int, float)):
            out.append(_json_number(v))
        else:  # (not produced by parse_json)
            raise TypeError(f"{type(v).__name__} is not a JSON value")
        while stack:
            top = stack[-1]
            nxt: Any = next(top[0], _END)
            if nxt is _END:
                out.append(top[1])
                stack.pop()
                continue
            if not top[3]:
                out.append(",")
            top[3] = False
            if top[2]:
                out.append(enc(nxt[0]))
                out.append(":")
                v = nxt[1]
            else:
                v = nxt
            break
        else:
            return "".join(out)


def _upload_bytes(data: Any, what: str) -> bytes:
    """The bytes of an upload: bytes, bytearray, memoryview or another buffer of bytes (a uint8
    array). A str, an int (``bytes(5)`` would be five zero bytes), None, a numpy scalar or an
    array of anything but bytes (its raw memory: np.int64(5) was 8 bytes of binary, a numpy str
    array UTF-32) is a caller's mistake, named by ``what``."""
    if type(data) is bytes:
        return data
    # Anything else is copied once from its buffer (a bytes or bytearray subclass included: its
    # own __bytes__ could give one content to the check and another to the seal).
    if isinstance(data, bytes):  # numpy's bytes_ too
        return memoryview(data).tobytes()
    if isinstance(data, str):
        raise InvalidArgument(f"{what} must be bytes (encode text as UTF-8), got {type(data).__name__}")
    if isinstance(data, np.generic):
        raise InvalidArgument(f"{what} must be bytes-like, got a numpy scalar {type(data).__name__} ({data!r})")
    try:
        view = memoryview(data)
    except (TypeError, ValueError):  # (numpy raises ValueError for an object array)
        raise InvalidArgument(f"{what} must be bytes-like, got {type(data).__name__}") from None
    if view.itemsize != 1 or view.format not in ("B", "b", "c") or view.ndim == 0:
        dtype = getattr(data, "dtype", None)
        raise InvalidArgument(f"{what} must be bytes-like (bytes, bytearray, a uint8 array), got "
                              f"{type(data).__name__} of {dtype if dtype is not None else repr(view.format)}"
                              f"{' (0-d)' if view.ndim == 0 else ''}: encode text as UTF-8, numbers are no upload")
    return view.tobytes()


def _decode_or_none(data: Any) -> Optional[str]:
    try:
        return bytes(data).decode("utf-8")
    except (UnicodeDecodeError, TypeError):
        return None


_DEFAULT = Verifier()


def check(data: bytes, kind: str, task: Any = None, *, item_id: str = "", register: bool = True,
          prompt: str = "") -> Verdict:
    """Verify one upload of the declared ``kind`` (``"text"``, ``"image"``, ``"audio"``,
    ``"json"``, ``"csv"``; ``"tabular"`` = csv) against ``task`` (a :class:`VerifySpec`,
    a dict of its fields, an object with ``.verify_spec``, or None for defaults).

    Bad data never raises: it yields a :class:`Verdict` with reasons. API misuse does
    raise: an unknown kind or non-bytes data (InvalidArgument), a bad spec. When the spec
    has a registry, an upload that is not rejected is recorded in it under ``item_id``
    (``register=False`` to only look). ``prompt``: the text the upload's slot asks about (a
    collection task's item prompt); a copy of it is ``copies_task_text`` like a copy of the task's
    description or examples.

    >>> v = check(b"My card has not arrived yet", "text", {"description": "card delivery questions"})
    >>> v.status, v.reasons
    ('accepted', ())
    """
    return _DEFAULT.check(data, kind, task, item_id=item_id, register=register, prompt=prompt)


def check_many(items: Sequence[bytes], kind: str, task: Any = None, *, item_ids: Optional[Sequence[str]] = None,
               register: bool = True, threads: int = 0, prompts: Optional[Sequence[str]] = None) -> list[Verdict]:
    """:func:`check` over many uploads of one kind (text model scoring batched in C++);
    ``prompts``, one per item, as :func:`check`'s ``prompt``."""
    return _DEFAULT.check_many(items, kind, task, item_ids=item_ids, register=register, threads=threads,
                               prompts=prompts)


renew_after_fork(TextModel, "_lock")  # (tagger/_fork.py)
