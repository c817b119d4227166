"""Estimator base of ``tg.consensus`` and the one place where pandas frames are
factorized into the int32 arrays the C++ core works on (and mapped back).

Integer id columns are coded in C++ in O(n) (``_core.consensus.factorize``:
same codes as ``pd.factorize``; an int32 column that already holds codes is
used as is, without a copy); string columns are hashed as bytes in C++
(``_core.consensus.factorize_strings``, reading Arrow buffers or the str
objects in place); other columns go through ``pd.factorize``. The duplicate
check runs on the codes (``_core.consensus.superseded``). For a 1M-answer
frame of integer ids this takes ~6 ms, against ~60 ms with pandas.

Input conventions (crowd-kit's): a long DataFrame with columns ``task``,
``worker``, ``label``; any hashable ids and labels.

Documented rules for awkward input:

* an empty frame fits to empty results (as crowd-kit);
* a missing column, or NaN/None in ``task``, ``worker`` or ``label``, raises
  :class:`~tagger.errors.InvalidArgument` naming the column and the first row;
* a worker answering the same task twice: ``on_duplicate="keep_last"`` (the
  default) keeps the last row and warns (a resubmission replaces the earlier
  answer: counting every row would let a worker vote several times),
  ``"keep_all"`` counts every row as crowd-kit does, ``"error"`` raises
  InvalidArgument;
* label indices follow the sorted label values (order of first appearance if
  the values cannot be sorted), so every tie goes to the smallest label;
* gold labels (``true_labels``) must be labels seen in the answers or listed
  in ``labels=``; gold for tasks that have no answers is ignored;
* a single label class is valid: every task gets it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
import importlib.abc
import inspect
import sys
import threading
import warnings
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import _core, _system
from .._local import ThreadFlag
from .._stack import outside_tagger
from ..errors import InvalidArgument, MissingColumn
from ._checks import ids_of_the_data, labels_that_print_alike, no_missing, no_repeated_columns, renamed, row_ref
from ._serial import Serialized

if TYPE_CHECKING:  # pragma: no cover
    from .quality import LabelQuality

__all__ = ["Answers", "factorize", "BaseClassifier"]

_COLUMNS = ("task", "worker", "label")


@dataclass(frozen=True)
class Answers:
    """Answers as int32 index arrays plus the ids they stand for."""

    task: np.ndarray  # int32 [n]
    worker: np.ndarray  # int32 [n]
    label: np.ndarray  # int32 [n]
    task_names: pd.Index
    worker_names: pd.Index
    label_names: pd.Index
    # The row labels of the frame the answers came from, in their order (None: 0..n-1), so that
    # per-answer results line up with the caller's frame (quality().answers had a fresh 0..n-1
    # index: df.assign(error=...) on a filtered or shuffled frame matched other rows silently).
    rows: pd.Index | None = None

    @property
    def n(self) -> int:
        """Number of answers."""
        return len(self.task)

    @property
    def sizes(self) -> tuple[int, int, int]:
        """``(n_tasks, n_workers, n_labels)``."""
        return len(self.task_names), len(self.worker_names), len(self.label_names)

    def core_args(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]:
        """``(task, worker, label, n_tasks, n_workers, n_labels)``: the leading
        arguments of the ``_core.consensus`` functions."""
        return (self.task, self.worker, self.label, *self.sizes)

    def __repr__(self) -> str:
        t, w, k = self.sizes
        return f"Answers(n={self.n}, tasks={t}, workers={w}, labels={k})"


def _string_parts(values: pd.Series) -> Any:
    """What ``_core.consensus.factorize_strings`` reads without a copy: the
    (offsets, data) buffers of an Arrow-backed string column (pandas' default
    ``str`` dtype with pyarrow installed, or ``pd.ArrowDtype(pa.string())``
    as ``read_parquet(dtype_backend="pyarrow")`` gives), or an object array of the values;
    None for a column that holds anything but strings."""
    dtype = values.dtype
    arrow_backed = (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow") or isinstance(dtype, pd.ArrowDtype)
    if arrow_backed and hasattr(values.array, "__arrow_array__"):
        import pyarrow as pa  # already loaded: the column is Arrow-backed

        arr = values.array.__arrow_array__()
        chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
        parts = []
        for c in chunks:
            if c.null_count or not (pa.types.is_string(c.type) or pa.types.is_large_string(c.type)):
                return None
            if not len(c):
                continue
            _, offsets, data = c.buffers()
            width = np.int64 if pa.types.is_large_string(c.type) else np.int32
            parts.append((np.frombuffer(offsets, dtype=width)[c.offset:c.offset + len(c) + 1],
                          np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)))
        return parts
    if dtype == object or isinstance(dtype, pd.StringDtype):
        return values.to_numpy(dtype=object)
    return None


def _codes(values: pd.Series, sort: bool) -> tuple[np.ndarray, pd.Index]:
    arr = values.to_numpy() if values.dtype.kind in "iu" else None
    if arr is not None and arr.dtype != np.uint64:
        # O(n) in C++ (direct table or hash), first-appearance or sorted order as pd.factorize.
        # Always a new array, also for int32 ids that already are codes: the fit's answers_ must
        # not change when the caller edits the frame (quality() read the edited labels beside the
        # old posteriors, and the metrics took the edited frame for the fitted one).
        core_codes, core_names = _core.consensus.factorize(arr, sort)
        return core_codes, pd.Index(core_names.astype(arr.dtype, copy=False))
    parts = _string_parts(values) if len(values) else None
    coded = _core.consensus.factorize_strings(parts) if parts is not None else None
    if coded is not None:
        # Strings, hashed as bytes in C++: pd.factorize's codes and uniques (the
        # first appearance of each), at a fraction of its cost on 1M ids.
        codes, first = coded
        names = pd.Index(values.array.take(first), dtype=values.dtype)
        if sort:  # a few distinct values (labels): sorted, and the codes renumbered to match
            order = np.argsort(names.to_numpy(dtype=object), kind="stable")
            rank = np.empty(len(order), dtype=np.int32)
            rank[order] = np.arange(len(order), dtype=np.int32)
            codes, names = rank[codes], names[order]
        return codes, names
    try:
        codes, names = pd.factorize(values, sort=sort)
    except TypeError:  # labels of mixed, unorderable types
        try:
            codes, names = pd.factorize(values, sort=False)
        except TypeError:  # lists, dicts, arrays: numpy's "unhashable type" said nothing of the column
            kind = next((type(v).__name__ for v in values if not isinstance(v, Hashable)), "unhashable")
            raise InvalidArgument(f"column {values.name!r} holds {kind} values, which cannot be ids or labels: "
                                  "use hashable scalars such as str or int (a tuple for a composite label)") from None
    return codes.astype(np.int32, copy=False), pd.Index(names)


_PARALLEL_IDS = 200_000  # below this the thread hand-off costs more than it saves

# Raised by a caller that factorizes data it has just factorized (and warned about) once more.
_repeats_warned = ThreadFlag()


def repeats_already_warned() -> contextlib.AbstractContextManager[None]:
    """Inside, :func:`factorize` drops repeated answers without its warning, in this thread
    only: ``GoldMajorityVote.fit_predict`` votes on the data its ``fit`` has just read, and the
    same warning came twice."""
    return _repeats_warned.raised()


def _beside(helper_fn: Callable[[], Any], main_fn: Callable[[], Any], name: str) -> tuple[Any, Any]:
    """(helper_fn() run on a new thread, main_fn() run here), at the same time: both are C++
    calls that release the GIL. The helper's error comes back as its result, for the caller
    to raise or ignore. A thread per call, not a pool: a pool's thread would be missing in a
    forked child."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(helper_fn())
        except BaseException as e:  # handed to the caller's thread
            result.append(e)

    helper = threading.Thread(target=run, name=name, daemon=True)
    helper.start()
    try:
        mine = main_fn()
    finally:
        helper.join()
    return result[0], mine


