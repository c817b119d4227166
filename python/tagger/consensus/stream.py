"""EM over answers larger than memory, from the record batches of a Parquet
file or dataset (``pip install 'tagger[io]'``) or a ``ray.data.Dataset``.

The source is read twice: a pass that codes the ids, then a pass that codes
the answers into chunks of whole tasks (cut on the 2048-task blocks) and
writes them to a temporary spill file in the E-step's layout (Dawid-Skene:
``DsSpill`` in the C++ core; one-coin: int32 columns). Every later EM pass
reads that file, one chunk at a time, so an iteration costs about what an
in-memory one costs. Each chunk is an E-step shard of
``tagger.consensus.distributed``, so the fit is bit-identical to the
in-memory one.

Resident memory is the worker tables (confusion matrices and their expected
counts), the id maps, the posteriors being written at the end, and one chunk
of whole tasks (about ``chunk_answers`` answers) - never the answers.

Layout the data must have: rows grouped by task (every answer of a task in
consecutive rows, e.g. the file sorted by task), no missing values, at most
one answer per (task, worker). Ids and labels are coded as the in-memory fit
codes them: tasks and workers in order of first appearance, labels sorted.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument, TaggerError
from .base import Answers, BaseClassifier, _fits_in_memory, _plain, _Progress, check_params
from .distributed import _em_dawid_skene, _em_one_coin, _tree_sum, em_options_check

__all__ = ["fit_parquet"]

_METHODS = ("dawid_skene", "one_coin_dawid_skene")


def _is_ray_dataset(source: Any) -> bool:
    """A ``ray.data.Dataset``, recognized without importing Ray."""
    return any(c.__module__.startswith("ray.data") and c.__name__ == "Dataset" for c in type(source).__mro__)


def _dataset(source: Any) -> Any:
    if _is_ray_dataset(source):
        return source
    from .._optional import require
    ds = require("pyarrow.dataset", "fit_parquet")
    if isinstance(source, (str, os.PathLike)):
        if not os.path.exists(source):
            raise InvalidArgument(f"fit_parquet: no such file or directory: {os.fspath(source)!r}")
        import pyarrow as pa
        try:
            return ds.dataset(os.fspath(source), format="parquet")
        except pa.ArrowException as e:  # not Parquet, or files whose schemas do not merge
            raise InvalidArgument(f"fit_parquet: cannot read {os.fspath(source)!r} as Parquet: {e}") from e
    if isinstance(source, ds.Dataset):
        return source
    raise InvalidArgument(f"fit_parquet: expected a path, a pyarrow.dataset.Dataset or a ray.data.Dataset, "
                          f"got {type(source).__name__}")


def _column_names(dataset: Any) -> list[str]:
    if _is_ray_dataset(dataset):
        schema = dataset.schema()
        return list(schema.names) if schema is not None else []
    return list(dataset.schema.names)


def _type_kind(t: Any) -> str:
    import pyarrow as pa
    if pa.types.is_dictionary(t):
        t = t.value_type
    # Integers and floats are one kind: 1 and 1.0 are one id in memory too (pandas), and a float that
    # is no integer fails the cast with its own message.
    for kind, test in (("number", lambda x: pa.types.is_integer(x) or pa.types.is_floating(x)),
                       ("string", lambda x: pa.types.is_string(x) or pa.types.is_large_string(x)),
                       ("boolean", pa.types.is_boolean)):
        if test(t):
            return kind
    return str(t)


def _same_column_kinds(dataset: Any, columns: list[str]) -> None:
    """Refuses a directory whose files hold a column as different kinds (integers in one, strings
    in another): the dataset casts every file to the first one's schema, so worker 7 and worker
    "07" were merged into one worker (the in-memory fit of the same rows keeps them apart)."""
    fragments = getattr(dataset, "get_fragments", None)
    if fragments is None or _is_ray_dataset(dataset):
        return
    want = {c: _type_kind(dataset.schema.field(c).type) for c in columns}
    for frag in fragments():
        schema = getattr(frag, "physical_schema", None)
        if schema is None:
            continue
        for c in columns:
            if c in schema.names and _type_kind(schema.field(c).type) != want[c]:
                raise InvalidArgument(
                    f"fit_parquet: the files of the source hold column {c!r} as different kinds: {want[c]} in the "
                    f"first, {_type_kind(schema.field(c).type)} in {getattr(frag, 'path', frag)!r}; casting them to one "
                    f"type merges different ids (7 and '07'): write the column with one type in every file")


def _record_batches(dataset: Any, columns: list[str], batch_size: int) -> Iterator[Any]:
    """pyarrow record batches (or tables) of ``columns``, in the source's row order."""
    if not _is_ray_dataset(dataset):
        # Read-ahead of one batch: the default (16 batches, 4 files) holds
        # hundreds of MB of decoded columns for a pass that is CPU-bound anyway.
        yield from dataset.to_batches(columns=columns, batch_size=batch_size, batch_readahead=1, fragment_readahead=1)
        return
    import ray.data
    # Rows of a task must arrive together: Ray Data hands blocks over as they
    # finish unless asked to keep their order. A dataset runs under the
    # context it was created with (newer Ray) or the current one (older):
    # both are asked, for this pass only.
    contexts = [ray.data.DataContext.get_current()]
    own = getattr(dataset, "context", None)
    if own is not None and all(own is not c for c in contexts):
        contexts.append(own)
    before = [c.execution_options.preserve_order for c in contexts]
    for c in contexts:
        c.execution_options.preserve_order = True
    try:
        yield from dataset.select_columns(columns).iter_batches(batch_size=batch_size, batch_format="pyarrow")
    finally:
        for c, b in zip(contexts, before):
            c.execution_options.preserve_order = b


