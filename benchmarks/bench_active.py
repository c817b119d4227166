"""Answers only where needed: dynamic overlap replayed on the shared sets.

For each set in ../shared/data/crowd, each task's real answers are replayed in
a random order (tg.consensus.active.replay_curve): one answer per task first,
then one more for the 5 % of tasks that tg.consensus.next_items ranks first
(posterior margin under Dawid-Skene with smoothing 1), round after round, beside the
random-order baseline that adds answers to random tasks. Prints the accuracy
curve and the share of the answers at which each policy first reaches the
accuracy of the method with every answer (full overlap).

    python benchmarks/bench_active.py [--method dawid_skene] [--score eig] [--seeds 3] [--step 0.05]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import tagger as tg
from tagger.consensus.active import replay_curve

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "crowd"


def first_reach(curve: pd.DataFrame, target: float) -> float:
    hit = curve[curve["accuracy"] >= target - 1e-12]
    return float(hit["fraction"].iloc[0]) if len(hit) else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="dawid_skene")
    ap.add_argument("--score", default="margin")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--step", type=float, default=0.05)
    ap.add_argument("--sets", default="rte,dog,product")
    args = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} is missing")
        return 0
    summary = []
    for name in args.sets.split(","):
        answers = pd.read_csv(DATA / name / "answers.csv")
        truth = pd.read_csv(DATA / name / "truth.csv").set_index("task")["truth"]
        full = tg.consensus.get_method(args.method).fit_predict(answers)
        target = float((full.reindex(truth.index) == truth).mean())
        print(f"\n== {name}: {len(answers)} answers, {answers['task'].nunique()} tasks; "
              f"{args.method} with every answer: accuracy {target:.4f}")
        reach = {"active": [], "random": []}
        for seed in range(args.seeds):
            curves = {p: replay_curve(answers, truth, args.method, score=args.score, step=args.step, policy=p, seed=seed)
                      for p in ("active", "random")}
            for p, c in curves.items():
                reach[p].append(first_reach(c, target))
            if seed == 0:
                grid = np.arange(0.3, 1.0001, 0.1)
                print(f"{'answers':>8} " + " ".join(f"{g:>6.0%}" for g in grid))
                for p, c in curves.items():
                    acc = [c.loc[c["fraction"] <= g + 1e-9, "accuracy"].iloc[-1] if (c["fraction"] <= g + 1e-9).any()
                           else float("nan") for g in grid]
                    print(f"{p:>8} " + " ".join(f"{a:6.4f}" for a in acc))
        med = {p: float(np.nanmedian(v)) if not np.all(np.isnan(v)) else float("nan") for p, v in reach.items()}
        print(f"full-overlap accuracy first reached at (median of {args.seeds} orders): "
              f"active {med['active']:.1%} of the answers, random {med['random']:.1%}  "
              f"(per order: active {[f'{x:.0%}' for x in reach['active']]}, random {[f'{x:.0%}' for x in reach['random']]})")
        summary.append((name, target, med["active"], med["random"]))
    print("\nset       full-overlap acc   active reaches it at   random reaches it at")
    for name, target, a, r in summary:
        print(f"{name:<9} {target:>16.4f} {a:>22.1%} {r:>22.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
