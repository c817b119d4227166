"""DedupRegistry: exact and near duplicates across a task and across the network."""

from __future__ import annotations

import threading
import unicodedata
from typing import Optional

from .._core import verify as _v
from .._fork import renew_after_fork
from ..errors import InvalidArgument
from ._spec import _int_field, _real_field


# Invisible characters no category test finds: Hangul fillers (Lo) and the blank braille
# pattern (So), which render as nothing or as a space.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Format (zero-width spaces, joiners, soft hyphens, bidi controls), nonspacing and enclosing
# marks (the combining grapheme joiner, variation selectors, "zalgo" stacks) and unassigned.
_DROPPED = frozenset({"Cf", "Mn", "Me", "Cn"})


def shingle_text(text: str) -> str:
    """The form of a text that near-duplicate sketches are taken of: NFKC (fullwidth and
    compatibility letters as their plain forms, accents composed) without invisible
    characters (format characters, combining marks, variation selectors, fillers), so a copy
    padded with invisible characters or retyped in fullwidth letters is still its original's
    near duplicate. (Look-alike letters of other scripts are not mapped.)"""
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) not in _DROPPED and ch not in _BLANK_LETTERS)


def sketch_text(text: str) -> str:
    """What near-duplicate sketches (character 5-grams) are taken of: :func:`shingle_text`,
    case-folded, with its letters and digits only. Spaces and punctuation are not kept, so a
    copy whose spaces were replaced by blank or invisible characters (U+2800, U+3164, U+200B:
    it reads the same) or by "-" or ", " keeps its 5-grams; case-folding is Unicode's, so an
    upper-case copy of a Russian or Greek text is its original's copy (only A-Z were lowered)."""
    return sketch_of(shingle_text(text))


def sketch_of(shingled: str) -> str:
    """:func:`sketch_text` of a text already in its :func:`shingle_text` form."""
    return "".join(ch for ch in shingled.casefold() if unicodedata.category(ch)[0] in "LN" and ch not in _BLANK_LETTERS)