class _Encoded:
    """A string column of one batch as Arrow dictionary-encodes it: ``indices`` (int32, one per
    row) into ``values`` (the distinct strings, in order of first appearance in the batch)."""

    __slots__ = ("indices", "values")

    def __init__(self, indices: np.ndarray, values: np.ndarray) -> None:
        self.indices, self.values = indices, values

    def __len__(self) -> int:
        return len(self.indices)


def _column(col: Any) -> Any:
    """A batch's column for the coding passes: string columns dictionary-encoded in Arrow (C++,
    no per-row Python object), anything else as a numpy array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):  # (Ray Data hands over tables)
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_dictionary(t):
        col, t = col.dictionary_decode(), t.value_type
    is_view = getattr(pa.types, "is_string_view", lambda _: False)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or is_view(t):
        enc = pc.dictionary_encode(col)
        return _Encoded(enc.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False),
                        enc.dictionary.to_numpy(zero_copy_only=False))
    return col.to_numpy(zero_copy_only=False)


def _changes(col: Any, prev: Any) -> np.ndarray:
    """Where the value differs from the one before (the first row against ``prev``, the last
    value of the batch before; None: no batch before)."""
    keys = col.indices if isinstance(col, _Encoded) else col
    change = np.empty(len(keys), dtype=bool)
    change[0] = prev is None or _at(col, 0) != prev
    np.not_equal(keys[1:], keys[:-1], out=change[1:])
    return change


def _at(col: Any, i: int) -> Any:
    return col.values[col.indices[i]] if isinstance(col, _Encoded) else col[i]


def _take(col: Any, where: np.ndarray) -> np.ndarray:
    return col.values[col.indices[where]] if isinstance(col, _Encoded) else col[where]


_INT64_MAX = int(np.iinfo(np.int64).max)


class _IdMap:
    """Values -> codes: a lookup table for integers of a compact range, else
    a pandas Index."""

    def __init__(self, names: pd.Index) -> None:
        self.names = names
        self.lut: np.ndarray | None = None
        v = names.to_numpy()
        if len(v) and v.dtype.kind in "iu":
            lo, hi = int(v.min()), int(v.max())
            if hi - lo <= 4 * len(v) + (1 << 20) and hi <= _INT64_MAX:  # (the table's offsets are int64)
                self.lo = lo
                self.lut = np.full(hi - lo + 1, -1, dtype=np.int32)
                self.lut[v.astype(np.int64) - lo] = np.arange(len(v), dtype=np.int32)

    def codes(self, values: Any) -> np.ndarray:
        if isinstance(values, _Encoded):  # the batch's distinct strings looked up, then spread
            return self.codes(values.values)[values.indices]
        if self.lut is not None and values.dtype.kind in "iu" and not (
                values.dtype.kind == "u" and len(values) and int(values.max()) > _INT64_MAX):
            idx = values.astype(np.int64, copy=False) - self.lo
            if len(idx) and (idx.min() < 0 or idx.max() >= len(self.lut)):
                # Values outside the table's range are unknown (-1) one by one: an error must
                # name one of them, not the batch's first value.
                inside = (idx >= 0) & (idx < len(self.lut))
                out = np.full(len(values), -1, np.int32)
                out[inside] = self.lut[idx[inside]]
                return out
            return self.lut[idx]
        return self.names.get_indexer(pd.Index(values)).astype(np.int32, copy=False)


def _distinct(v: Any) -> np.ndarray:
    """The distinct values of v (a set: sorted for small-range integers, else
    in order of first appearance)."""
    if isinstance(v, _Encoded):
        return v.values
    if v.dtype.kind in "iu" and len(v):
        lo, hi = int(v.min()), int(v.max())
        if hi - lo < (1 << 16):
            if v.dtype.kind == "u":  # offsets in the column's own type: uint64 ids >= 2**63 do not fit int64
                base = v.dtype.type(lo)
                present = np.bincount((v - base).astype(np.intp), minlength=hi - lo + 1)
                return np.flatnonzero(present).astype(v.dtype) + base
            present = np.bincount(v.astype(np.intp) - lo, minlength=hi - lo + 1)  # (int8 - lo could wrap)
            return (np.flatnonzero(present) + lo).astype(v.dtype)
    return pd.unique(v)


class _SeenInts:
    """Which integer ids have been seen, as a mask over their range (while
    the range stays within a few times the ids seen, plus 1M)."""

    def __init__(self) -> None:
        self.active, self.lo, self.mask, self.count = True, 0, np.zeros(0, dtype=bool), 0

    def fits(self, v: np.ndarray) -> bool:
        if v.dtype.kind not in "iu":
            return False
        if not len(v):
            return True
        lo, hi = int(v.min()), int(v.max())
        if hi > _INT64_MAX:  # uint64 ids >= 2**63: the mask's offsets are int64
            return False
        if not len(self.mask):
            self.lo = lo
        new_lo, new_hi = min(lo, self.lo), max(hi, self.lo + len(self.mask) - 1)
        if new_hi - new_lo + 1 > 4 * (self.count + len(v)) + (1 << 20):
            return False
        if new_lo < self.lo or new_hi >= self.lo + len(self.mask):
            grown = np.zeros(new_hi - new_lo + 1, dtype=bool)
            grown[self.lo - new_lo:self.lo - new_lo + len(self.mask)] = self.mask
            self.lo, self.mask = new_lo, grown
        return True

    def first_seen(self, v: np.ndarray) -> np.ndarray:
        """The ids of v not seen before, in order of first appearance; marks them."""
        idx = v.astype(np.int64) - self.lo
        cand = v[~self.mask[idx]]
        new = pd.unique(cand) if len(cand) else cand
        self.mask[new.astype(np.int64) - self.lo] = True
        self.count += len(new)
        return new


class _Stream:
    """The shards of a Parquet source, streamed: ``call(name, *args)`` runs
    one pass and returns what :class:`~tagger.consensus.distributed.ShardSet`
    would (statistics summed over the chunks as they come)."""

    def __init__(self, method: str, source: Any, columns: Sequence[str], labels: Sequence[Any] | None,
                 batch_size: int, chunk_answers: int, threads: int, spill_dir: Any = None) -> None:
        if isinstance(columns, str) or len(columns) != 3 or len(set(columns)) != 3:
            raise InvalidArgument(f"fit_parquet: columns must name the task, worker and label columns (3 different "
                                  f"names), got {columns!r}")
        self.dataset = _dataset(source)
        names = _column_names(self.dataset)
        missing = [c for c in columns if c not in names]
        if missing:
            raise InvalidArgument(f"fit_parquet: column(s) {missing} not in the data (columns: {names})")
        _same_column_kinds(self.dataset, list(columns))
        self.method, self.columns = method, list(columns)
        self.batch_size, self.chunk_answers, self.threads = batch_size, chunk_answers, threads  # checked by fit_parquet
        self.align = int(_core.consensus_shard.TASK_ALIGN)
        self.spill_dir = tempfile.gettempdir() if spill_dir is None else os.fspath(spill_dir)
        if not os.path.isdir(self.spill_dir):
            raise InvalidArgument(f"fit_parquet: spill_dir {self.spill_dir!r} is not a directory")
        if not os.access(self.spill_dir, os.W_OK | os.X_OK):
            # (found only after the whole coding pass, as a raw OSError for the one-coin cache)
            raise InvalidArgument(f"fit_parquet: spill_dir {self.spill_dir!r} is not writable; pass spill_dir= a "
                                  "directory this process may write")
        self.spill: Any = None  # Dawid-Skene: the C++ spill file
        self.cache: Any = None  # one-coin: the coded chunks' file
        self.cache_index: list[tuple[int, int, int]] = []
        self.source_seconds: list[float] = []
        self.pass_seconds: list[float] = []
        t0 = time.perf_counter()
        self._code_pass(labels)
        self.source_seconds.append(time.perf_counter() - t0)
        self.passes = 0
        self.checked = False

    def _batches(self) -> Iterator[tuple[Any, Any, Any]]:
        """Each batch's task, worker and label columns: numpy arrays, or for string columns an
        :class:`_Encoded` (Arrow's dictionary encoding: no Python string per row)."""
        import pyarrow as pa
        batches = _record_batches(self.dataset, self.columns, self.batch_size)
        while True:
            try:
                b = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as e:  # a file of the directory that does not decode
                # (a corrupt compressed page is an OSError from the codec, not an ArrowException)
                raise InvalidArgument(f"fit_parquet: reading the source failed: {e}") from e
            cols = []
            for name in self.columns:
                col = b.column(name)
                if col.null_count:
                    raise InvalidArgument(f"fit_parquet: column {name!r} has {col.null_count} missing value(s) (nulls, "
                                          "or a file of the source without that column)")
                if pa.types.is_floating(col.type):
                    # Parquet does not count a NaN as a null: a NaN label became a class (and won), a NaN
                    # worker a worker, a NaN task "rows must be grouped by task".
                    import pyarrow.compute as pc
                    nans = pc.sum(pc.is_nan(col)).as_py() or 0
                    if nans:
                        raise InvalidArgument(f"fit_parquet: column {name!r} has {nans} missing value(s) (NaN)")
                if pa.types.is_nested(col.type):
                    raise InvalidArgument(f"fit_parquet: column {name!r} holds {col.type} values; ids and labels "
                                          "must be numbers or strings")
                cols.append(_column(col))
            yield cols[0], cols[1], cols[2]

    def _code_pass(self, labels: Sequence[Any] | None) -> None:
        """Pass 0: the worker and label sets, the task count, the grouping check."""
        workers: list[np.ndarray] = []
        seen_workers: pd.Index | None = pd.Index([])
        seen = _SeenInts()
        seen_tasks = _SeenInts()  # integer task ids: the grouping check as a mask
        label_parts: list[np.ndarray] = []
        label_first: dict[Any, int] = {}
        starts: list[np.ndarray] = []
        n, prev = 0, None
        for t, w, y in self._batches():
            n += len(t)
            if not len(t):
                continue
            if seen.active and not isinstance(w, _Encoded) and seen.fits(w):
                new = seen.first_seen(w)  # integer ids of a compact range: a mask, no hashing
                seen_workers = None
            else:
                seen.active = False
                if seen_workers is None:
                    seen_workers = pd.Index(np.concatenate(workers)) if workers else pd.Index([])
                uw = _distinct(w) if isinstance(w, _Encoded) else pd.unique(w)
                new = uw[seen_workers.get_indexer(pd.Index(uw)) < 0] if len(seen_workers) else uw
                if len(new):
                    seen_workers = seen_workers.append(pd.Index(new))
            if len(new):
                workers.append(new)
            distinct = _distinct(y)
            label_parts.append(distinct)
            new_labels = [v for v in distinct.tolist() if v not in label_first]
            if new_labels:  # the labels' order of first appearance (what in-memory fits report), found rarely
                if not isinstance(y, _Encoded):  # (an encoded batch lists them in that order already)
                    new_labels.sort(key=lambda v: int(np.argmax(y == v)))
                for v in new_labels:
                    label_first[v] = len(label_first)
            change = _changes(t, prev)
            runs = _take(t, change)
            starts.append(runs)
            prev = _at(t, -1)
            if seen_tasks.active and seen_tasks.fits(runs):
                idx = runs.astype(np.int64) - seen_tasks.lo
                again = seen_tasks.mask[idx]
                if again.any():
                    raise InvalidArgument(f"fit_parquet: rows must be grouped by task (sort the data by task); "
                                          f"task {_plain(runs[again][0])!r} appears in more than one run of rows")
                seen_tasks.mask[idx] = True
                seen_tasks.count += len(runs)
            else:
                seen_tasks.active = False
        if n == 0:
            raise InvalidArgument("fit_parquet: the data has no answers (no rows)")
        self.n = n
        ids = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        del starts
        dup: Any = None
        if seen_tasks.active and int(np.count_nonzero(seen_tasks.mask)) == len(ids):
            task_ids = pd.Index(ids, copy=False)  # every run a new task: checked batch by batch above
        elif ids.dtype.kind in "iu":
            # A sort, not pandas' duplicate check: that one builds a hash table
            # (~20 bytes per task) the Index then keeps for the rest of the fit.
            srt = np.sort(ids)
            same = srt[1:] == srt[:-1]
            if same.any():
                dup = srt[1:][same][0]
            del srt, same
            task_ids = pd.Index(ids, copy=False)
        else:
            # String ids: the duplicate check by the C++ string coder (GIL released; pandas'
            # has_duplicates on 400k str ids took ~0.1 s).
            task_ids = pd.Index(ids)
            coded = _core.consensus.factorize_strings(ids) if ids.dtype == object else None
            if coded is not None:
                codes, first = coded
                if len(first) < len(ids):  # the first row whose id came before
                    dup = ids[int(np.flatnonzero(first[codes] != np.arange(len(ids)))[0])]
            elif task_ids.has_duplicates:
                dup = task_ids[task_ids.duplicated()][0]
        if dup is not None:
            raise InvalidArgument(f"fit_parquet: rows must be grouped by task (sort the data by task); "
                                  f"task {_plain(dup)!r} appears in more than one run of rows")
        self.task_names = task_ids
        self.n_tasks = len(task_ids)
        if seen_workers is None:
            seen_workers = pd.Index(np.concatenate(workers))
        self.workers = _IdMap(seen_workers)
        self.n_workers = len(seen_workers)
        if labels is not None:
            names = pd.Index(list(labels))
            if names.has_duplicates:
                raise InvalidArgument("labels= lists a label more than once")
            if not len(names):  # (the shard's "n_labels >= 1 required" came instead)
                raise InvalidArgument("fit_parquet: labels= is empty; list every label, or leave it None")
        else:
            allv = pd.unique(np.concatenate(label_parts)) if label_parts else np.zeros(0)
            try:
                names = pd.Index(np.sort(allv))
            except TypeError:
                names = pd.Index(allv)
        self.labels = _IdMap(names)
        self.n_labels = len(names)
        self.labels_seen = pd.Index(list(label_first))

    def _chunks(self) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
        """The coded chunks: from the source on the first complete pass, which
        also writes them to a temporary file (int32 columns, deleted when
        closed, however the process ends); from that file afterwards."""
        if self.cache is not None:
            f, offset = self.cache, 0
            for t0, t1, n in self.cache_index:
                f.seek(offset)
                cols = [np.fromfile(f, dtype=np.int32, count=n) for _ in range(3)]
                offset += 12 * n
                yield t0, t1, cols[0], cols[1], cols[2]
            return
        f = tempfile.TemporaryFile(dir=self.spill_dir)
        try:
            index = []
            for t0, t1, t, w, y in self._source_chunks():
                try:
                    for a in (t, w, y):
                        np.ascontiguousarray(a, dtype=np.int32).tofile(f)
                except OSError as e:
                    raise self._disk_full(e, f.tell(), 12 * self.n, "12 per answer") from e
                index.append((t0, t1, len(t)))
                yield t0, t1, t, w, y
        except BaseException:
            f.close()
            raise
        self.cache, self.cache_index = f, index

    def _source_chunks(self) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
        """Chunks of whole tasks ``(t0, t1, task - t0, worker, label)``, t0 on a block."""
        buf: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        held, t0, next_code, prev = 0, 0, 0, None
        for t, w, y in self._batches():
            if not len(t):
                continue
            change = _changes(t, prev)
            prev = _at(t, -1)
            tc = np.cumsum(change, dtype=np.int32)  # (an int64 cumsum of bools is 6x slower here)
            tc += np.int32(next_code - 1)
            next_code = int(tc[-1]) + 1
            wc, yc = self.workers.codes(w), self.labels.codes(y)
            if (yc < 0).any():
                bad = _plain(_take(y, yc < 0)[0])
                raise InvalidArgument(f"answer label {bad!r} is not in labels={list(self.labels.names)}")
            buf.append((tc, wc, yc))
            held += len(t)
            if held < self.chunk_answers:
                continue
            cut = (int(tc[-1]) // self.align) * self.align  # tasks below it are complete
            if cut <= t0:
                continue
            tt, ww, yy = (np.concatenate(c) for c in zip(*buf))
            i = int(np.searchsorted(tt, cut))
            yield t0, cut, tt[:i] - t0, ww[:i], yy[:i]
            buf = [(tt[i:], ww[i:], yy[i:])]
            held, t0 = len(tt) - i, cut
        if buf or t0 < self.n_tasks:
            tt, ww, yy = (np.concatenate(c) for c in zip(*buf)) if buf else (np.zeros(0, np.int32),) * 3
            yield t0, self.n_tasks, tt - t0, ww, yy

    def _disk_full(self, e: Exception, written: int, need: int, rule: str) -> OSError:
        """The error of a failed write to the spill or cache file, naming where, how far it got and
        the room the fit needs (it said "write failed: No space left on device", or "1269760
        requested and 524288 written")."""
        return OSError(f"fit_parquet: writing the temporary copy of the answers in {self.spill_dir!r} failed with "
                       f"{written:,} bytes written ({e}); it needs about {need:,} bytes ({rule}): free space there "
                       f"or pass spill_dir= a directory with room")

    def _no_repeats(self, t0: int, t1: int, t: np.ndarray, w: np.ndarray) -> None:
        dup = _core.consensus.superseded(t, w, t1 - t0, self.n_workers)
        if len(dup):
            # Named by the caller's ids (the chunk's task range is an internal coding).
            r = int(dup[0])
            task, worker = self.task_names[t0 + int(t[r])], self.workers.names[int(w[r])]
            raise InvalidArgument(f"fit_parquet: {len(dup)} repeated (task, worker) answer(s), the first "
                                  f"task={_plain(task)!r}, worker={_plain(worker)!r}; keep one answer per "
                                  "(task, worker) before streaming")

    def _shard(self, t0: int, t1: int, t: np.ndarray, w: np.ndarray, y: np.ndarray) -> Any:
        cs = _core.consensus_shard
        if not self.checked:
            self._no_repeats(t0, t1, t, w)
        cls = cs.DawidSkeneShard if self.method == "dawid_skene" else cs.OneCoinShard
        return cls(t.astype(np.int32, copy=False), w, y, t1 - t0, self.n_workers, self.n_labels, threads=self.threads)

    def _spill_pass(self) -> Any:
        """The first EM pass of Dawid-Skene: the coded chunks go to a spill
        file (the E-step's layout) that every later pass reads instead of
        the source."""
        spill = _core.consensus_shard.DsSpill(self.spill_dir, self.n_workers, self.n_labels, threads=self.threads)
        try:
            for t0, t1, t, w, y in self._source_chunks():
                self._no_repeats(t0, t1, t, w)
                try:
                    spill.append(t.astype(np.int32, copy=False), w, y, t1 - t0)
                except TaggerError as e:
                    if "write failed" not in str(e):
                        raise
                    raise self._disk_full(e, int(spill.bytes), 4 * (self.n + self.n_tasks),
                                          "4 per answer and 4 per task") from e
        except BaseException:
            del spill  # closes (and so deletes) the file now, not at the next collection
            raise
        return spill

    def close(self) -> None:
        self.spill = None
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    def call(self, name: str, *args: Any) -> list[Any]:
        """One pass: ``start``, ``e_step`` or ``posteriors``, timed; the first
        reads the source, the others the spill file (or the chunk cache)."""
        t0 = time.perf_counter()
        out = self._call(name, *args)
        (self.pass_seconds if self.passes > 1 else self.source_seconds).append(time.perf_counter() - t0)
        return out

    def _call(self, name: str, *args: Any) -> list[Any]:
        self.passes += 1
        if self.method == "dawid_skene":
            if self.spill is None:
                self.spill = self._spill_pass()
            if name == "posteriors":
                return [self.spill.posteriors(self.n_labels, **(args[0] or {}))]
            return [self.spill.start() if name == "start" else self.spill.e_step(**args[0])]
        if name == "posteriors":  # chunk by chunk into the result arrays (no concatenation after)
            probas = np.empty((self.n_tasks, self.n_labels))
            labels = np.empty(self.n_tasks, dtype=np.int32)
            for t0, t1, t, w, y in self._chunks():
                probas[t0:t1], labels[t0:t1] = self._shard(t0, t1, t, w, y).posteriors(self.n_labels, **(args[0] or {}))
            return [(probas, labels)]
        total: dict[str, Any] | None = None
        for t0, t1, t, w, y in self._chunks():
            sh = self._shard(t0, t1, t, w, y)
            st = sh.start() if name == "start" else sh.e_step(**args[0])
            if total is None:
                total = {k: v for k, v in st.items()}
                total["block_ll"] = [st["block_ll"]]
            else:
                for k in ("counts", "prior", "n_answers"):
                    if len(st[k]):
                        total[k] = _tree_sum([total[k], st[k]])
                total["block_ll"].append(st["block_ll"])
        self.checked = True
        assert total is not None
        total["block_ll"] = np.concatenate(total["block_ll"])
        return [total]


def fit_parquet(source: Any, method: str = "dawid_skene", *, columns: Sequence[str] = ("task", "worker", "label"),
                labels: Sequence[Any] | None = None, n_iter: int = 100, tol: float = 1e-5, smoothing: float = 0.0,
                class_priors: Any = None, batch_size: int = 1 << 20, chunk_answers: int = 1 << 20, threads: int = 0,
                spill_dir: str | os.PathLike[str] | None = None, verbose: bool = False) -> BaseClassifier:
    """Fits ``method`` (``"dawid_skene"`` or ``"one_coin_dawid_skene"``) on a
    Parquet file, directory, ``pyarrow.dataset.Dataset`` or
    ``ray.data.Dataset`` (e.g. ``ray.data.read_parquet(...)``) without
    loading it: a first pass codes the ids, then one pass per EM iteration.
    Returns a fitted estimator (``labels_``, ``probas_``, ``skills_``,
    ``errors_``, ``n_iter_``, ...) equal to ``DawidSkene(variant="tagger",
    ...).fit(df)`` on the same rows (the ledger's engine; the default
    ``variant="crowdkit"`` may end elsewhere where workers answer a handful of items or the
    answers carry little signal: docs/consensus.md).

    ``columns``: the task, worker and label column names, in that order.
    Rows must be grouped by task; see the module docs for the rules.
    ``chunk_answers``: answers per E-step chunk (memory ~ 30 bytes each).
    ``spill_dir``: where Dawid-Skene keeps the coded answers between passes
    (default: the system temporary directory; 4 bytes per answer and 4 per
    task; the file is deleted as it is created, so nothing is left behind; on
    a ``tmpfs`` it is held in memory, so choose a directory on disk).
    """
    from .registry import get_method
    if method not in _METHODS:
        raise InvalidArgument(f"fit_parquet supports {list(_METHODS)}, not {method!r}")
    check_params({"n_iter": n_iter, "tol": tol, "smoothing": smoothing, "threads": threads}, "fit_parquet")
    em_options_check("fit_parquet", tol, smoothing, None)
    for name, v in (("batch_size", batch_size), ("chunk_answers", chunk_answers)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InvalidArgument(f"fit_parquet: {name} must be an int >= 1, got {v!r}")
    est = get_method(method, n_iter=n_iter, tol=tol, smoothing=smoothing, threads=threads, labels=labels)
    stream = _Stream(method, source, columns, labels, batch_size, chunk_answers, threads, spill_dir)
    empty = np.zeros(0, np.int32)
    answers = Answers(empty, empty, empty, stream.task_names, stream.workers.names, stream.labels.names)
    try:  # before the EM passes: a one-coin fit's errors failed to allocate only after all of them
        _fits_in_memory(est, *answers.sizes[1:])
    except InvalidArgument:
        stream.close()
        raise
    priors = None
    if class_priors is not None:
        from .base import priors_array
        try:  # (priors that cannot be read left the stream's spill file open)
            priors = priors_array(answers, class_priors)
            em_options_check("fit_parquet", tol, smoothing, priors)
        except InvalidArgument:
            stream.close()
            raise
    progress = _Progress(verbose, f"{method} (parquet)")
    try:
        em = _em_dawid_skene if method == "dawid_skene" else _em_one_coin
        out = em(stream, n_iter, tol, smoothing, priors, progress)  # type: ignore[arg-type]
        spill_bytes = 0 if stream.spill is None else int(stream.spill.bytes)
    finally:
        progress.close()
        stream.close()
    est.answers_ = answers
    est._streamed = True  # answers_ holds the ids only: what needs the answers refuses it
    est._label_seen = stream.labels_seen  # columns and priors in the in-memory fit's order
    est._set(answers, out)
    est.passes_ = stream.passes + 1  # type: ignore[attr-defined]  # the coding pass included
    # Passes that decoded the source (the rest read the spill file).
    est.source_passes_ = 2  # type: ignore[attr-defined]
    est.spill_bytes_ = spill_bytes  # type: ignore[attr-defined]
    # Seconds of the two source passes, and of each later pass (one per EM iteration, the posteriors).
    est.source_seconds_ = list(stream.source_seconds)  # type: ignore[attr-defined]
    est.pass_seconds_ = list(stream.pass_seconds)  # type: ignore[attr-defined]
    return est
