"""CategoryClassifier: CategoryIndex.fit behind scikit-learn's estimator protocol."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .errors import InvalidArgument

# The fit options a CategoryClassifier takes (CategoryIndex.fit's keywords), with their defaults.
_PARAMS: dict[str, Any] = {"epochs": 6, "learning_rate": 0.1, "l2": 1e-6, "seed": 0, "threads": 0, "dense": True,
                           "dense_weight": None, "calibrate": True, "target_precision": 0.9, "folds": 3,
                           "oos_share": None}


def _texts(X: Any, what: str) -> list:
    """The texts of ``X``: a list, a 1-D array or Series, or a 2-D array or DataFrame of one column
    (what a ColumnTransformer or a DataFrame selection hands on)."""
    if isinstance(X, str):
        raise InvalidArgument(f"{what}: X must be a sequence of texts, got one str (wrap it in a list)")
    columns = getattr(X, "columns", None)
    if columns is not None:
        if len(columns) != 1:
            raise InvalidArgument(f"{what}: X has {len(columns)} columns; give the one column of texts")
        X = X[columns[0]]
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2:
        if shape[1] != 1:
            raise InvalidArgument(f"{what}: X has shape {tuple(shape)}; give one text per row (shape (n,) or (n, 1))")
        X = np.asarray(X)[:, 0]
    from .match import _text_list

    # CategoryIndex's own checks: list(X) read a dict as its keys and a set in hash order.
    return _text_list(X, f"{what}: X")


def _label_array(labels: list) -> np.ndarray:
    """Labels as numpy holds them best: str, int or float arrays when they are all of that kind
    (numpy's own scalars included), else objects (np.asarray made [1, "a"] two strings)."""
    for kind, dtype in ((str, np.str_), (bool, np.bool_), (int, np.int64), (float, np.float64)):
        if labels and all(isinstance(x, (kind, np.generic)) and np.asarray(x).dtype.kind == np.dtype(dtype).kind
                          for x in labels):
            return np.asarray(labels, dtype=dtype if dtype is not np.str_ else None)
    out = np.empty(len(labels), dtype=object)
    out[:] = labels
    return out


class CategoryClassifier:
    """:meth:`CategoryIndex.fit <tagger.match.CategoryIndex.fit>` as a scikit-learn classifier:
    ``fit(X, y)`` / ``predict`` / ``predict_proba`` / ``score``, ``classes_``, ``get_params`` /
    ``set_params``, so that ``clone``, ``Pipeline``, ``GridSearchCV`` and ``cross_val_score``
    take it (:class:`CategoryIndex` itself is built by a class method and has no parameters to
    clone). X is texts: a list, a 1-D array or Series, or one column of a 2-D array or DataFrame.
    scikit-learn is not needed to use it.

    >>> clf = CategoryClassifier(epochs=8).fit(["my card is late", "wire money abroad"], ["card", "transfer"])
    >>> clf.predict(["where is my card"])[0]
    'card'

    The constructor takes ``CategoryIndex.fit``'s options (``dense_weight=None``: its default);
    ``abstain=True`` makes ``predict`` answer ``abstain_label`` below the calibrated threshold.
    The fitted index is :attr:`index_`. ``predict_proba``'s columns follow ``classes_`` (sorted,
    as scikit-learn's metrics expect, when the labels can be sorted).
    """

    _estimator_type = "classifier"  # (scikit-learn before 1.6)

    def __init__(self, *, epochs: int = 6, learning_rate: float = 0.1, l2: float = 1e-6, seed: int = 0,
                 threads: int = 0, dense: Any = True, dense_weight: Optional[float] = None, calibrate: bool = True,
                 target_precision: float = 0.9, folds: int = 3, oos_share: Optional[float] = None,
                 abstain: bool = False, abstain_label: Any = None) -> None:
        # (scikit-learn's rule: store as given, check in fit)
        self.epochs, self.learning_rate, self.l2, self.seed, self.threads = epochs, learning_rate, l2, seed, threads
        self.dense, self.dense_weight, self.calibrate = dense, dense_weight, calibrate
        self.target_precision, self.folds, self.oos_share = target_precision, folds, oos_share
        self.abstain, self.abstain_label = abstain, abstain_label

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters and their values (``deep`` is scikit-learn's; there is
        nothing nested)."""
        return {name: getattr(self, name) for name in (*_PARAMS, "abstain", "abstain_label")}

    def set_params(self, **params: Any) -> "CategoryClassifier":
        """Sets constructor parameters by name (InvalidArgument for one it does not have);
        returns itself. They take effect at the next :meth:`fit`."""
        known = self.get_params()
        for name, value in params.items():
            if name not in known:
                raise InvalidArgument(f"CategoryClassifier has no parameter {name!r}; it has {sorted(known)}")
            setattr(self, name, value)
        return self

    def fit(self, X: Any, y: Any) -> "CategoryClassifier":
        """Fits a :class:`CategoryIndex` on texts ``X`` and labels ``y`` with this classifier's
        options (:attr:`index_`), sets ``classes_``, and returns itself."""
        from .match import CategoryIndex

        options = {name: getattr(self, name) for name in _PARAMS}
        if options["dense_weight"] is None:
            del options["dense_weight"]
        if not options["calibrate"]:  # CategoryIndex.fit refuses calibration options it would ignore
            for name in ("target_precision", "folds", "oos_share"):
                del options[name]
        shape = getattr(y, "shape", None)
        if shape is not None and len(shape) == 2 and shape[1] == 1:  # a one-column frame or (n, 1) array
            y = np.asarray(y)[:, 0]
        elif shape is not None and len(shape) != 1:
            # Any 2-D y was raveled: (3, 2) labels trained 6 texts on interleaved rows.
            raise InvalidArgument(f"fit: y must be one label per text (shape (n,) or (n, 1)), got shape {tuple(shape)}")
        elif isinstance(y, (str, bytes)) or y is None:
            raise InvalidArgument(f"fit: y must be a sequence of labels, got {type(y).__name__}")
        from .match import _text_list

        labels = _text_list(y, "fit: y", "a sequence of labels", column="label")
        self.index_ = CategoryIndex.fit(_texts(X, "fit"), labels, **options)
        categories = list(self.index_.categories)
        try:
            order = sorted(range(len(categories)), key=categories.__getitem__)
        except TypeError:  # labels of kinds that do not compare: the index's order
            order = list(range(len(categories)))
        self._order = np.asarray(order, dtype=np.int64)
        self.classes_ = _label_array([categories[i] for i in order])
        self.n_features_in_ = 1
        return self

    def _fitted(self, what: str) -> Any:
        index = getattr(self, "index_", None)
        if index is None:
            raise InvalidArgument(f"{what}: this CategoryClassifier is not fitted yet; call fit(X, y) first")
        return index

    def predict_proba(self, X: Any) -> np.ndarray:
        """[n_texts, n_classes] probabilities, columns in ``classes_`` order."""
        index = self._fitted("predict_proba")
        return index.predict_proba(_texts(X, "predict_proba"), self.threads)[:, self._order]

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each text (``abstain_label`` below the threshold when
        ``abstain`` is set), as an array of the labels' kind."""
        index = self._fitted("predict")
        out = index.predict(_texts(X, "predict"), self.threads, abstain=self.abstain, abstain_label=self.abstain_label)
        labels = np.empty(len(out), dtype=object)
        labels[:] = list(out)
        if self.abstain or self.classes_.dtype == object:  # (an abstention is abstain_label, None by default)
            return labels
        return labels.astype(self.classes_.dtype)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy of :meth:`predict` (an abstention counts as wrong)."""
        hit = (self.predict(X) == np.asarray(list(y), dtype=object)).astype(np.float64)
        return float(np.average(hit, weights=sample_weight))

    def __sklearn_tags__(self) -> Any:  # scikit-learn >= 1.6 (only scikit-learn calls it)
        from sklearn.base import BaseEstimator, ClassifierMixin  # type: ignore[import-untyped]

        class _Probe(ClassifierMixin, BaseEstimator):
            pass

        tags = _Probe().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items()
                   if v != {**_PARAMS, "abstain": False, "abstain_label": None}[k]}
        return "CategoryClassifier(" + ", ".join(f"{k}={v!r}" for k, v in changed.items()) + ")"