def _id_codes(task: pd.Series, worker: pd.Series) -> tuple[tuple[np.ndarray, pd.Index], tuple[np.ndarray, pd.Index]]:
    """Codes of the task and worker columns; two large columns are coded at the same time."""
    if len(task) < _PARALLEL_IDS:
        return _codes(task, sort=False), _codes(worker, sort=False)
    worker_codes, task_codes = _beside(lambda: _codes(worker, sort=False), lambda: _codes(task, sort=False),
                                       "tagger-worker-ids")
    if isinstance(worker_codes, BaseException):
        raise worker_codes
    return task_codes, worker_codes


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (messages show 1, not np.int64(1))."""
    return value.item() if isinstance(value, np.generic) else value


def _label_codes(data: pd.DataFrame, labels: Sequence[Any] | None, value_column: str) -> tuple[np.ndarray, pd.Index]:
    """Codes and names of the label column (none when ``value_column`` is another)."""
    if value_column != "label":
        return np.zeros(len(data), dtype=np.int32), pd.Index([])
    if labels is not None:
        label_names = pd.Index(list(labels))
        if label_names.has_duplicates:
            raise InvalidArgument("labels= lists a label more than once")
        if label_names.isna().any():  # no answer can carry it (NaN labels are refused): a phantom class
            raise InvalidArgument("labels= lists a missing value (NaN/None), which no answer can have")
        labels_that_print_alike(label_names)
        label = label_names.get_indexer(data["label"]).astype(np.int32)
        if (label < 0).any():
            bad = data["label"].to_numpy()[label < 0][0]
            raise InvalidArgument(f"answer label {_plain(bad)!r} is not in labels={[_plain(v) for v in label_names]}")
        return label, label_names
    col = data["label"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        # crowd-kit orders and returns the values, not the categories (whose order would
        # otherwise break ties and order probas_'s columns; unused ones would be labels).
        col = col.astype(col.cat.categories.dtype)
    label, label_names = _codes(col, sort=True)
    labels_that_print_alike(label_names)
    return label, label_names


def factorize(
    data: pd.DataFrame,
    labels: Sequence[Any] | None = None,
    on_duplicate: str = "keep_last",
    value_column: str = "label",
) -> tuple[Answers, pd.DataFrame]:
    """Checks ``data`` and turns it into :class:`Answers` (no Python loops).

    Returns the answers and the frame actually used (``data`` itself, or its
    rows without the dropped duplicate (task, worker) answers), whose rows are
    in the order of the arrays. Integer id columns are coded in C++ in O(n);
    other columns through ``pd.factorize``. Duplicates are found on the codes.
    """
    if not isinstance(data, pd.DataFrame):
        raise InvalidArgument(f"expected a pandas DataFrame with columns task, worker, {value_column}; got {type(data).__name__}")
    cols = ("task", "worker", value_column)
    no_repeated_columns(data, cols)
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise MissingColumn(f"answers are missing column(s) {missing}; expected columns {list(cols)}")
    no_missing(data, cols)
    if on_duplicate not in ("keep_last", "keep_all", "error"):
        raise InvalidArgument(f"on_duplicate must be 'keep_last', 'keep_all' or 'error', not {on_duplicate!r}")
    (task, task_names), (worker, worker_names) = _id_codes(data["task"], data["worker"])
    coded: Any = None  # the label codes, or the error coding them raised
    if on_duplicate == "keep_all":
        dup = np.zeros(0, dtype=np.int64)
    elif len(data) < _PARALLEL_IDS:
        dup = _core.consensus.superseded(task, worker, len(task_names), len(worker_names))
    else:
        # The labels are coded while the C++ duplicate check runs. Rows the check drops are
        # coded again below, so a result or error of this coding counts only when nothing is
        # dropped: as before, a bad label in a dropped row is not reported.
        coded, dup = _beside(lambda: _label_codes(data, labels, value_column),
                             lambda: _core.consensus.superseded(task, worker, len(task_names), len(worker_names)),
                             "tagger-label-codes")
    if len(dup):
        if on_duplicate == "error":
            row = int(dup[0])
            raise InvalidArgument(f"{len(dup)} repeated (task, worker) answer(s), first at {row_ref(data.index, row)} "
                                  f"(task={_plain(data['task'].iloc[row])!r}, worker={_plain(data['worker'].iloc[row])!r})")
        if not _repeats_warned:
            warnings.warn(f"{len(dup)} repeated (task, worker) answer(s), first at {row_ref(data.index, int(dup[0]))}: "
                          "only the last answer of a worker on a task counts (a resubmission does not add a vote); "
                          "crowd-kit counts every row, which on_duplicate='keep_all' does; on_duplicate='error' "
                          "refuses them", UserWarning, stacklevel=outside_tagger())
        keep = np.ones(len(data), dtype=bool)
        keep[dup] = False
        # Coded again from the kept rows: ids and labels seen only in dropped
        # rows disappear, and first appearances may move.
        return factorize(data.loc[keep], labels, on_duplicate, value_column)
    if coded is None:
        coded = _label_codes(data, labels, value_column)
    elif isinstance(coded, BaseException):
        raise coded
    label, label_names = coded
    return Answers(task, worker, label, task_names, worker_names, label_names, data.index), data


def gold_array(answers: Answers, true_labels: pd.Series | None) -> np.ndarray | None:
    """Gold Series (task -> label) as int32 [n_tasks], -1 where unknown."""
    if true_labels is None:
        return None
    if not isinstance(true_labels, pd.Series):
        raise InvalidArgument("true_labels must be a pandas Series indexed by task")
    true_labels = true_labels.dropna()
    if true_labels.index.has_duplicates:
        # The same task twice: one gold label would silently win; refused unless the repeats agree.
        repeats = true_labels[true_labels.index.duplicated(keep=False)]
        conflict = repeats.groupby(level=0, sort=False).nunique()
        if (conflict > 1).any():
            task = conflict.index[(conflict > 1).to_numpy()][0]
            raise InvalidArgument(f"true_labels gives task {_plain(task)!r} different gold labels "
                                  f"{list(map(_plain, repeats.loc[[task]].unique()))}")
        true_labels = true_labels[~true_labels.index.duplicated()]
    idx = answers.label_names.get_indexer(pd.Index(true_labels.to_numpy()))
    if (idx < 0).any():
        bad = true_labels.to_numpy()[idx < 0][0]
        raise InvalidArgument(f"gold label {_plain(bad)!r} is not in the label set {[_plain(v) for v in answers.label_names]} "
                              "(pass labels=[...] to the estimator to declare labels no worker used)")
    gold = np.full(len(answers.task_names), -1, dtype=np.int32)
    pos = answers.task_names.get_indexer(true_labels.index)
    ids_of_the_data(true_labels.index, answers.task_names, "true_labels", pos)
    keep = pos >= 0  # gold for tasks without answers is ignored
    gold[pos[keep]] = idx[keep]
    return gold


def priors_array(answers: Answers, priors: Any) -> np.ndarray | None:
    if priors is None:
        return None
    if isinstance(priors, Mapping):  # {label: prior}, as a Series
        priors = pd.Series(dict(priors))
    if isinstance(priors, pd.Series):
        if priors.index.has_duplicates:
            raise InvalidArgument("class priors name a label more than once")
        try:
            p = priors.reindex(answers.label_names).to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise InvalidArgument(f"class priors must be numbers, got {list(priors.to_numpy()[:5])}") from None
        if np.isnan(p).any():
            raise InvalidArgument(f"class priors must give every label {list(answers.label_names)}")
        return p
    try:
        p = np.asarray(priors, dtype=float)
    except (TypeError, ValueError):
        raise InvalidArgument("class priors must be a sequence of numbers (one per label), a Series or a dict "
                              f"label -> prior; got {type(priors).__name__}") from None
    if p.shape != (len(answers.label_names),):
        raise InvalidArgument(f"class priors must have {len(answers.label_names)} entries (one per label)")
    return p


class _Progress:
    """Per-iteration callback: a tqdm bar when verbose."""

    def __init__(self, verbose: bool, desc: str) -> None:
        self.bar = None
        if verbose:
            from tqdm.auto import tqdm

            self.bar = tqdm(desc=desc, unit="it")

    def __call__(self, it: int, n_iter: int, objective: float, change: float) -> bool:
        if self.bar is not None:
            if self.bar.total != n_iter:
                self.bar.total = n_iter
            self.bar.update(1)
            self.bar.set_postfix(objective=f"{objective:.5f}", change=f"{change:.2e}")
        return True

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# Integer options and the range the C++ core takes them in (int32 counts,
# unsigned thread counts, 64-bit seeds): checked here so that a bad value is
# InvalidArgument naming it, not a TypeError from the binding.
_INT_PARAMS = {"n_iter": (0, 2**31 - 1), "n_restarts": (1, 2**31 - 1), "m_steps": (0, 2**31 - 1),
               "lr_steps_to_reduce": (1, 2**31 - 1), "threads": (0, 2**32 - 1), "random_state": (0, 2**64 - 1),
               "seed": (0, 2**64 - 1), "m_step_max_iter": (0, 2**31 - 1)}
_FLOAT_PARAMS = ("tol", "smoothing", "m_tol", "m_step_tol", "lr_init", "lr_reduce_factor", "eps")


_ANSWER_SIZED = "MajorityVote, Wawa or GLAD(variant='tagger') grow with the answers only"


def _fits_in_memory(est: Any, n_workers: int, n_labels: int) -> None:
    """InvalidArgument before a fit whose workers x labels^2 tables cannot fit in this machine's
    RAM: the allocation could succeed (Linux overcommits) and the process be killed on first touch
    (4 tables of 7.2 GB for 10,000 workers x 300 labels), never reaching a MemoryError."""
    tables = est._confusion_tables()
    if not tables:
        return
    w, k = n_workers, n_labels
    need = tables * 8 * w * k * k
    ram = _system.physical_memory()
    if ram and need > ram:
        raise InvalidArgument(f"{type(est).__name__} on {w:,} workers x {k:,} labels needs about {need / 2**30:,.0f} GB "
                              f"for its workers x labels^2 tables, more than this machine's {ram / 2**30:,.0f} GB; "
                              f"{_ANSWER_SIZED}")


def check_confidence(confidence: Any, owner: str) -> None:
    """InvalidArgument, naming ``owner``, unless ``confidence`` is a number in (0, 1)."""
    import numbers
    if isinstance(confidence, (bool, np.bool_)) or not isinstance(confidence, numbers.Real) \
            or not 0.0 < float(confidence) < 1.0:
        raise InvalidArgument(f"{owner}: confidence must be a number in (0, 1), got {confidence!r}")


def check_params(params: dict[str, Any], owner: str) -> None:
    """InvalidArgument naming the first option out of its type or range."""
    import numbers
    for k, v in params.items():
        if k in _INT_PARAMS:
            lo, hi = _INT_PARAMS[k]
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise InvalidArgument(f"{owner}: {k} must be an int, got {v!r}")
            if not lo <= int(v) <= hi:
                raise InvalidArgument(f"{owner}: {k} must be in [{lo}, {hi}], got {int(v)}")
        elif k in _FLOAT_PARAMS:
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not abs(float(v)) < float("inf"):
                # (inf passed the old NaN check: ZeroBasedSkill(lr_init=inf) gave NaN skills)
                raise InvalidArgument(f"{owner}: {k} must be a finite number, got {v!r}")
    if params.get("n_shards") is not None and params.get("backend", "local") == "local":
        # (it was ignored: a local fit has no shards)
        raise InvalidArgument(f"{owner}: n_shards applies to backend='inprocess' or 'ray', not to a local fit")


class _Plain:
    """The stand-in base that crowd-kit's base class replaces (see _adopt_crowdkit_base)."""


