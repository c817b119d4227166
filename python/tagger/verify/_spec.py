"""VerifySpec: everything a task tells the verifier (limits, schema, thresholds,
user checks, the duplicate registry)."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import numbers
import unicodedata
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from .._stack import outside_tagger
from .._core import verify as _v
from ..errors import InvalidArgument
from ._reasons import IGNORE, REASONS, STATUSES

# Calibrated on banking77 (see docs/verification.md, "Calibration").
DEFAULT_GIBBERISH_THRESHOLD = -3.85        # nats per non-space character (character-level noise)
DEFAULT_GIBBERISH_PIECE_THRESHOLD = -9.5   # nats per piece (word salad of rare pieces)
RELEVANCE_THRESHOLD_DESCRIPTION = 0.05  # reference = description + category only
RELEVANCE_THRESHOLD_EXAMPLES = 0.22     # reference also holds >= 3 example items

KINDS = ("text", "image", "audio", "json", "csv")
_ALIASES = {"tabular": "csv", "wav": "audio", "jsonl": "json"}


def _int_field(name: str, value: Any, low: int, high: Optional[int] = None) -> int:
    """``value`` as a Python int in [low, high] (numpy integers welcome; bools and strings not)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InvalidArgument(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if int(value) < low or (high is not None and int(value) > high):
        raise InvalidArgument(f"{name} must be {f'in [{low}, {high}]' if high is not None else f'>= {low}'}, "
                              f"got {int(value)}")
    return int(value)


def _real_field(name: str, value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a finite float in [low, high]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidArgument(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    x = float(value)
    if not math.isfinite(x) or not low <= x <= high:
        bounds = f" in [{low:g}, {high:g}]" if math.isfinite(low) and math.isfinite(high) else (
            f" >= {low:g}" if math.isfinite(low) else "")
        raise InvalidArgument(f"{name} must be a finite number{bounds}, got {value!r}")
    return x


def _unicode_text(name: str, value: str) -> None:
    """InvalidArgument naming ``name`` when ``value`` cannot be written as UTF-8: a surrogate code
    point (half of a UTF-16 pair, e.g. JSON from a client that cut an emoji in two) passed
    every check of the spec and then raised UnicodeEncodeError out of every check of the task."""
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidArgument(f"{name} holds a lone surrogate U+{ord(value[e.start]):04X} at position {e.start} "
                              "(half of a UTF-16 pair, e.g. an emoji cut in two): it is not text that can be "
                              "written as UTF-8") from None


def _missing(value: Any) -> bool:
    """None, a float NaN or pandas' NA/NaT: an empty cell of a sheet."""
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return type(value).__name__ in ("NAType", "NaTType")


@functools.lru_cache(maxsize=1024)
def has_letters(text: str) -> bool:
    """Whether ``text`` has a letter of any script (what an upload without one is ``no_letters`` for)."""
    return _v.text_stats(text.encode("utf-8")).letters > 0


def _str_tuple(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidArgument(f"{name} must be a sequence of str (e.g. ['Latin']), got {value!r}")
    out = tuple(value)
    if not all(isinstance(v, str) for v in out):
        raise InvalidArgument(f"{name} must hold str only, got {out!r}")
    for i, v in enumerate(out):
        _unicode_text(f"{name}[{i}]", v)
    return out


@functools.lru_cache(maxsize=1)
def known_scripts() -> tuple[str, ...]:
    """The script names text_stats counts letters by (Latin, Greek, ..., Other), as the C++ core names them."""
    return tuple(_v.script_names())


def _scripts(value: Any) -> tuple[str, ...]:
    """``text_scripts`` checked when the spec is built: known script names (in any case: "latin"
    is Latin), at least one. An unknown name passed the spec and raised out of every check of
    the task (a whole check_many batch lost); [] rejected every upload script_mismatch."""
    names = _str_tuple("text_scripts", value)
    if not names:
        raise InvalidArgument("text_scripts names no script: every upload would be script_mismatch "
                              "(give e.g. ['Latin'], or None for any script)")
    known = known_scripts()
    by_lower = {k.lower(): k for k in known}
    out = []
    for i, n in enumerate(names):
        canon = by_lower.get(n.strip().lower())
        if canon is None:
            near = difflib.get_close_matches(n.lower(), list(by_lower), n=1, cutoff=0.6)
            hint = f"; did you mean {by_lower[near[0]]!r}?" if near else ""
            raise InvalidArgument(f"text_scripts[{i}] {n!r} is not a script name{hint} (known: {', '.join(known)})")
        out.append(canon)
    return tuple(out)


def normalize_kind(kind: Any) -> str:
    """The canonical kind name; InvalidArgument for anything else (API misuse)."""
    if not isinstance(kind, str):
        raise InvalidArgument(f"kind must be a str, got {type(kind).__name__}")
    k = _ALIASES.get(kind.lower(), kind.lower())
    if k not in KINDS:
        raise InvalidArgument(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)}; aliases {sorted(_ALIASES)})")
    return k


_IMAGE_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF", "JFIF": "JPEG"}
_DEFAULT_IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


def _check_image_formats(formats: tuple[str, ...]) -> None:
    """Refuses image_formats no image can pass: none, or a name Pillow has no reader for ("JPG"
    for "JPEG": every JPEG was refused as a format the task does not take)."""
    if not formats:
        raise InvalidArgument("image_formats is empty, so every image would be refused")
    for f in formats:
        alias = _IMAGE_FORMAT_ALIASES.get(f.upper())
        if alias is not None:
            raise InvalidArgument(f"image_formats names {f!r}, which Pillow calls {alias!r}")
    try:
        from PIL import Image
    except ImportError:  # the image extra is not installed: checking an image says so
        return
    Image.init()
    # (the default names are never refused: a Pillow built without WebP still takes the others)
    unknown = [f for f in formats if f.upper() not in Image.OPEN and f.upper() not in _DEFAULT_IMAGE_FORMATS]
    if unknown:
        raise InvalidArgument(f"image_formats names {unknown}, which Pillow cannot read; it reads "
                              f"{sorted(Image.OPEN)[:12]} ...")


@dataclass
class VerifySpec:
    """What one task asks of its uploads. Every field has a default, so
    ``VerifySpec(description="...", category="text/reviews")`` is a complete spec.

    ``checks`` holds user checks (callables, :class:`Check`, :class:`ModelCheck`);
    ``registry`` a :class:`DedupRegistry` kept by the caller (one per network) for
    exact and near duplicates; ``severity`` overrides the default severity of a
    reason code (``"accepted"``/``"ignore"`` drops it, ``"needs_review"``, ``"rejected"``).
    """

    task_id: str = ""
    description: str = ""
    category: str = ""
    max_bytes: int = 64 << 20
    # text
    text_min_chars: int = 1
    text_max_chars: int = 100_000
    text_scripts: Optional[Sequence[str]] = ("Latin",)
    text_min_script_fraction: float = 0.8
    text_max_control_fraction: float = 0.01
    gibberish_threshold: Optional[float] = DEFAULT_GIBBERISH_THRESHOLD
    gibberish_piece_threshold: Optional[float] = DEFAULT_GIBBERISH_PIECE_THRESHOLD
    relevance_threshold: Union[float, str, None] = "auto"
    examples: Sequence[str] = ()
    # image
    image_formats: Sequence[str] = _DEFAULT_IMAGE_FORMATS
    image_min_size: tuple[int, int] = (16, 16)          # (width, height)
    image_max_size: tuple[int, int] = (16384, 16384)
    image_max_pixels: int = 100_000_000
    image_min_stddev: float = 2.0
    # audio
    audio_min_seconds: float = 0.5
    audio_max_seconds: float = 3600.0
    audio_sample_rates: Optional[Sequence[int]] = None
    audio_max_silence: float = 0.95
    audio_max_clipping: float = 0.01
    # json / csv
    schema: Optional[Mapping[str, Any]] = None
    schema_strict: bool = False
    csv_delimiter: str = ","
    # duplicates and user checks
    registry: Any = None
    checks: Sequence[Any] = ()
    severity: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Every field checked here, so a wrong type is an InvalidArgument naming the
        field when the spec is built, never a TypeError deep inside a check later."""
        for name in ("task_id", "description", "category"):
            if not isinstance(getattr(self, name), str):
                raise InvalidArgument(f"{name} must be a str, got {type(getattr(self, name)).__name__}")
            _unicode_text(name, getattr(self, name))
        self.max_bytes = _int_field("max_bytes", self.max_bytes, 0)
        self.text_min_chars = _int_field("text_min_chars", self.text_min_chars, 0)
        self.text_max_chars = _int_field("text_max_chars", self.text_max_chars, 0)
        if self.text_max_chars < self.text_min_chars:
            raise InvalidArgument(f"need text_min_chars <= text_max_chars, got {self.text_min_chars} > {self.text_max_chars}")
        if self.text_scripts is not None:
            self.text_scripts = _scripts(self.text_scripts)
        for name in ("text_min_script_fraction", "text_max_control_fraction", "audio_max_silence", "audio_max_clipping"):
            setattr(self, name, _real_field(name, getattr(self, name), 0.0, 1.0))
        for name in ("gibberish_threshold", "gibberish_piece_threshold"):
            if getattr(self, name) is not None:
                setattr(self, name, _real_field(name, getattr(self, name)))
        if isinstance(self.relevance_threshold, str):
            if self.relevance_threshold != "auto":
                raise InvalidArgument(f"relevance_threshold must be a float, 'auto' or None, got {self.relevance_threshold!r}")
        elif self.relevance_threshold is not None:
            # Relevance is a cosine similarity: a threshold above 1 would flag every upload.
            self.relevance_threshold = _real_field("relevance_threshold", self.relevance_threshold, -1.0, 1.0)
        if isinstance(self.examples, (str, bytes)):
            raise InvalidArgument("examples must be a sequence of str (a list of example items), not one str")
        if hasattr(self.examples, "columns") and hasattr(self.examples, "iloc"):  # iterating gives column names
            raise InvalidArgument(f"examples must be a sequence of str, got a DataFrame (columns "
                                  f"{list(self.examples.columns)[:5]}): pass its column of examples, e.g. df['text']")
        if isinstance(self.examples, Mapping):  # iterating gives the keys
            raise InvalidArgument("examples must be a sequence of str, got a mapping: pass its values "
                                  "(list(d.values())) or keys explicitly")
        try:
            examples = tuple(self.examples)  # a generator is read once, here
        except TypeError:
            raise InvalidArgument(f"examples must be a sequence of str, got {type(self.examples).__name__}") from None
        # Empty cells of a sheet as pandas reads them (None, NaN, pd.NA) are blank examples.
        bad = next((i for i, e in enumerate(examples) if not isinstance(e, str) and not _missing(e)), None)
        if bad is not None:
            raise InvalidArgument(f"examples must be str; example {bad} is {type(examples[bad]).__name__} "
                                  f"({examples[bad]!r:.40})")
        examples = tuple(str(e) for e in examples if not _missing(e))
        for i, e in enumerate(examples):
            _unicode_text(f"examples[{i}]", e)
        # Blank examples (empty cells of a sheet) say nothing about the topic, and one
        # of them would drag the calibrated relevance threshold to 0; nor do examples without
        # a letter ("...", "🙂"), which as uploads would be rejected no_letters.
        letterless = [i for i, e in enumerate(examples) if e.strip() and not has_letters(e)]
        if letterless:
            named = ", ".join(f"examples[{i}] ({examples[i][:20]!r})" for i in letterless[:5])
            more = f" and {len(letterless) - 5} more" if len(letterless) > 5 else ""
            one = len(letterless) == 1
            warnings.warn(f"{named}{more} {'has' if one else 'have'} no letters: not used as "
                          f"{'an example' if one else 'examples'} of the task (an upload like "
                          f"{'it' if one else 'these'} is rejected no_letters)", UserWarning, stacklevel=outside_tagger())
        self.examples = tuple(e for e in examples if e.strip() and has_letters(e))
        self._check_reference_letters()
        self._warn_unchecked_script()
        self.image_formats = _str_tuple("image_formats", self.image_formats)
        _check_image_formats(self.image_formats)
        for name in ("image_min_size", "image_max_size"):
            v = getattr(self, name)
            if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) != 2:
                raise InvalidArgument(f"{name} must be a (width, height) pair of ints, got {v!r}")
            setattr(self, name, (_int_field(f"{name}[0]", v[0], 0), _int_field(f"{name}[1]", v[1], 0)))
        if any(hi < lo for lo, hi in zip(self.image_min_size, self.image_max_size)):
            # (every image was refused, one way or the other)
            raise InvalidArgument(f"need image_min_size <= image_max_size in width and height, got "
                                  f"{self.image_min_size} and {self.image_max_size}")
        self.image_max_pixels = _int_field("image_max_pixels", self.image_max_pixels, 0)
        self.image_min_stddev = _real_field("image_min_stddev", self.image_min_stddev, 0.0)
        self.audio_min_seconds = _real_field("audio_min_seconds", self.audio_min_seconds, 0.0)
        self.audio_max_seconds = _real_field("audio_max_seconds", self.audio_max_seconds, 0.0)
        if self.audio_max_seconds < self.audio_min_seconds:
            raise InvalidArgument(f"need audio_min_seconds <= audio_max_seconds, got {self.audio_min_seconds} > {self.audio_max_seconds}")
        if self.audio_sample_rates is not None:
            if isinstance(self.audio_sample_rates, (str, bytes)) or not isinstance(self.audio_sample_rates, Iterable):
                raise InvalidArgument(f"audio_sample_rates must be a sequence of ints or None, got {self.audio_sample_rates!r}")
            self.audio_sample_rates = tuple(_int_field("audio_sample_rates", r, 1) for r in self.audio_sample_rates)
            if not self.audio_sample_rates:
                raise InvalidArgument("audio_sample_rates is empty, so every recording would be refused; "
                                      "None takes any rate")
        if not isinstance(self.schema_strict, (bool, np.bool_)):
            raise InvalidArgument(f"schema_strict must be a bool, got {type(self.schema_strict).__name__}")
        if not isinstance(self.csv_delimiter, str) or len(self.csv_delimiter) != 1 or self.csv_delimiter in '"\r\n' \
                or (unicodedata.category(self.csv_delimiter) == "Cc" and self.csv_delimiter != "\t"):
            # (a control character such as "\x00" passed, and the CSV reader refused every upload)
            raise InvalidArgument(f"csv_delimiter must be one character (not a quote, a newline or a control "
                                  f"character other than tab), got {self.csv_delimiter!r}")
        if isinstance(self.checks, (str, bytes)) or not isinstance(self.checks, Iterable):
            raise InvalidArgument(f"checks must be a sequence of callables, got {type(self.checks).__name__}")
        self.checks = tuple(self.checks)
        bad = next((i for i, c in enumerate(self.checks) if not callable(c)), None)
        if bad is not None:
            raise InvalidArgument(f"checks[{bad}] ({type(self.checks[bad]).__name__}) is not a callable or tg.verify.Check")
        if not isinstance(self.severity, Mapping):
            raise InvalidArgument(f"severity must be a mapping reason code -> severity, got {type(self.severity).__name__}")
        for code, sev in dict(self.severity).items():
            if sev not in (*STATUSES, IGNORE):
                raise InvalidArgument(f"severity for {code!r} must be one of {(*STATUSES, IGNORE)}, got {sev!r}")
            if not isinstance(code, str):
                raise InvalidArgument(f"severity keys are reason codes (str), got {code!r}")
            if code not in REASONS:
                # Custom checks may report codes of their own; a near miss of a built-in
                # code is a typo that would silently leave that reason's severity alone.
                if not _v.valid_reason_code(code):  # "EMPTY", "Off Topic": no reason is ever written so
                    near = difflib.get_close_matches(code.lower().replace(" ", "_"), list(REASONS), n=1, cutoff=0.8)
                    raise InvalidArgument(f"severity names {code!r}, which is no reason code (lower-case letters, "
                                          f"digits and . _ : -, from a letter)" + (f"; did you mean {near[0]!r}?" if near else ""))
                near = difflib.get_close_matches(code, list(REASONS), n=1, cutoff=0.8)
                if near:
                    raise InvalidArgument(f"severity names unknown reason code {code!r}; did you mean {near[0]!r}? "
                                          "(tg.verify.REASONS lists them)")
        if self.registry is not None and not (hasattr(self.registry, "find_exact") and hasattr(self.registry, "claim")):
            raise InvalidArgument(f"registry must be a tg.verify.DedupRegistry, got {type(self.registry).__name__}")
        if self.schema is not None:
            from ._tabular import parse_schema
            parse_schema(self.schema)  # raises InvalidArgument early for a bad schema

    def _warn_unchecked_script(self) -> None:
        """A UserWarning when the task's texts are mostly letters of a script other than Latin:
        that ``text_scripts`` does not allow it, when so (every upload would be script_mismatch),
        else, when relevance is "auto", that the "auto" threshold is calibrated against English background text and the
        gibberish check reads Latin text only, so such a task's checks flag little (a sweep had 50
        of 50 random Cyrillic strings and 8 of 8 off-topic Russian sentences accepted)."""
        letters = latin = 0
        for text in (self.description, self.category, *self.examples):
            for ch in text:
                if ch.isalpha():
                    letters += 1
                    latin += unicodedata.name(ch, "").startswith("LATIN")
        if not letters or latin >= letters / 2:
            return
        joined = " ".join((self.description, self.category, *self.examples)).encode("utf-8", "replace")
        stats = _v.text_stats(joined)
        main = max(_v.script_names()[:-1], key=lambda name: stats.script_fraction([name]))
        if self.text_scripts is not None and main not in self.text_scripts:
            # (the warning below told such a task that uploads "mostly pass": every one was rejected)
            warnings.warn(f"the task's description and examples are mostly in {main} script, which text_scripts="
                          f"{tuple(self.text_scripts)} does not allow: every upload in {main} will be rejected as "
                          f"script_mismatch; set text_scripts=({main!r},) (or add it to the scripts you allow)",
                          UserWarning, stacklevel=outside_tagger())
        elif self.relevance_threshold == "auto":
            warnings.warn("the task's description and examples are mostly in a script other than Latin: the 'auto' "
                          "relevance threshold is calibrated on English text and the gibberish check reads Latin "
                          "text only, so off-topic or random uploads in that script mostly pass; set "
                          "relevance_threshold= from your own on- and off-topic examples, or review the uploads "
                          "(docs/verification.md, 'Tasks in other scripts')", UserWarning, stacklevel=outside_tagger())

    def _check_reference_letters(self) -> None:
        """A description or category without letters ("...", "🙂🙂") is no reference to compare
        uploads with: relevance to "..." flagged every on-topic upload, to "🙂🙂" none. It is left
        out of the references with a warning when the spec has others (the other of the two, or
        examples); when it has none, relevance could not work, and that is an InvalidArgument
        (unless relevance_threshold is None: then no reference is used)."""
        if self.relevance_threshold is None:
            return
        bad = [n for n in ("description", "category") if getattr(self, n).strip() and not has_letters(getattr(self, n))]
        if not bad:
            return
        if self.references:
            for n in bad:
                warnings.warn(f"{n} {getattr(self, n)[:40]!r} has no letters: it is not used as a relevance reference "
                              "(the task's other references are)", UserWarning, stacklevel=outside_tagger())
            return
        raise InvalidArgument(f"{bad[0]} {getattr(self, bad[0])[:40]!r} has no letters, and no other field of the spec "
                              "(description, category, examples) has: relevance compares uploads with the task's words. "
                              "Describe the task in words, give examples, or set relevance_threshold=None")

    @property
    def reference(self) -> str:
        """Description plus the category's words (either left out when it has no letters)."""
        cat = self.category.replace("/", " ").replace("_", " ").replace("-", " ")
        return " ".join(p for p in (self.description.strip(), cat.strip()) if p and has_letters(p))

    @property
    def own_texts(self) -> list[str]:
        """The task's own texts in its language: the description and the examples (those with letters)."""
        d = self.description.strip()
        return ([d] if d and has_letters(d) else []) + list(self.examples)

    @property
    def references(self) -> list[str]:
        """What relevance is the maximum similarity to: the reference and each example."""
        return [r for r in (self.reference, *self.examples) if r]

    @property
    def relevance_cutoff(self) -> Optional[float]:
        """The relevance threshold in force (``"auto"``: calibrated by whether examples exist)."""
        if isinstance(self.relevance_threshold, str):  # "auto": the only string __post_init__ lets through
            return RELEVANCE_THRESHOLD_EXAMPLES if len(self.examples) >= 3 else RELEVANCE_THRESHOLD_DESCRIPTION
        return self.relevance_threshold

    def severity_of(self, code: str) -> str:
        sev = self.severity.get(code)
        if sev is not None:
            return IGNORE if sev == "accepted" else sev
        return REASONS.get(code, "rejected")

    def replace(self, **changes: Any) -> "VerifySpec":
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        bits = [f"task_id={self.task_id!r}"] if self.task_id else []
        if self.description:
            d = self.description if len(self.description) <= 40 else self.description[:39] + "…"
            bits.append(f"description={d!r}")
        if self.category:
            bits.append(f"category={self.category!r}")
        bits.append(f"max_bytes={self.max_bytes}")
        if self.schema:
            bits.append(f"schema={len(self.schema)} fields")
        if self.checks:
            bits.append(f"checks={len(self.checks)}")
        if self.registry is not None:
            bits.append("registry")
        return f"VerifySpec({', '.join(bits)})"


def as_spec(task: Any) -> VerifySpec:
    """None, a VerifySpec, a mapping of VerifySpec fields, or an object with a
    ``verify_spec`` attribute (e.g. a workflow Task) -> VerifySpec."""
    if task is None:
        return VerifySpec()
    if isinstance(task, VerifySpec):
        return task
    if isinstance(task, Mapping):
        names = {f.name for f in dataclasses.fields(VerifySpec)}
        unknown = set(task) - names
        if unknown:
            raise InvalidArgument(f"unknown VerifySpec fields {sorted(unknown)}")
        return VerifySpec(**task)
    spec = getattr(task, "verify_spec", None)
    if spec is not None:
        return as_spec(spec() if callable(spec) else spec)
    raise InvalidArgument(f"task must be a VerifySpec, a dict of its fields, or have .verify_spec; got {type(task).__name__}")
