"""A decrypted dataset in a training pipeline: pandas, Parquet, JSON Lines,
Hugging Face ``datasets`` and ``torch`` views of the same rows.

Optional libraries are imported only when their export is asked for, with a
clear message when they are missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from ._optional import require
from ._repr import html_table

__all__ = ["Dataset"]


class Dataset:
    """Rows of a finished dataset: one per item, with its final label (labeling
    tasks) or its decrypted upload (collection tasks) and provenance columns.

    Obtained from ``net.dataset(nft, as_account=...)``; never constructed with
    secrets the caller does not hold.
    """

    def __init__(self, frame: pd.DataFrame, *, name: str = "dataset", nft_id: str | None = None) -> None:
        self._frame = frame.reset_index(drop=True)
        self.name = name
        self.nft_id = nft_id

    def __len__(self) -> int:
        return len(self._frame)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        # pandas-stubs types the rows as PandasNamedTuple, which lacks namedtuple's _asdict.
        return (row._asdict() for row in self._frame.itertuples(index=False))  # type: ignore[operator, misc]

    @property
    def columns(self) -> list[str]:
        return list(self._frame.columns)

    def to_pandas(self) -> pd.DataFrame:
        """A copy of the rows as a DataFrame."""
        return self._frame.copy()

    def to_parquet(self, path: str | Path) -> Path:
        """Write the rows to a Parquet file (needs ``pyarrow``)."""
        require("pyarrow", "Dataset.to_parquet")
        path = Path(path)
        self._frame.to_parquet(path, index=False)
        return path

    def to_jsonl(self, path: str | Path) -> Path:
        """Write one JSON object per row; bytes are written as hex strings."""
        path = Path(path)
        with path.open("w", encoding="utf-8") as f:
            for row in self:
                f.write(json.dumps({k: _jsonable(v) for k, v in row.items()}, ensure_ascii=False) + "\n")
        return path

    def to_hf_dataset(self):
        """A ``datasets.Dataset`` (needs the Hugging Face ``datasets`` package)."""
        datasets = require("datasets", "Dataset.to_hf_dataset")
        return datasets.Dataset.from_pandas(self._frame, preserve_index=False)

    def to_torch(self, transform=None):
        """A ``torch.utils.data.Dataset`` yielding row dicts (optionally transformed)."""
        tud = require("torch.utils.data", "Dataset.to_torch")
        rows = self._frame.to_dict("records")

        base: Any = tud.Dataset  # torch is optional: its classes are known only at run time

        class _RowsDataset(base):
            def __len__(self) -> int:
                return len(rows)

            def __getitem__(self, i: int):
                return transform(rows[i]) if transform else rows[i]

        return _RowsDataset()

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, rows={len(self)}, columns={self.columns})"

    def _repr_html_(self) -> str:
        head = self._frame.head(10)
        return html_table(f"Dataset {self.name} · {len(self)} rows",
                          [str(c) for c in head.columns],
                          [[_short(v) for v in r] for r in head.itertuples(index=False)])


def _jsonable(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    if hasattr(v, "item"):
        return v.item()
    return v


def _short(v: Any) -> str:
    s = v.hex() if isinstance(v, (bytes, bytearray)) else str(v)
    return s if len(s) <= 60 else s[:57] + "…"