class _CrowdkitCompatible(_Plain):
    """Plain-object equality, hashing and attribute setting, whatever base is adopted."""

    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__
    __setattr__ = object.__setattr__


def _adopt_crowdkit_base() -> None:
    """Once crowd-kit is imported, tagger's classifiers become subclasses of its
    ``BaseClassificationAggregator``, so its meta-estimators (BinaryRelevance)
    accept them; crowd-kit itself is never imported here."""
    mod = sys.modules.get("crowdkit.aggregation.base")
    # (another thread may be running that module: the class is not there yet, and the
    # import hook adopts it when the module is done)
    base = getattr(mod, "BaseClassificationAggregator", None)
    if base is None or _CrowdkitCompatible.__bases__ != (_Plain,):
        return
    try:
        _CrowdkitCompatible.__bases__ = (base,)
    except TypeError:  # an incompatible crowd-kit release: left unrelated
        return
    pending = [BaseClassifier]
    while pending:
        cls = pending.pop()
        _give_attrs_fields(cls)
        pending.extend(cls.__subclasses__())


def _give_attrs_fields(cls: type) -> None:
    """crowd-kit's base is an attrs class, so ``attrs.fields`` of a tagger
    classifier listed only the inherited ``labels_`` and ``attrs.evolve(est, n_iter=3)``
    built the class from the change alone, every other parameter back at its default.
    Its fields are the constructor's parameters (tagger's aliases included: each is
    read back as the value in force)."""
    import attr

    field: Any = attr.Attribute  # (its typed signature hides the constructor's keywords)
    seen: set[str] = set(getattr(cls, "_not_attrs_fields", ()))
    fields = []
    for c in cls.__mro__:
        init = vars(c).get("__init__")
        if init is None or not c.__module__.startswith("tagger."):
            continue
        for p in inspect.signature(init).parameters.values():
            if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in seen:
                continue
            seen.add(p.name)
            kw = dict(name=p.name, default=attr.NOTHING if p.default is p.empty else p.default, validator=None,
                      repr=True, cmp=None, hash=None, init=True, inherited=False, kw_only=True)
            try:
                fields.append(field(**kw, alias=p.name))
            except TypeError:  # attrs < 22.2 (crowd-kit 1.4 allows it): no alias, the name is the init name
                fields.append(field(**kw))
    cls.__attrs_attrs__ = tuple(fields)  # type: ignore[attr-defined]


