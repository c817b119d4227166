"""Bounding boxes (tagger's own; crowd-kit has none): :class:`BoxMajorityVote`
clusters the workers' boxes of a task by IoU and keeps the clusters enough
workers agree on, each as the mean (or median) box, as labeling platforms
do for object detection.

Input: a DataFrame with columns ``task, worker, x_min, y_min, x_max, y_max``
and optionally ``label`` (boxes cluster only with boxes of the same label).
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument, TaggerError
from ._checks import codes, frame, no_missing, renamed
from ._serial import Serialized

__all__ = ["BoxMajorityVote"]

_COORDS = ("x_min", "y_min", "x_max", "y_max")


class BoxMajorityVote(Serialized):
    """Per task (and label), boxes are taken in order of decreasing total IoU
    with the other workers' boxes; each joins the cluster whose seed (first
    box) it overlaps most with IoU >= ``iou_threshold`` and that holds no box
    of the same worker yet, else it seeds a new cluster. A cluster is kept
    when its workers are at least ``min_support`` of the task's workers
    (those with any box on the task); its box is the coordinate-wise
    ``aggregate`` ("mean" or "median") of its members.

    Fitted: ``boxes_`` (DataFrame ``task, label, x_min, y_min, x_max, y_max,
    support``; ``label`` is None without a label column) and ``clusters_``
    (per input row: its row in ``boxes_``, -1 when dropped)."""

    def __init__(self, iou_threshold: float = 0.5, min_support: float = 0.5, aggregate: str = "mean") -> None:
        self.iou_threshold, self.min_support, self.aggregate = iou_threshold, min_support, aggregate

    def fit(self, data: pd.DataFrame) -> BoxMajorityVote:
        """Clusters each task's boxes and keeps the supported clusters; returns the estimator itself.

        ``data``: columns ``task, worker, x_min, y_min, x_max, y_max`` (numbers)
        and optionally ``label`` (boxes cluster only with boxes of the same
        label). Inverted or NaN boxes raise
        :class:`~tagger.errors.InvalidArgument`. Sets ``boxes_`` (DataFrame
        ``task, label, x_min, y_min, x_max, y_max, support``) and ``clusters_``
        (Series per input row: its row in ``boxes_``, -1 when dropped).
        """
        if self.aggregate not in ("mean", "median"):
            raise InvalidArgument(f"BoxMajorityVote: aggregate must be 'mean' or 'median', not {self.aggregate!r}")
        for k in ("iou_threshold", "min_support"):
            v = getattr(self, k)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                raise InvalidArgument(f"BoxMajorityVote: {k} must be a number, got {v!r}")
        has_label = isinstance(data, pd.DataFrame) and "label" in data.columns
        cols = ("task", "worker", *_COORDS) + (("label",) if has_label else ())
        df = frame(data, cols, "BoxMajorityVote")
        no_missing(df, ("task", "worker") + (("label",) if has_label else ()), "BoxMajorityVote")
        try:
            boxes = df[list(_COORDS)].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"BoxMajorityVote: coordinates must be numbers: {e}") from None
        task, tasks = codes(df["task"], sort=True)
        worker, _ = codes(df["worker"])
        label, labels = codes(df["label"], sort=True) if has_label else (np.zeros(len(df), dtype=np.int32), pd.Index([None]))
        try:
            out = _core.consensus_families.bbox(np.ascontiguousarray(boxes).ravel(), task, worker, label, len(tasks),
                                                float(self.iou_threshold), float(self.min_support),
                                                self.aggregate == "median")
        except TaggerError as e:  # the core names its function ("bbox: ..."); the user knows the class
            named = renamed(e, "bbox: ", "BoxMajorityVote")
            if named is None:
                raise
            raise named from None
        b = out["boxes"]
        self.boxes_ = pd.DataFrame({"task": tasks[out["task"]], "label": labels[out["label"]],
                                    "x_min": b[:, 0], "y_min": b[:, 1], "x_max": b[:, 2], "y_max": b[:, 3],
                                    "support": out["support"]})
        self.clusters_ = pd.Series(out["cluster"], index=df.index, name="cluster")
        return self

    def fit_predict(self, data: pd.DataFrame) -> pd.DataFrame:
        """``fit(data)``, then ``boxes_``: the aggregated boxes, a DataFrame
        ``task, label, x_min, y_min, x_max, y_max, support``."""
        return self.fit(data).boxes_

    def __repr__(self) -> str:
        return (f"BoxMajorityVote(iou_threshold={self.iou_threshold!r}, min_support={self.min_support!r}, "
                f"aggregate={self.aggregate!r})")
