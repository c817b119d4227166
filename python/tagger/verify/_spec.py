"""VerifySpec: everything a task tells the verifier (limits, schema, thresholds,
user checks, the duplicate registry)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

from ..errors import InvalidArgument
from ._reasons import IGNORE, REASONS, STATUSES

# Calibrated on banking77 (see docs/verification.md, "Calibration").
DEFAULT_GIBBERISH_THRESHOLD = -3.85        # nats per non-space character (character-level noise)
DEFAULT_GIBBERISH_PIECE_THRESHOLD = -9.5   # nats per piece (word salad of rare pieces)
RELEVANCE_THRESHOLD_DESCRIPTION = 0.05  # reference = description + category only
RELEVANCE_THRESHOLD_EXAMPLES = 0.22     # reference also holds >= 3 example items

KINDS = ("text", "image", "audio", "json", "csv")
_ALIASES = {"tabular": "csv", "wav": "audio", "jsonl": "json"}


def normalize_kind(kind: Any) -> str:
    """The canonical kind name; InvalidArgument for anything else (API misuse)."""
    if not isinstance(kind, str):
        raise InvalidArgument(f"kind must be a str, got {type(kind).__name__}")
    k = _ALIASES.get(kind.lower(), kind.lower())
    if k not in KINDS:
        raise InvalidArgument(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)}; aliases {sorted(_ALIASES)})")
    return k


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
    image_formats: Sequence[str] = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
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
        if not isinstance(self.max_bytes, int) or self.max_bytes < 0:
            raise InvalidArgument(f"max_bytes must be a non-negative int, got {self.max_bytes!r}")
        if self.text_min_chars < 0 or self.text_max_chars < self.text_min_chars:
            raise InvalidArgument("need 0 <= text_min_chars <= text_max_chars")
        for code, sev in dict(self.severity).items():
            if sev not in (*STATUSES, IGNORE):
                raise InvalidArgument(f"severity for {code!r} must be one of {(*STATUSES, IGNORE)}, got {sev!r}")
        if isinstance(self.examples, str) or not all(isinstance(e, str) for e in self.examples):
            raise InvalidArgument("examples must be a sequence of str")
        if isinstance(self.relevance_threshold, str) and self.relevance_threshold != "auto":
            raise InvalidArgument(f"relevance_threshold must be a float, 'auto' or None, got {self.relevance_threshold!r}")
        if self.registry is not None and not hasattr(self.registry, "find_exact"):
            raise InvalidArgument(f"registry must be a tg.verify.DedupRegistry, got {type(self.registry).__name__}")
        if self.schema is not None:
            from ._tabular import parse_schema
            parse_schema(self.schema)  # raises InvalidArgument early for a bad schema

    @property
    def reference(self) -> str:
        """Description plus the category's words."""
        cat = self.category.replace("/", " ").replace("_", " ").replace("-", " ")
        return " ".join(p for p in (self.description.strip(), cat.strip()) if p)

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