class _AdoptingLoader(importlib.abc.Loader):
    """crowd-kit's base module's own loader, adopting its base class right after the
    module runs: an estimator built before ``import crowdkit`` (a notebook's later cell)
    is then already a ``BaseClassificationAggregator`` for BinaryRelevance."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: Any) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._inner.exec_module(module)
        _adopt_crowdkit_base()

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ... (tracebacks, inspect)
        return getattr(self._inner, name)


class _CrowdkitImportWatcher(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "crowdkit.aggregation.base":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _AdoptingLoader(spec.loader)
                return spec
        return None


@contextlib.contextmanager
def fit_transaction(estimator: Any) -> Iterator[Any]:
    """The fit runs on a shallow copy of ``estimator`` (yielded), whose attributes
    replace the estimator's in one step when the fit succeeds. A fit that raises
    leaves ``estimator`` as it was (the previous fit's attributes, or unfitted),
    and a thread that reads the estimator's plain attributes while it is refitted
    sees the previous fit whole, never the new ``answers_`` beside the old
    ``labels_`` (the fit used to set ``answers_`` first and the rest after the
    core returned)."""
    work = object.__new__(type(estimator))
    work.__dict__.update(estimator.__dict__)
    yield work
    estimator.__dict__.update(work.__dict__)  # one C call under the GIL: no thread sees half of it


class BaseClassifier(_CrowdkitCompatible, Serialized):
    """sklearn-style estimator over categorical answers (crowd-kit's API).

    After ``fit``: ``labels_`` (Series task -> label), ``probas_`` (DataFrame
    task x label), ``skills_`` (Series worker -> estimated accuracy),
    ``n_iter_``, ``converged_``, ``loss_history_`` (objective per answer after
    each iteration; higher is better).
    """

    _method: str = ""
    # Constructor parameters that are not attrs fields: aliases whose value another parameter
    # carries. attrs.evolve passes every field back, so an alias beside its target made the
    # old value win over the change (evolve(glad, silent=True) kept verbose) or clash.
    _not_attrs_fields: tuple[str, ...] = ()
    # False: the method estimates no worker skills and has no skills_ (as crowd-kit's class has
    # none): an empty skills_ read as "supported" by crowd-kit's metrics, which then gave NaN skills.
    _has_skills: bool = True
    _iterative: bool = False
    _takes_class_priors: bool = True  # False: the method has no class prior to fix (refused, not ignored)
    _probas: pd.DataFrame | None  # built on first use of probas_
    _voted_on: Answers | None  # the answers labels_ describe when a predict voted on others

    def __init_subclass__(cls, **kwargs: Any) -> None:
        _mirror_fit(cls)  # before Serialized wraps the class's fit* methods: the copies run under its lock too
        super().__init_subclass__(**kwargs)
        if _CrowdkitCompatible.__bases__ != (_Plain,):  # crowd-kit's base already adopted
            _give_attrs_fields(cls)

    def _confusion_tables(self) -> int:
        """How many workers x labels x labels float64 tables the fit holds at once (0: none)."""
        return 0

    def __init__(self, *, labels: Sequence[Any] | None = None, class_priors: Any = None,
                 on_duplicate: str = "keep_last", verbose: bool | int = False, threads: int = 0,
                 **unknown: Any) -> None:
        if unknown:  # a typo reaches here through the subclass's **kw: name the class, not this base
            params = [p.name for c in type(self).__mro__ if "__init__" in vars(c)
                      for p in inspect.signature(vars(c)["__init__"]).parameters.values()
                      if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s) {sorted(unknown)}; "
                            f"its parameters are {sorted(set(params))}")
        _adopt_crowdkit_base()
        self.labels = labels
        self.class_priors = class_priors
        self.on_duplicate = on_duplicate
        self.verbose = verbose
        self.threads = threads

    # -- subclasses -------------------------------------------------------
    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        return _core.consensus.fit(self._method, *answers.core_args(), **common)

    def _params(self) -> dict[str, Any]:
        return {}

    def _extra(self, answers: Answers, out: dict[str, Any]) -> None:
        """Sets method-specific fitted attributes."""

    # -- API --------------------------------------------------------------
    def fit(self, data: pd.DataFrame, true_labels: pd.Series | None = None) -> BaseClassifier:
        """Fits the model to the answers in ``data`` and returns the estimator itself.

        ``data``: a DataFrame with columns ``task``, ``worker``, ``label`` (one
        row per answer; any hashable ids and labels). A missing column raises
        :class:`~tagger.errors.MissingColumn`, NaN/None in one of them
        :class:`~tagger.errors.InvalidArgument`; a worker answering a task twice
        follows ``on_duplicate``; an empty frame fits to empty results.

        ``true_labels``: optional gold labels, a Series task -> label; those
        tasks get one-hot posteriors. Each must be a label seen in the answers
        or listed in ``labels=``; gold for tasks without answers is ignored.

        Sets ``labels_`` (Series task -> label, ``agg_label``), ``probas_``
        (DataFrame task x label), ``skills_`` (Series worker -> skill, where the
        method estimates skills), ``priors_``, ``n_iter_``, ``converged_``,
        ``loss_history_``, ``answers_`` and the method's own fitted attributes
        (see the class). A fit that raises leaves the estimator as it was.
        """
        return self._fit(data, true_labels)

    def _fit(self, data: pd.DataFrame, true_labels: pd.Series | None = None, **call: Any) -> BaseClassifier:
        with fit_transaction(self) as work:
            work._fit_state(data, true_labels, **call)
        return self

    def _fit_state(self, data: pd.DataFrame, true_labels: pd.Series | None, **call: Any) -> BaseClassifier:
        check_params(vars(self), type(self).__name__)
        if self.class_priors is not None and not self._takes_class_priors:
            raise InvalidArgument(f"{type(self).__name__} takes no class_priors: it has no class prior to fix (they "
                                  "were accepted and changed nothing); the Dawid-Skene family, GLAD and BWA take them")
        answers, used = factorize(data, self.labels, self.on_duplicate)
        self.answers_ = answers
        self._voted_on = None  # labels_ and probas_ are of answers_ (a predict on other data sets it)
        self._streamed = False
        self._first_label = used["label"].iloc[0] if len(used) else None
        self._label_seen = (answers.label_names[first_appearance(answers.label, len(answers.label_names))]
                            if "appearance" in (self._label_order, self._priors_order) else None)
        common: dict[str, Any] = dict(gold=gold_array(answers, true_labels),
                                      class_priors=priors_array(answers, self.class_priors), threads=self.threads)
        common.update(self._params())
        common.update(call)
        progress = _Progress(bool(self.verbose) and self._iterative, type(self).__name__)
        _fits_in_memory(self, *answers.sizes[1:])
        try:
            # No callback without a bar: the core then takes the GIL only to check for Ctrl-C, at
            # most every 100 ms (per iteration it cost 7 ms each beside a busy Python thread).
            out = self._core_call(answers, callback=progress if progress.bar is not None else None, **common)
        except MemoryError as e:  # the core's std::bad_alloc said nothing else
            t, w, k = answers.sizes
            raise MemoryError(f"{type(self).__name__} ran out of memory on {t:,} tasks, {w:,} workers and {k:,} labels "
                              f"({e}); its tables grow with workers x labels^2 for the Dawid-Skene family and the "
                              f"Bayesian methods: {_ANSWER_SIZED}") from None
        except InvalidArgument as e:
            # The core's option checks say "consensus: tol must be >= 0": name the estimator.
            named = renamed(e, "consensus: ", type(self).__name__)
            if named is None:
                raise
            raise named from None
        finally:
            progress.close()
        self._set(answers, out)
        return self

    # Shown with fit's parameters: _mirror_fit below.
    def fit_predict(self, data: pd.DataFrame, *args: Any, **kwargs: Any) -> pd.Series:
        """``fit`` with the same arguments, then ``labels_``."""
        return self.fit(data, *args, **kwargs).labels_

    def fit_predict_proba(self, data: pd.DataFrame, *args: Any, **kwargs: Any) -> pd.DataFrame:
        """``fit`` with the same arguments, then ``probas_``."""
        return self.fit(data, *args, **kwargs).probas_

    def quality(self, confidence: float = 0.95) -> LabelQuality:
        """Label-quality detection from this fit; see :class:`LabelQuality`."""
        from .quality import LabelQuality

        self._check_fitted()
        self._require_posteriors("quality()")
        check_confidence(confidence, "quality()")
        if getattr(self, "_streamed", False):
            raise InvalidArgument(f"quality() needs the answers, and this {type(self).__name__} was fitted by "
                                  "fit_parquet, which keeps none in memory: fit it on a DataFrame (est.fit(df).quality()) "
                                  "for the per-answer report")
        return LabelQuality.from_fit(*self._quality_fit(), confidence, self.threads)

    def _quality_fit(self) -> tuple[Answers, dict[str, Any]]:
        """The answers and core result :meth:`quality` reports on."""
        return self.answers_, self._out

    # -- helpers ----------------------------------------------------------
    # False where probas_ are not posteriors (MMSR: signed skill sums, some negative or above
    # 1; KOS: one-hot): what reads them as probabilities refuses the estimator, saying why.
    _posteriors: bool = True
    _probas_are: str = ""

    def _require_posteriors(self, what: str) -> None:
        if not self._posteriors:
            raise InvalidArgument(f"{what} needs posterior probabilities; {type(self).__name__}'s probas_ are "
                                  f"{self._probas_are}: use DawidSkene, GLAD or another probabilistic method")

    def _check_fitted(self) -> None:
        if not hasattr(self, "_out"):
            from ..errors import ConsensusError

            raise ConsensusError(f"{type(self).__name__} is not fitted yet: call fit(data) first")

    # probas_ is built on first use: fit_predict on a large frame does not pay for it.
    @property
    def probas_(self) -> pd.DataFrame:
        """Posterior P(z_t = k): DataFrame indexed by task, one column per label."""
        probas: pd.DataFrame | None = self.__dict__.get("_probas")
        if probas is None:
            if "_out" not in self.__dict__:
                raise AttributeError(f"{type(self).__name__} is not fitted: probas_ is set by fit")
            a = self.answers_
            # A copy: the frame is the caller's to edit, and quality() reads the fit's own array.
            probas = pd.DataFrame(self._out["probas"], index=a.task_names.rename("task"),
                                  columns=a.label_names.rename(self._probas_columns_name), copy=True)
            self._probas = probas = self._ck_order(probas)
        return probas

    @probas_.setter
    def probas_(self, value: pd.DataFrame) -> None:
        self._probas = value

    def _set(self, answers: Answers, out: dict[str, Any]) -> None:
        self._out = out
        self._probas = None
        tasks = answers.task_names.rename("task")
        workers = answers.worker_names.rename("worker")
        cols = answers.label_names.rename("label")
        lab = out["labels"]
        # Tasks always have answers here, so every label index is valid.
        labels = pd.Series(answers.label_names.to_numpy()[lab] if len(lab) else [], index=tasks,
                           name="agg_label", dtype=answers.label_names.dtype if len(lab) else object)
        self.labels_ = self._ck_order(labels) if self._task_order == "sorted" else labels
        # Set (possibly empty) after every fit, as crowd-kit's attributes are.
        if self._has_skills:
            skills = out["skills"]
            has = len(skills) == len(workers) and len(skills) > 0
            self.skills_ = pd.Series(skills if has else [], index=workers if has else workers[:0], name="skill",
                                     dtype=float)
            if self._worker_order == "sorted":
                self.skills_ = _sorted_by_index(self.skills_)
        prior_name, prior_index = self._priors_names
        pcols = cols.rename(prior_index)
        self.priors_ = pd.Series(out["priors"] if len(out["priors"]) else [], index=pcols if len(out["priors"]) else pcols[:0],
                                 name=prior_name, dtype=float)
        if self._priors_order == "appearance":
            pos = self._seen_positions(self.priors_.index)
            if pos is not None:
                self.priors_ = self.priors_.iloc[pos]
        self.n_iter_ = int(out["n_iter"])
        self.converged_ = bool(out["converged"])
        self.loss_history_ = list(out["objective_history"])
        self._extra(answers, out)

    # Row and column order of crowd-kit's outputs: "sorted" (its results come
    # out of a sorting groupby/unstack) or "appearance" (first appearance in the
    # data: a groupby(sort=False), or pandas' value_counts then unstack). Tasks
    # (labels_/probas_ rows), labels (probas_ columns), workers (skills_) and
    # the labels of priors_ (only labels seen in the data are reordered).
    _task_order: str = "sorted"
    _label_order: str = "sorted"
    _worker_order: str = "appearance"
    _priors_order: str = "sorted"
    # Names crowd-kit gives: probas_'s columns axis, and priors_'s (name, index name).
    _probas_columns_name: str | None = "label"
    _priors_names: tuple[str | None, str | None] = ("prior", "label")

    def _ck_order(self, obj: Any) -> Any:
        """``obj`` (Series by task, or DataFrame task x label) in crowd-kit's order."""
        if self._task_order == "sorted":
            obj = _sorted_by_index(obj)
        if isinstance(obj, pd.DataFrame) and self._label_order == "appearance":
            pos = self._seen_positions(obj.columns)
            if pos is not None:
                obj = obj.iloc[:, pos]
        return obj

    def _seen_positions(self, labels: pd.Index) -> np.ndarray | None:
        """Positions that put ``labels`` in their order of first appearance in the fitted data;
        None when that order is unknown (a fit that kept none) or ``labels`` holds others
        (declared with ``labels=`` but never answered). By position: reindex costs 10x more."""
        seen = getattr(self, "_label_seen", None)
        if seen is None or len(seen) != len(labels):
            return None
        return labels.get_indexer(seen)

    def _init_args(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._init_args().items())
        state = ""
        if "answers_" in self.__dict__:
            a = self.answers_
            if self.__dict__.get("_streamed"):  # n=0 would read as "nothing was read"
                t, w, k = a.sizes
                state = f" fitted by fit_parquet on tasks={t}, workers={w}, labels={k} (answers streamed, not kept)"
            else:
                state = f" fitted on {a!r}"
        return f"{type(self).__name__}({args}){state}"

    def __getattr__(self, name: str) -> Any:
        # Only reached when the attribute is missing: a fitted attribute read before fit
        # says so, as probas_ and errors_ do, instead of a bare AttributeError.
        if name.endswith("_") and not name.startswith("_") and "_out" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}: it is not fitted yet "
                                 "(fitted attributes are set by fit(data))")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def _sorted_by_index(obj: Any) -> Any:
    """``obj`` with its rows sorted by index value (stable); as is when the ids cannot be ordered."""
    if len(obj.index) < 2:
        return obj
    values = obj.index.to_numpy()
    try:
        order = np.argsort(values, kind="stable")
    except TypeError:
        # Numbers and strings mixed: pandas' sorting groupby (crowd-kit's) puts the numbers
        # first, then the strings, each sorted; other unorderable mixes stay in appearance order.
        is_str = np.array([isinstance(v, str) for v in values])
        try:
            order = np.concatenate([np.flatnonzero(~is_str)[np.argsort(values[~is_str], kind="stable")],
                                    np.flatnonzero(is_str)[np.argsort(values[is_str], kind="stable")]])
        except TypeError:
            return obj
    return obj.iloc[order] if (order[1:] < order[:-1]).any() else obj