class DedupRegistry:
    """What has been uploaded, for duplicate checks. The caller keeps one per network
    (``VerifySpec(registry=...)``) and :func:`check` consults and updates it.

    * exact: SHA-256 of the plaintext -> the (task_id, item_id) that first had it;
      the same bytes in the same task give ``duplicate_in_task``, in another task
      ``duplicate_in_network``;
    * near, text: MinHash (``num_perm`` slots, character ``shingle_k``-grams) in an LSH
      index; a stored text with estimated Jaccard >= ``cutoff`` gives ``near_duplicate``.
      With the default cutoff t - 2·sqrt(t(1-t)/num_perm) a pair at exactly J = t is
      caught with probability ≈ 0.98 (t = ``text_threshold``);
    * near, image: 64-bit pHash; a stored image within ``image_distance`` bits gives
      ``near_duplicate_image``.

    Thread-safe (one lock). Only plaintext *hashes* and sketches are kept, never data.
    """

    def __init__(self, text_threshold: float = 0.8, num_perm: int = 128, image_distance: int = 8,
                 cutoff: Optional[float] = None, seed: int = 1) -> None:
        _int_field("image_distance", image_distance, 0, 64)
        _int_field("num_perm", num_perm, 1, 2**32 - 1)
        _int_field("seed", seed, 0, 2**32 - 1)
        _real_field("text_threshold", text_threshold, 0.0, 1.0)
        if cutoff is not None:
            _real_field("cutoff", cutoff, 0.0, 1.0)
        self._lsh = _v.MinHashLSH(num_perm=num_perm, threshold=text_threshold,
                                  cutoff=-1.0 if cutoff is None else float(cutoff), seed=seed)
        self._images = _v.HashIndex()
        self.image_distance = int(image_distance)
        self._exact: dict[bytes, tuple[str, str]] = {}
        self._aliases = 0  # content keys in _exact besides the uploads' own hashes
        # Uploads being checked right now (claim() .. add()/release()): the same bytes
        # checked from another thread meanwhile are its duplicate, not a second original.
        self._pending: dict[bytes, tuple[str, str]] = {}
        # Owners of the sketches by insertion index; None once forgotten (the LSH and the pHash
        # index cannot delete, so a forgotten entry is skipped by every lookup).
        self._text_owner: list[Optional[tuple[str, str]]] = []
        self._image_owner: list[Optional[tuple[str, str]]] = []
        self._sketches: dict[bytes, tuple[Optional[int], Optional[int], Optional[bytes]]] = {}
        self._additions = 0  # uploads added so far: a check that looked at n knows whether any came since
        self._lock = threading.Lock()
        renew_after_fork(self, "_lock")  # (tagger/_fork.py)

    @property
    def text_threshold(self) -> float:
        return self._lsh.threshold

    @property
    def text_cutoff(self) -> float:
        """The estimated-Jaccard cutoff actually applied."""
        return self._lsh.cutoff

    @property
    def lsh_params(self) -> tuple[int, int]:
        """(bands, rows) of the LSH index."""
        return self._lsh.bands, self._lsh.rows

    def find_exact(self, sha256: bytes) -> Optional[tuple[str, str]]:
        with self._lock:
            return self._exact.get(bytes(sha256))

    def claim(self, sha256: bytes, task_id: str = "", item_id: str = "") -> Optional[tuple[str, str]]:
        """The owner of ``sha256`` if it is recorded or being checked by another caller;
        else None, and the hash is held for this caller until :meth:`add` records it or
        :meth:`release` lets it go. Check-then-add in one step: of several threads checking
        the same bytes at once, exactly one gets None."""
        key = bytes(sha256)
        with self._lock:
            owner = self._exact.get(key) or self._pending.get(key)
            if owner is None:
                self._pending[key] = (str(task_id), str(item_id) or key.hex())
            return owner

    def release(self, sha256: bytes) -> None:
        """Lets go of a :meth:`claim` whose upload is not recorded (rejected, or only looked at)."""
        with self._lock:
            self._pending.pop(bytes(sha256), None)

    def find_text(self, text: str) -> list[tuple[str, str, float]]:
        """[(task_id, item_id, estimated Jaccard)] best first."""
        key = sketch_text(text)
        with self._lock:
            return self._texts_near(key)

    def _texts_near(self, key: str) -> list[tuple[str, str, float]]:
        return [(*o, j) for i, j in self._lsh.query(key) if (o := self._text_owner[i]) is not None]

    def _images_near(self, phash: int) -> list[tuple[str, str, int]]:
        return [(*o, d) for i, d in self._images.query(int(phash), self.image_distance)
                if (o := self._image_owner[i]) is not None]

    def find_image(self, phash: int) -> list[tuple[str, str, int]]:
        """[(task_id, item_id, Hamming distance)] nearest first."""
        with self._lock:
            return self._images_near(phash)

    @property
    def additions(self) -> int:
        """How many uploads have been added: pass it as ``add(seen=...)`` when read before a
        :meth:`find_text`/:meth:`find_image` lookup."""
        return self._additions

    def add(self, sha256: bytes, task_id: str = "", item_id: str = "", *, text: Optional[str] = None,
            phash: Optional[int] = None, content: Optional[bytes] = None, seen: Optional[int] = None
            ) -> tuple[list[tuple[str, str, float]], list[tuple[str, str, int]]]:
        """Record one upload (its hash, and its text sketch or image hash). ``content``: the
        SHA-256 of its content in a canonical form (the JSON value, the CSV cells, the WAV
        samples), under which a reformatted copy is found too.

        Returns the near duplicates (texts, images; as :meth:`find_text` / :meth:`find_image`)
        recorded before this one, looked up in the same step as the insertion: a near copy
        checked by another thread at the same moment is found here though neither check saw
        the other. With ``seen`` (:attr:`additions` read before the caller's own lookup) and no
        upload added since, that lookup was complete and is not repeated."""
        if content is not None and (not isinstance(content, (bytes, bytearray, memoryview)) or len(bytes(content)) != 32):
            raise InvalidArgument(f"content must be a 32-byte SHA-256, got {type(content).__name__}")
        if not isinstance(sha256, (bytes, bytearray, memoryview)) or len(bytes(sha256)) != 32:
            raise InvalidArgument(f"sha256 must be the 32-byte SHA-256 of the upload, got {type(sha256).__name__}")
        if text is not None:
            if not isinstance(text, str):
                raise InvalidArgument(f"text must be a str, got {type(text).__name__}")
            try:
                text.encode("utf-8")  # checked before anything is recorded: no half-added entry
            except UnicodeEncodeError as e:
                raise InvalidArgument(f"text is not valid text: {e.reason} at position {e.start}") from None
        owner = (str(task_id), str(item_id) or bytes(sha256).hex())
        key = sketch_text(text) if text is not None else None
        text_near: list[tuple[str, str, float]] = []
        image_near: list[tuple[str, str, int]] = []
        with self._lock:
            self._pending.pop(bytes(sha256), None)
            if content is not None:
                self._pending.pop(bytes(content), None)
            if bytes(sha256) in self._exact:
                return text_near, image_near
            self._exact[bytes(sha256)] = owner
            alias = None  # the content key, when this upload is the one it now names
            if content is not None and bytes(content) not in self._exact:
                alias = bytes(content)
                self._exact[alias] = owner
                self._aliases += 1
            text_at = image_at = None
            fresh = seen is None or seen != self._additions
            self._additions += 1
            if key is not None:
                text_near = self._texts_near(key) if fresh else []
                self._lsh.insert(key)
                text_at = len(self._text_owner)
                self._text_owner.append(owner)
            if phash is not None:
                image_near = self._images_near(phash) if fresh else []
                self._images.insert(int(phash))
                image_at = len(self._image_owner)
                self._image_owner.append(owner)
            self._sketches[bytes(sha256)] = (text_at, image_at, alias)
        return text_near, image_near

    def forget(self, sha256: bytes) -> None:
        """Undoes :meth:`add` of ``sha256`` (its content key and sketches too): for an upload
        the ledger then refused, or whose batch was dropped, so that it blocks no later copy."""
        key = bytes(sha256)
        with self._lock:
            self._pending.pop(key, None)
            if key not in self._sketches:  # not an upload recorded by add (or a content key): nothing to undo
                return
            del self._exact[key]
            text_at, image_at, content = self._sketches.pop(key)
            if content is not None and self._exact.pop(content, None) is not None:
                self._aliases -= 1
            if text_at is not None:
                self._text_owner[text_at] = None
            if image_at is not None:
                self._image_owner[image_at] = None

    def __len__(self) -> int:
        return len(self._exact) - self._aliases  # uploads, not keys

    def __repr__(self) -> str:
        b, r = self.lsh_params
        texts = sum(o is not None for o in self._text_owner)
        images = sum(o is not None for o in self._image_owner)
        return (f"DedupRegistry({len(self)} items, {texts} texts, {images} images; "
                f"text J>={self.text_threshold} (cutoff {self.text_cutoff:.3f}, {b}x{r} LSH), "
                f"image d<={self.image_distance})")
