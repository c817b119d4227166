"""Matplotlib figures for notebooks: task results and token flows.

matplotlib is imported on first use; figures use the non-interactive default
backend unless the caller chose another.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._optional import require
from .errors import InvalidArgument

__all__ = ["plot_result", "plot_flows"]


def _plt():
    return require("matplotlib.pyplot", "tagger.plot")


def plot_result(result: Any, ax: Any = None):
    """Three panels: estimated worker skill vs agreement with consensus (size = answers),
    payout by skill, and the distribution of the consensus confidence."""
    if not all(hasattr(result, k) for k in ("worker_quality", "probas", "labels", "method")):
        # Checked before a figure is made: a fitted consensus estimator raised AttributeError
        # after an empty figure was already drawn.
        raise InvalidArgument(f"plot_result draws a finished task's TaskResult (task.finalize()), not a "
                              f"{type(result).__name__}; for a fitted tg.consensus estimator see its quality()")
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    else:
        fig = np.ravel(ax)[0].figure
    a = np.ravel(ax)
    if len(a) != 3:  # (one Axes raised numpy's IndexError at the second panel, after drawing the first)
        raise InvalidArgument(f"plot draws three panels: pass ax= three Axes (e.g. plt.subplots(1, 3)[1]), "
                              f"not {len(a)}")
    wq = result.worker_quality
    a[0].scatter(wq["agreement"], wq["skill"], s=10 + 2 * wq["n_answers"] / max(1, wq["n_answers"].max()) * 40,
                 alpha=0.7, c=np.where(wq["slashed"] > 0, "tab:red", "tab:blue"))
    a[0].set(xlabel="agreement with consensus", ylabel="estimated skill", title="workers (red: slashed)")
    a[1].scatter(wq["skill"], wq["payout"] / 1e6, s=12, alpha=0.7)
    a[1].set(xlabel="estimated skill", ylabel="payout (TAG)", title="payouts")
    if result.probas is not None:
        a[2].hist(result.probas.max(axis=1), bins=20, color="tab:green")
        a[2].set(xlabel="posterior of the final label", ylabel="items", title=f"confidence ({result.method})")
    else:
        a[2].bar(["accepted"], [len(result.labels)])
        a[2].set(title="accepted uploads")
    fig.tight_layout()
    return fig


def plot_flows(net: Any, ax: Any = None):
    """Bar chart of where the minted supply sits now (balances, escrow, stakes) and
    of the amounts moved per transaction kind over the ledger's history."""
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
    else:
        fig = np.ravel(ax)[0].figure
    a = np.ravel(ax)
    s = net.supply()
    parts = {k: s.get(k, 0) / 1e6 for k in ("balances", "escrowed", "staked")}
    a[0].bar(list(parts), list(parts.values()), color=["tab:blue", "tab:orange", "tab:purple"])
    a[0].set(ylabel="TAG", title=f"supply now (minted {s['minted'] / 1e6:,.0f} TAG)")
    moved: dict[str, float] = {}

    def add(kind: str, amount: int) -> None:
        if amount:
            moved[kind] = moved.get(kind, 0.0) + amount / 1e6

    for h in range(net.height + 1):
        for tx in net.block(h).transactions:
            f = tx.fields
            if tx.kind == "finalize":  # one transaction, three flows
                add("payouts", sum(int(a) for _, a in f["payouts"]))
                add("slashed", sum(int(a) for _, a in f["slashes"]))
            elif tx.kind in ("mint", "transfer", "escrow_lock", "stake", "slash", "buy"):
                add({"escrow_lock": "escrowed", "buy": "sales"}.get(tx.kind, tx.kind), tx.amount or 0)
    if moved:
        a[1].bar(list(moved), list(moved.values()), color="tab:gray")
        a[1].tick_params(axis="x", rotation=45)
    a[1].set(ylabel="TAG", title="token flows over the ledger's history")
    fig.tight_layout()
    return fig