def first_appearance(codes: np.ndarray, n: int) -> np.ndarray:
    """The distinct codes of ``codes`` (values in [0, n)) in order of first appearance. Every
    value usually shows up in the first rows, so those are looked at first."""
    values, first = np.unique(codes[:4096], return_index=True)
    if len(values) < n and len(codes) > 4096:
        values, first = np.unique(codes, return_index=True)
    return values[np.argsort(first, kind="stable")]


def errors_frame(answers: Answers, errors: np.ndarray) -> pd.DataFrame:
    """Core errors [W, true, observed] as crowd-kit's frame: index (worker,
    observed label), a column per true label, so ``errors_.loc[(w, obs), true]``
    = P(w answers obs | truth true) and every column of a worker sums to 1."""
    w, k, _ = errors.shape
    flat = errors.transpose(0, 2, 1).reshape(w * k, k)
    idx = pd.MultiIndex.from_product([answers.worker_names, answers.label_names], names=["worker", "label"])
    return pd.DataFrame(flat, index=idx, columns=answers.label_names.rename("label"))


# fit_predict and fit_predict_proba pass everything to fit (true_labels, skills, initial_error,
# model_probas: each class's fit takes its own), so BaseClassifier's are (data, *args, **kwargs),
# and that is all help() and inspect.signature showed of them. Every class that defines fit (and
# BaseClassifier, for the classes that inherit its fit) gets thin copies that call the same
# generic method, with fit's parameters as their __signature__: the call is unchanged, only what
# introspection shows. A class's own fit_predict (GoldMajorityVote's) is kept.
_FIT_THEN: dict[str, tuple[Callable[..., Any], str, str]] = {
    "fit_predict": (BaseClassifier.fit_predict, "pd.Series",
                    "``labels_``: a Series task -> label, named ``agg_label``"),
    "fit_predict_proba": (BaseClassifier.fit_predict_proba, "pd.DataFrame",
                          "``probas_``: a DataFrame indexed by task, one column per label, of {probas}"),
}


