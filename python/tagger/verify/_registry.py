"""DedupRegistry: exact and near duplicates across a task and across the network."""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
import threading
import unicodedata
from typing import NamedTuple, Optional

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
    near duplicate. (Look-alike letters of other scripts are mapped by :func:`sketch_text`.)"""
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():
        return text
    # Tested per distinct character, deleted in C (a test per character cost 1.2 s on the 1.8M
    # characters that 100,000 U+FDFA become under NFKC).
    drop = {ord(ch): None for ch in set(text) if unicodedata.category(ch) in _DROPPED or ch in _BLANK_LETTERS}
    return text.translate(drop) if drop else text


# Letters of other scripts drawn like a Latin letter (Unicode TR39's confusables, as they are
# after case-folding), read as that letter in sketches and word sets: a copy with Latin letters
# swapped for Cyrillic or Greek look-alikes reads the same and was another text to every rule.
# A letter maps to the Latin letter its capital or its small form is drawn like (Greek η, μ, τ:
# capitals like H, M, T); where both are, to the small form's (ν like v, its capital like N).
# Texts in those scripts are sketched consistently, so their copies are still found.
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "н": "h", "і": "i", "ї": "i", "ј": "j", "к": "k",
    "ӏ": "l", "м": "m", "о": "o", "р": "p", "ԛ": "q", "с": "c", "ѕ": "s", "т": "t", "у": "y", "ү": "y",
    "х": "x", "ԁ": "d", "ԝ": "w", "ɡ": "g", "ı": "i",
    "α": "a", "β": "b", "ε": "e", "η": "h", "ι": "i", "κ": "k", "μ": "m", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ζ": "z", "ϲ": "c", "ϳ": "j",
})


def sketch_text(text: str) -> str:
    """What near-duplicate sketches (character 5-grams) are taken of: :func:`shingle_text`,
    case-folded, with its letters and digits only. Spaces and punctuation are not kept, so a
    copy whose spaces were replaced by blank or invisible characters (U+2800, U+3164, U+200B:
    it reads the same) or by "-" or ", " keeps its 5-grams; case-folding is Unicode's, so an
    upper-case copy of a Russian or Greek text is its original's copy (only A-Z were lowered);
    Cyrillic and Greek letters drawn like a Latin letter are read as it (``_CONFUSABLES``)."""
    return sketch_of(shingle_text(text))


# Words: runs of letters and digits (not "arrive-my-card", one word to a pattern that keeps
# inner hyphens: shuffled words joined by "-" or "." would pass the word rules).
LETTER_RUN = re.compile(r"[^\W_]+")
_NO_BLANK_LETTERS = {ord(c): None for c in _BLANK_LETTERS}


def _folded(shingled: str) -> str:
    folded = shingled.casefold()
    return folded if folded.isascii() else folded.translate(_CONFUSABLES)


def sketch_of(shingled: str) -> str:
    """:func:`sketch_text` of a text already in its :func:`shingle_text` form."""
    # [^\W_] is exactly the letters and numbers (general category L* or N*: checked over every
    # code point), matched in C instead of a Python test per character (1.8M characters: 1.1 s).
    return "".join(LETTER_RUN.findall(_folded(shingled))).translate(_NO_BLANK_LETTERS)





def words_of(shingled: str) -> frozenset[str]:
    """The distinct words, case-folded, of a text already in its :func:`shingle_text` form."""
    return frozenset(LETTER_RUN.findall(_folded(shingled)))


# A word set is looked up give or take one word from this many distinct words on (then the
# Jaccard of the two sets is >= 0.9), up to the second bound (a longer text changed by a word
# keeps its 5-grams: the Jaccard rule finds it).
WORDS_PLUS_MINUS_ONE = (10, 40)
# Near copies reported per rule at most (the first is what a verdict names): a check stays quick
# when many near-identical texts are stored (templated uploads).
COPIES_PER_RULE = 16
# Texts with fewer distinct words are not compared by their word sets: "Is my card broken?" and
# "My card is broken", "My transfer is still pending" and "Is my transfer still pending?" are
# honest texts each.
WORDS_MIN = 6


_MASK64 = (1 << 64) - 1


def _set_key(size: int, total: int) -> int:
    """The key of a word set from its size and the sum (mod 2^64) of its words' keyed hashes: the
    set less one word is one subtraction away (sorting and hashing each such set anew was most
    of the word rule's time)."""
    return (size << 64) | (total & _MASK64)


class NearText(NamedTuple):
    """A stored text that an upload nearly copies (:meth:`DedupRegistry.find_copies`)."""

    task_id: str
    item_id: str
    rule: str  # "jaccard" | "edits" | "words" | "inside" | "cut"
    # the estimated Jaccard; the edits (an upper bound); the share of distinct words shared; the
    # share of the upload that is the stored text; the share of the stored text that the upload is
    score: float
    detail: str  # the finding, in words

    @staticmethod
    def _of(owner: tuple[str, str], rule: str, score: float, detail: str) -> "NearText":
        return NearText(owner[0], owner[1], rule, score, f"{detail} item {owner[1]!r} of task {owner[0]!r}")


class DedupRegistry:
    """What has been uploaded, for duplicate checks. The caller keeps one per network
    (``VerifySpec(registry=...)``) and :func:`check` consults and updates it.

    * exact: SHA-256 of the plaintext -> the (task_id, item_id) that first had it;
      the same bytes in the same task give ``duplicate_in_task``, in another task
      ``duplicate_in_network``;
    * near, text (``near_duplicate``), by these rules on the text's letters and digits:

      - MinHash (``num_perm`` slots, character 5-grams) in an LSH index: a stored text with
        estimated Jaccard >= ``cutoff``. With the default cutoff t - 2·sqrt(t(1-t)/num_perm) a
        pair at exactly J = t is caught with probability ≈ 0.98 (t = ``text_threshold``);
      - edits: a stored text of 10 to 256 letters and digits that the upload is within
        ``max(1, text_edit_share × its length)`` edits of (letters changed, added or removed),
        found from hashes of its 4-letter blocks (:class:`~tagger._core.verify.EditIndex`:
        every one-edit copy; copies whose edits fall in distinct blocks). One changed letter
        alters up to five 5-grams of a 30-letter question, so Jaccard alone let such copies of
        another worker's upload through, and both were paid;
      - words: a stored text of at least 6 distinct words with the same distinct words, or
        (from 10 words) one word more or fewer: a copy with its words reordered
        ("arrive my card new When will?") changes most 5-grams and edits;
      - parts (:class:`~tagger._core.verify.ContainmentIndex`): a stored text of 20 to 256
        letters and digits that is the whole of at least half of the upload (a greeting added,
        two uploads joined: rule "inside"), or whose start, end or a middle part the upload is,
        at least 20 of them and 60 % of it (cut short or at both ends: rule "cut"). Exact on
        the letters and digits, from hashes of each stored text's prefixes and suffixes (and
        its winnowed 12-letter grams, which find the middle parts).

      Measured (benchmarks/bench_verify.py part 6: Banking77's 10,003 training questions stored,
      its 3,080 test questions as honest uploads): 7.2 % of the honest questions are flagged by
      the Jaccard rule alone — Banking77 holds many near-identical questions ("What exchange
      rate do you use?" / "What exchange rates do you use?") — and 12.5 % by all of them;
      see docs/verification.md for the copies caught;
    * near, image: 64-bit pHash; a stored image within ``image_distance`` bits gives
      ``near_duplicate_image``.

    Thread-safe (one lock). Only plaintext *hashes* and sketches are kept, never the bytes. They
    are no secret: hashes of 4-letter blocks, 5-grams and word sets yield to a dictionary attack,
    and the prefix hashes of the parts rule give a text's letters and digits back one by one. So
    the text rules' hashes stay in memory and are never written to disk (a reopened market
    restores the exact and image hashes only).
    ``text_edit_share=None``, ``text_word_sets=False`` and ``text_parts=False`` turn those rules off.
    """

    def __init__(self, text_threshold: float = 0.8, num_perm: int = 128, image_distance: int = 8,
                 cutoff: Optional[float] = None, seed: int = 1, *, text_edit_share: Optional[float] = 0.1,
                 text_word_sets: bool = True, text_parts: bool = True) -> None:
        _int_field("image_distance", image_distance, 0, 64)
        _int_field("num_perm", num_perm, 1, 2**32 - 1)
        _int_field("seed", seed, 0, 2**32 - 1)
        _real_field("text_threshold", text_threshold, 0.0, 1.0)
        if cutoff is not None:
            _real_field("cutoff", cutoff, 0.0, 1.0)
        if text_edit_share is not None:
            _real_field("text_edit_share", text_edit_share, 0.0, 0.15)
        for name, flag in (("text_word_sets", text_word_sets), ("text_parts", text_parts)):
            if not isinstance(flag, bool):
                raise InvalidArgument(f"{name} must be True or False, got {flag!r}")
        self._lsh = _v.MinHashLSH(num_perm=num_perm, threshold=text_threshold,
                                  cutoff=-1.0 if cutoff is None else float(cutoff), seed=seed)
        self._images = _v.HashIndex()
        # Ids as the LSH's (one per added text): _text_owner says whose, and whether forgotten.
        # Their hashes keyed by a secret of this registry: with a public key, texts whose hashes
        # collide with another's could be prepared (a false near_duplicate for an honest upload).
        # Only a collision (2^-61 for the parts' hashes, 2^-64 for the blocks') depends on the key.
        key = secrets.randbits(64)
        self._edits = None if text_edit_share is None else _v.EditIndex(share=float(text_edit_share), seed=key)
        self._word_sets: Optional[dict[int, list[int]]] = {} if text_word_sets else None
        self._word_sets_minus_one: dict[int, list[int]] = {}  # each set less one of its words
        self._word_salt = secrets.token_bytes(16)  # (sums of unkeyed hashes could be made to collide)
        self._parts = _v.ContainmentIndex(seed=key) if text_parts else None
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

    @property
    def text_edit_share(self) -> Optional[float]:
        return None if self._edits is None else self._edits.share

    def find_copies(self, text: str) -> list[NearText]:
        """The stored texts ``text`` nearly copies, by each rule (Jaccard best first, then the
        fewest edits, then the same words): what ``check`` reports as ``near_duplicate``."""
        shingled = shingle_text(text)
        key, words = sketch_of(shingled), words_of(shingled)
        with self._lock:
            return self._copies_near(key, words, self._word_hashes(words))

    def _copies_near(self, key: str, words: frozenset[str], word_hashes: list[int]) -> list[NearText]:
        out = [NearText._of((t, i), "jaccard", j, f"estimated Jaccard {j:.2f} with") for t, i, j in self._texts_near(key)]
        if self._edits is not None:
            for at, edits, length in self._edits.query(key, COPIES_PER_RULE):
                if (o := self._text_owner[at]) is not None:
                    out.append(NearText._of(o, "edits", float(edits),
                                            f"at most {edits} of the {length} letters and digits changed from"))
        if self._word_sets is not None and len(words) >= WORDS_MIN:
            out += self._same_words(words, word_hashes)
        if self._parts is not None:
            m = len(key)
            for at, kind, length in self._parts.query(key, COPIES_PER_RULE):
                if (o := self._text_owner[at]) is not None:
                    if kind == "inside":
                        out.append(NearText._of(o, "inside", length / m,
                                                f"{length} of its {m} letters and digits are the whole of"))
                    else:
                        out.append(NearText._of(o, "cut", m / length,
                                                f"its {m} letters and digits are the {kind} of the {length} of"))
        return out

    def _word_hashes(self, words: frozenset[str]) -> list[int]:
        """The keyed hashes of ``words`` (sorted), for the word rule; none when it does not apply."""
        if self._word_sets is None or len(words) < WORDS_MIN:
            return []
        salt = self._word_salt
        return [int.from_bytes(hashlib.blake2b(w.encode("utf-8", "surrogatepass"), digest_size=8, key=salt).digest(),
                               "little") for w in sorted(words)]

    def _same_words(self, words: frozenset[str], hashes: list[int]) -> list[NearText]:
        assert self._word_sets is not None
        n = len(words)
        total = sum(hashes)
        # (Lazily: a thousand stored texts with one word set must not make each check a thousand long.)
        found = itertools.chain(
            ((i, 1.0, f"the same {n} distinct words as") for i in self._word_sets.get(_set_key(n, total), ())),
            ((i, n / (n + 1), f"{n} of the {n + 1} distinct words of")  # one word fewer
             for i in self._word_sets_minus_one.get(_set_key(n, total), ())))
        lo, hi = WORDS_PLUS_MINUS_ONE
        if lo <= n <= hi:  # one word more
            found = itertools.chain(found, ((i, (n - 1) / n, f"{n - 1} of its {n} distinct words: all those of")
                                            for h in hashes for i in self._word_sets.get(_set_key(n - 1, total - h), ())))
        out, seen = [], set()
        for i, share, detail in found:
            if (o := self._text_owner[i]) is not None and i not in seen:
                seen.add(i)
                out.append(NearText._of(o, "words", share, detail))
                if len(out) == COPIES_PER_RULE:
                    break
        return out

    def _add_words(self, at: int, words: frozenset[str], hashes: list[int]) -> None:
        if self._word_sets is None or len(words) < WORDS_MIN:
            return
        n = len(words)
        total = sum(hashes)
        self._word_sets.setdefault(_set_key(n, total), []).append(at)
        lo, hi = WORDS_PLUS_MINUS_ONE
        if lo <= n <= hi:
            for h in hashes:
                self._word_sets_minus_one.setdefault(_set_key(n - 1, total - h), []).append(at)

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
            ) -> tuple[list[NearText], list[tuple[str, str, int]]]:
        """Record one upload (its hash, and its text sketch or image hash). ``content``: the
        SHA-256 of its content in a canonical form (the JSON value, the CSV cells, the WAV
        samples), under which a reformatted copy is found too.

        Returns the near duplicates (texts, images; as :meth:`find_copies` / :meth:`find_image`)
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
        shingled = shingle_text(text) if text is not None else None
        key = sketch_of(shingled) if shingled is not None else None
        words = words_of(shingled) if shingled is not None else frozenset()
        word_hashes = self._word_hashes(words)  # (once, for the lookup and the record; outside the lock)
        text_near: list[NearText] = []
        image_near: list[tuple[str, str, int]] = []
        with self._lock:
            self._pending.pop(bytes(sha256), None)
            if content is not None:
                self._pending.pop(bytes(content), None)
            if bytes(sha256) in self._exact:
                return text_near, image_near
            # Looked up first, recorded after: a lookup that raises leaves nothing half-added.
            fresh = seen is None or seen != self._additions
            if key is not None and fresh:
                text_near = self._copies_near(key, words, word_hashes)
            if phash is not None and fresh:
                image_near = self._images_near(phash)
            text_at = image_at = None
            if key is not None:
                text_at = len(self._text_owner)
                self._insert_text(text_at, key)
                self._add_words(text_at, words, word_hashes)
                self._text_owner.append(owner)
            if phash is not None:
                self._images.insert(int(phash))
                image_at = len(self._image_owner)
                self._image_owner.append(owner)
            self._exact[bytes(sha256)] = owner
            alias = None  # the content key, when this upload is the one it now names
            if content is not None and bytes(content) not in self._exact:
                alias = bytes(content)
                self._exact[alias] = owner
                self._aliases += 1
            self._additions += 1
            self._sketches[bytes(sha256)] = (text_at, image_at, alias)
        return text_near, image_near

    def _insert_text(self, at: int, key: str) -> None:
        """``key`` into every text index under id ``at``. The indexes number their texts in step
        with ``_text_owner``; one that raised part way (out of memory, full) would shift every
        later id onto another owner, so the others are brought level with an unowned entry."""
        indexes = [ix for ix in (self._lsh, self._edits, self._parts) if ix is not None]
        try:
            for ix in indexes:
                ix.insert(key)
        except BaseException:
            for ix in indexes:
                if len(ix) == at:
                    ix.insert("")
            self._text_owner.append(None)
            raise

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
                # (and out of the indexes that stop at COPIES_PER_RULE matches: forgotten copies
                # counted there hid a live original)
                for index in (self._edits, self._parts):
                    if index is not None:
                        index.forget(text_at)
            if image_at is not None:
                self._image_owner[image_at] = None

    def __len__(self) -> int:
        return len(self._exact) - self._aliases  # uploads, not keys

    def __repr__(self) -> str:
        b, r = self.lsh_params
        texts = sum(o is not None for o in self._text_owner)
        images = sum(o is not None for o in self._image_owner)
        return (f"DedupRegistry({len(self)} items, {texts} texts, {images} images; "
                f"text J>={self.text_threshold} (cutoff {self.text_cutoff:.3f}, {b}x{r} LSH)"
                + ("" if self._edits is None else f", edits<={self._edits.share:.0%}")
                + (", same words" if self._word_sets is not None else "")
                + (", parts" if self._parts is not None else "") + ", "
                f"image d<={self.image_distance})")
