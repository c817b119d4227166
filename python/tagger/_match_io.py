"""Saving and loading a fitted :class:`tagger.match.CategoryIndex` (``save``/``load``,
``to_bytes``/``from_bytes``, pickle).

File layout::

    b"TGIX"  u32 version (1)  u32 header length  header (JSON, UTF-8)
    blobs    the header's "blobs" in order: the C++ index (CategoryIndex::serialize),
             then an embedded tokenizer and/or static embedding table when not the shipped ones
    sha256   of everything above (a truncated or altered file is refused)

The header records what the C++ bytes leave out: the calibration (threshold, what it
measured), which tokenizer and dense table the index was fitted with (the shipped ones by
their SHA-256, so a file does not carry 8 MB of table and a mismatched tagger release is
caught; any other embedded), and for a catalog index the catalog and the settings to rebuild
it, and the type of labels that were not ``str`` (``int_labels``: all ints; else ``label_kinds``,
match.LABEL_KINDS by category). Training texts are never stored: a saved few-shot index holds
weights and IDF only.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import struct
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _core
from ._json_depth import MAX_JSON_DEPTH, too_deep
from .errors import DecodeError, InvalidArgument, NotFitted, TaggerError

if TYPE_CHECKING:
    from .match import CategoryIndex, StaticEmbedding, Tokenizer

MAGIC = b"TGIX"
VERSION = 1
_HEAD = struct.Struct("<4sII")
_DIGEST = 32


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tokenizer_ref(tok_bytes: bytes, blobs: list[bytes]) -> dict[str, Any]:
    from .match import _tokenizer

    if _sha(tok_bytes) == _sha(_tokenizer(None).serialized_model()):
        return {"shipped": _sha(tok_bytes)}
    blobs.append(tok_bytes)
    return {"embedded": len(tok_bytes)}


def _dense_ref(emb: StaticEmbedding | None, blobs: list[bytes]) -> dict[str, Any] | None:
    if emb is None:
        return None
    if emb._bytes is None:  # the shipped table
        return {"shipped": emb._sha256}
    blobs.append(emb._bytes)
    return {"embedded": len(emb._bytes)}


def to_bytes(index: CategoryIndex) -> bytes:
    """The saved form of ``index`` (see the module docstring)."""
    from .match import CategoryIndex

    with index._state_lock:  # one consistent fit, as a query takes it
        state = dict(index.__dict__)
    blobs: list[bytes] = []
    header: dict[str, Any] = {"tagger": _core.__version__, "source": state["_source"],
                              "threshold": None if state["_threshold"] is None else float(state["_threshold"]),
                              "calibration": state["calibration"],
                              "temperature": state["_temperature"]}
    # Labels that were not str (match.LABEL_KINDS): each such category's kind. "int_labels" (every
    # category an int) is what a file of an earlier release recorded, and what it reads.
    kinds = dict(state["_label_kinds"])
    header["int_labels"] = bool(kinds) and len(kinds) == len(state["_categories"]) and \
        all(k == "int" for k in kinds.values())
    if kinds and not header["int_labels"]:
        header["label_kinds"] = kinds
    if index is CategoryIndex._default:
        header["kind"] = "default"
    elif state["_backend"] is not None:
        raise InvalidArgument("an index fitted with a backend cannot be saved: the backend is your own model, which "
                              "tagger cannot store; save that model itself, or fit without backend= (the built-in "
                              "dense + sparse features) to get a savable index")
    elif state["_core"] is None:
        raise NotFitted("this CategoryIndex is not fitted: there is nothing to save (fit it with idx.fit(texts, labels))")
    elif state.get("_build") is not None:  # a catalog index: rebuilt from its catalog on load
        build = dict(state["_build"])
        header["kind"] = "catalog"
        header["catalog"] = [c.to_dict() for c in state["catalog"]]
        header["tokenizer"] = _tokenizer_ref(build.pop("tokenizer"), blobs)
        header["dense"] = _dense_ref(build.pop("dense"), blobs)
        header["build"] = build
    else:
        core = state["_core"]
        blobs.append(core.serialize())
        header["kind"] = "fit"
        header["tokenizer"] = _tokenizer_ref(core.embedder().tokenizer().serialized_model(), blobs)
        header["dense"] = _dense_ref(state.get("_dense"), blobs)
    header["blobs"] = [len(b) for b in blobs]
    head = json.dumps(header, sort_keys=True, allow_nan=False).encode()
    body = _HEAD.pack(MAGIC, VERSION, len(head)) + head + b"".join(blobs)
    return body + hashlib.sha256(body).digest()


def _read_tokenizer(ref: dict[str, Any], blobs: list[bytes]) -> Tokenizer:
    from .match import Tokenizer, _tokenizer

    if "shipped" in ref:
        tok = _tokenizer(None)
        if _sha(tok.serialized_model()) != ref["shipped"]:
            raise InvalidArgument("this index was saved with another release's shipped tokenizer "
                                  f"(sha256 {ref['shipped'][:12]}…); fit it again with this tagger")
        return tok
    return Tokenizer.from_bytes(blobs.pop(0))


def _read_dense(ref: dict[str, Any] | None, blobs: list[bytes]) -> StaticEmbedding | None:
    from .match import StaticEmbedding

    if ref is None:
        return None
    if "shipped" in ref:
        emb = StaticEmbedding.default()
        if emb._sha256 != ref["shipped"]:
            raise InvalidArgument("this index was saved with another release's shipped static embedding "
                                  f"(sha256 {ref['shipped'][:12]}…); fit it again with this tagger")
        return emb
    return StaticEmbedding(blobs.pop(0))


def from_bytes(data: bytes) -> CategoryIndex:
    """The index saved by :func:`to_bytes`; DecodeError for bytes that are not one (or are damaged)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidArgument(f"expected the bytes of a saved CategoryIndex, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _HEAD.size + _DIGEST or data[:4] != MAGIC:
        raise DecodeError("not a saved tagger CategoryIndex (no TGIX header)")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        raise DecodeError("the saved CategoryIndex is damaged or truncated (its SHA-256 does not match)")
    _, version, head_len = _HEAD.unpack_from(body)
    if version != VERSION:
        raise DecodeError(f"saved CategoryIndex has format version {version}; this tagger reads version {VERSION}")
    try:
        text = body[_HEAD.size:_HEAD.size + head_len].decode("utf-8")
        if too_deep(text):  # (json.loads under a raised recursion limit overflowed the C stack: a crash)
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        header = json.loads(text)
        sizes = [int(n) for n in header["blobs"]]
        kind = header["kind"]
    except (ValueError, KeyError, TypeError, RecursionError) as e:  # (RecursionError: nesting too deep)
        raise DecodeError(f"the saved CategoryIndex has a bad header: {e}") from None
    at = _HEAD.size + head_len
    if at + sum(sizes) != len(body) or any(n < 0 for n in sizes):
        raise DecodeError("the saved CategoryIndex's parts do not add up to its size")
    blobs = []
    for n in sizes:
        blobs.append(body[at:at + n])
        at += n
    try:
        return _rebuild(kind, header, blobs)
    except MemoryError:  # the core's bare std::bad_alloc
        raise MemoryError("loading the saved CategoryIndex ran out of memory: an index holds 4 x 2^hash_bits bytes "
                          "of IDF (up to 4 GiB at hash_bits=30) beside its weights, and a catalog index is trained "
                          "again; load it where more memory is free, or fit it again with a smaller hash_bits") from None
    except (KeyError, TypeError, ValueError, IndexError) as e:  # a header edited by hand (its checksum redone)
        if isinstance(e, TaggerError):  # already says what is wrong
            raise
        raise DecodeError(f"the saved CategoryIndex has a bad header: {type(e).__name__}: {e}") from None


def _rebuild(kind: str, header: dict[str, Any], blobs: list[bytes]) -> CategoryIndex:
    from .match import Catalog, CategoryIndex

    if kind == "default":
        # A copy of its own (sharing the built model), not the process-wide object: a threshold
        # set on a loaded, unpickled or deep-copied default index changed CategoryIndex.default().
        return CategoryIndex.default()._shared_copy()
    if kind == "catalog":
        tok = _read_tokenizer(header["tokenizer"], blobs)
        dense = _read_dense(header["dense"], blobs)
        idx = CategoryIndex.from_catalog(Catalog(header["catalog"]), tokenizer=tok,
                                         dense=dense if dense is not None else False, **header["build"])
    elif kind == "fit":
        core_bytes = blobs.pop(0)
        tok = _read_tokenizer(header["tokenizer"], blobs)
        dense = _read_dense(header["dense"], blobs)
        core = _core.match.CategoryIndex.deserialize(core_bytes, tok._core, dense._core if dense is not None else None)
        idx = CategoryIndex(_core=core, _source=header["source"])
        idx._dense = dense
    else:
        raise DecodeError(f"the saved CategoryIndex is of unknown kind {kind!r}")
    idx._source = header["source"]
    # The float64 the calibration found (the C++ index holds its float32, restored above).
    t = float(header["temperature"])
    if not (math.isfinite(t) and t > 0):
        raise DecodeError(f"the saved CategoryIndex has temperature {t}: a calibration gives a positive number")
    from .match import _T_MAX, _T_MIN

    if not _T_MIN * (1 - 1e-9) <= t <= _T_MAX * (1 + 1e-9):  # (1e308 loaded: every score uniform, every query abstained)
        raise DecodeError(f"the saved CategoryIndex has temperature {t}: a calibration gives one in "
                          f"[{_T_MIN:g}, {_T_MAX:g}] (1 for an uncalibrated index)")
    if not isinstance(header["calibration"], dict):
        raise DecodeError(f"the saved CategoryIndex has calibration {header['calibration']!r}: a dict of what the "
                          "calibration measured (empty for an uncalibrated index)")
    idx._temperature = t
    idx.threshold = header["threshold"]
    kinds = header.get("label_kinds")
    if kinds is None and header.get("int_labels"):  # (every category an int)
        kinds = {c: "int" for c in idx._categories}
    if kinds:
        try:
            idx._use_label_kinds(dict(kinds))
        except (ValueError, TypeError) as e:
            raise DecodeError(f"the saved CategoryIndex has bad label kinds: {e}") from None
    idx.calibration = header["calibration"]
    return idx


def _target(path: Any) -> Path:
    if isinstance(path, (bytes, bytearray)) or not isinstance(path, (str, os.PathLike)):
        raise InvalidArgument(f"path must be a str or os.PathLike, got {type(path).__name__}")
    target = Path(path)
    if str(path) == "" or target.is_dir() or str(path).endswith(("/", os.sep)):
        # (Path drops a trailing slash: "newname/" would have written a file called newname)
        raise InvalidArgument(f"path {str(path)!r} is a directory; give a file name (e.g. 'intents.tgix')")
    return target


def save(index: CategoryIndex, path: str | os.PathLike[str]) -> None:
    """Writes ``index`` to ``path`` atomically (see :func:`write_atomic`)."""
    _target(path)  # checked before the (long) serialization
    write_atomic(path, to_bytes(index))


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically: a crash leaves the old file or the new one,
    never a half-written file under that name. A new file gets the usual permissions (0666 less
    the umask); an existing one keeps its own. A symbolic link is followed (the file it points
    to is replaced, the link stays); a path that is a device, FIFO or socket is refused (the
    rename replaced ``/dev/null`` itself with a regular file when run as root)."""
    target = _target(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
        if target.is_dir():
            raise InvalidArgument(f"path {str(path)!r} is a link to a directory; give a file name (e.g. 'intents.tgix')")
    if target.exists() and not target.is_file():
        raise InvalidArgument(f"cannot save to {str(path)!r}: it is not a regular file (a device, FIFO or socket), "
                              "which a save would replace; give the path of a file")
    folder = target.parent
    if not folder.is_dir():
        raise InvalidArgument(f"cannot save to {str(path)!r}: the folder {str(folder)!r} does not exist")
    tmp = folder / f".{target.name}.{os.getpid()}.{threading.get_ident()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:  # the same OSError, but naming what was saved, not the hidden temporary file
        raise type(e)(e.errno, f"cannot save to {str(path)!r}: cannot create a file in {str(folder)!r} "
                      f"({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if target.exists():
                os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _remove_orphans(folder, target.name)
    try:  # the rename itself survives a power cut once the folder is synced (POSIX)
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _remove_orphans(folder: Path, name: str) -> None:
    """Removes the temporary files of saves of ``name`` whose process is gone (a save killed
    before its rename left its hidden ``.tmp`` file behind, one per killed save). A file of a
    live process, another save in progress, is left alone. POSIX only: there ``kill(pid, 0)``
    asks whether a process exists (on Windows ``os.kill`` would end it)."""
    if os.name != "posix":
        return
    prefix = f".{name}."
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix) and e.name.endswith(".tmp")]
    except OSError:
        return
    for e in entries:
        pid = e.name[len(prefix):].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # alive (or another user's: PermissionError below)
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError, OSError):
            continue
        try:
            os.unlink(e.path)
        except OSError:
            pass


def load(path: str | os.PathLike[str]) -> CategoryIndex:
    data = _target(path).read_bytes()
    try:
        return from_bytes(data)
    except (DecodeError, InvalidArgument) as e:  # which file, when a program loads several
        raise type(e)(f"{str(path)}: {e}") from None
