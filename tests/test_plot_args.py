"""tg.plot refuses what it cannot draw before it draws anything."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

import tagger as tg
from tagger.errors import InvalidArgument


def test_plot_result_refuses_a_consensus_estimator_before_making_a_figure() -> None:
    df = pd.DataFrame({"task": [1, 1, 2, 2], "worker": ["a", "b", "a", "b"], "label": [0, 0, 1, 0]})
    est = tg.consensus.DawidSkene().fit(df)
    figures_before = sys.modules["matplotlib.pyplot"].get_fignums() if "matplotlib.pyplot" in sys.modules else []
    with pytest.raises(InvalidArgument, match="plot_result draws a finished task's TaskResult.*not a DawidSkene"):
        tg.plot.plot_result(est)
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == figures_before