def _mirror_fit(cls: type, replace: bool = False) -> None:
    """Gives ``cls`` its own fit_predict/fit_predict_proba, shown with the parameters of ``cls.fit``
    (one it defines itself is kept unless ``replace``)."""
    fit = vars(cls).get("fit")
    if fit is None:
        return
    sig = inspect.signature(fit)
    args = ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}"
                     for p in list(sig.parameters.values())[1:])
    probas = getattr(cls, "_probas_are", "") or "posterior probabilities P(z_t = k)"
    for name, (generic, returns, result) in _FIT_THEN.items():
        if name in vars(cls) and not replace:
            continue
        method = _calling(generic)
        method.__name__ = name
        method.__qualname__ = f"{cls.__qualname__}.{name}"
        method.__module__ = cls.__module__
        method.__doc__ = (f"Fits as ``fit({args})`` does (same arguments, see :meth:`fit`) and returns "
                          f"{result.format(probas=probas)}.")
        method.__signature__ = sig.replace(return_annotation=returns)  # type: ignore[attr-defined]
        method.__annotations__ = {**getattr(fit, "__annotations__", {}), "return": returns}
        setattr(cls, name, method)


def _calling(generic: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return generic(self, *args, **kwargs)
    return method


_mirror_fit(BaseClassifier, replace=True)


RunFn = Callable[..., dict]


if "crowdkit.aggregation.base" in sys.modules:
    _adopt_crowdkit_base()
elif not any(isinstance(f, _CrowdkitImportWatcher) for f in sys.meta_path):
    sys.meta_path.insert(0, _CrowdkitImportWatcher())
