"""Fewer human answers where the copilot is right: adaptive overlap, simulated.

The stop rule of a task with a copilot and overlap="adaptive" (docs/copilot.md):
an item settles with fewer than `overlap` human answers when the copilot answered
it with confidence >= the threshold and every human answer so far (at least one)
equals the copilot's label; any other item gets one more human answer per round
up to `overlap`. The consensus is Dawid-Skene on all answers, the copilot's
included as one more annotator. tagger.consensus.adaptive replays it:

* the shared crowd sets (../shared/data/crowd): each item's real answers in a
  random order per seed; a synthetic copilot of accuracy p (a uniformly random
  wrong label otherwise) whose confidence is Beta(8, 2) when right and Beta(3, 3)
  when wrong ("informative"), or the same confidences permuted across items
  ("uninformative": as many items pass a threshold, at random);
* Banking77 (../shared/data/nlp/banking77, the 3,080 test queries): the copilot
  is tg.match.CategoryIndex fitted on k training examples per intent, k chosen
  in this run so that its accuracy lands nearest 60 / 75 / 90 %, its top
  predict_proba as the confidence; simulated humans (no crowd answers exist):
  30 workers of accuracy ~ Beta(7, 3), a wrong answer drawn half uniformly and
  half in proportion to a full-train CategoryIndex's probabilities of the wrong
  intents (people confuse similar intents), 6 answers per query collected.

Policies on the same replay: (a) full overlap, no copilot; (b) full overlap with
the copilot as an annotator; (c) adaptive; (d) adaptive, the saved answers spent
on the items it did not settle (next_items margin, beyond overlap while the
replay has answers) up to the budget of (a); (e) the budget of (c) spread
evenly over the items, without / with the copilot. Thresholds 0-0.95 are swept
for (c); all policies run at --thresholds. Means over --seeds seeds. Anchoring (4):
workers shown the suggestion copy it with probability --anchoring instead of
giving their own answer (informative copilot, at --thresholds).

    python benchmarks/bench_copilot.py [--seeds 5] [--thresholds 0.7,0.9] [--no-banking]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tagger.consensus.adaptive import (CONFIDENCE_CORRECT, CONFIDENCE_WRONG, CopilotReplay, copilot_from_proba,
                                       simulate_crowd, synthetic_copilot, uninformative)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CROWD, BANKING = SHARED / "crowd", SHARED / "nlp" / "banking77"
TARGETS = (0.60, 0.75, 0.90)
SWEEP = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
K_CANDIDATES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 40, 60, 80, 120)


def run_replay(replay: CopilotReplay, key: dict, thresholds: tuple[float, ...], sweep: tuple[float, ...],
               budget_policies: bool = True) -> list[dict]:
    """(a), (b) and (c) at each threshold of `sweep` and `thresholds`; (d) and (e) too at
    `thresholds` when `budget_policies`."""
    a, b = replay.full(False), replay.full(True)
    rows = []
    for thr in sorted(set(sweep) | set(thresholds)):
        c = replay.adaptive(thr)
        row = dict(key, thr=thr, n_full=a.answers, acc_full=a.accuracy, acc_full_cop=b.accuracy,
                   n_adapt=c.answers, stopped=c.stopped / replay.n_tasks, acc_adapt=c.accuracy)
        if budget_policies and thr in thresholds:
            d = replay.adaptive_budget(thr)
            row.update(n_budget=d.answers, acc_budget=d.accuracy,
                       acc_even=replay.even(c.answers, False).accuracy,
                       acc_even_cop=replay.even(c.answers, True).accuracy)
        rows.append(row)
    return rows


def copilot_variants(cop: pd.DataFrame, seed: int, anchorings: tuple[float, ...]):
    """(confidence model, anchoring, copilot): informative and uninformative as collected,
    then the informative copilot with workers who copy its suggestion."""
    yield "informative", 0.0, cop
    yield "uninformative", 0.0, uninformative(cop, seed=seed)
    for q in anchorings:
        yield "informative", q, cop


def crowd_rows(name: str, overlap: int, seeds: int, thresholds, sweep, anchorings) -> list[dict]:
    answers = pd.read_csv(CROWD / name / "answers.csv")
    truth = pd.read_csv(CROWD / name / "truth.csv").set_index("task")["truth"]
    tasks = pd.Index(pd.unique(answers["task"]))
    labels = sorted(set(answers["label"]) | set(truth))
    right = (answers["label"].to_numpy() == truth.reindex(answers["task"]).to_numpy()).mean()
    print(f"{name}: {len(answers)} answers, {len(tasks)} items, {answers.groupby('task').size().median():.0f} "
          f"answers per item; {right:.1%} of the answers are right; overlap {overlap}")
    rows = []
    for seed in range(seeds):
        for i, p in enumerate(TARGETS):
            cop = synthetic_copilot(truth.reindex(tasks), p, labels=labels, seed=1000 * seed + i)
            for conf, q, c in copilot_variants(cop, 1000 * seed + i, anchorings):
                key = dict(set=name, overlap=overlap, target=p, copilot_acc=float(c["correct"].mean()),
                           confidence=conf, anchoring=q, seed=seed)
                replay = CopilotReplay(answers, truth, c, overlap=overlap, seed=seed, anchoring=q)
                rows += run_replay(replay, key, thresholds, sweep if q == 0 else thresholds, budget_policies=q == 0)
    return rows


def banking_copilots(train: pd.DataFrame, test: pd.DataFrame) -> tuple[list[tuple[float, int, pd.DataFrame]], pd.DataFrame]:
    """For each target accuracy, the k (examples per intent) whose CategoryIndex lands nearest it.
    k grows until the accuracy passes the largest target; the examples of k are the first k of
    one seeded shuffle per intent, so a larger k adds examples to a smaller k's."""
    import tagger.match as m

    rng = np.random.default_rng(0)
    shuffled = train.iloc[rng.permutation(len(train))].reset_index(drop=True)
    shuffled["r"] = shuffled.groupby("label").cumcount()
    truth = pd.Series(test["label"].to_numpy(), index=pd.RangeIndex(len(test), name="task"))
    fitted, table = [], []
    for k in K_CANDIDATES:
        sub = shuffled[shuffled["r"] < k]
        idx = m.CategoryIndex.fit(sub["text"].tolist(), sub["label"].tolist(), threads=1)
        proba = pd.DataFrame(idx.predict_proba(test["text"].tolist(), 1), columns=list(idx.categories),
                             index=truth.index)
        cop = copilot_from_proba(proba, truth)
        acc = float(cop["correct"].mean())
        fitted.append((k, acc, cop))
        table.append(dict(k=k, examples=len(sub), accuracy=acc, mean_confidence=float(cop["confidence"].mean())))
        if acc >= max(TARGETS):
            break
    chosen = []
    for p in TARGETS:
        k, acc, cop = min(fitted, key=lambda f: abs(f[1] - p))
        chosen.append((p, k, cop))
    return chosen, pd.DataFrame(table)


def banking_rows(overlap: int, per_item: int, seeds: int, thresholds, sweep,
                 anchorings) -> tuple[list[dict], pd.DataFrame, float]:
    import tagger.match as m

    train, test = pd.read_csv(BANKING / "train.csv"), pd.read_csv(BANKING / "test.csv")
    chosen, ks = banking_copilots(train, test)
    truth = pd.Series(test["label"].to_numpy(), index=pd.RangeIndex(len(test), name="task"))
    # Which wrong intents a person picks: half uniform, half as a full-train model ranks them.
    full = m.CategoryIndex.fit(train["text"].tolist(), train["label"].tolist(), threads=1, calibrate=False)
    cats = list(full.categories)
    confusable = 0.5 / len(cats) + 0.5 * full.predict_proba(test["text"].tolist(), 1)
    rows, human_acc = [], []
    for seed in range(seeds):
        answers = simulate_crowd(truth, cats, n_workers=30, per_item=per_item, skill=(7.0, 3.0),
                                 confusable=confusable, seed=seed)
        human_acc.append(float((answers["label"].to_numpy() == truth.reindex(answers["task"]).to_numpy()).mean()))
        for i, (p, k, cop) in enumerate(chosen):
            for conf, q, c in copilot_variants(cop, 1000 * seed + i, anchorings):
                key = dict(set="banking77", overlap=overlap, target=p, k=k, copilot_acc=float(c["correct"].mean()),
                           confidence=conf, anchoring=q, seed=seed)
                replay = CopilotReplay(answers, truth, c, overlap=overlap, seed=seed, anchoring=q)
                rows += run_replay(replay, key, thresholds, sweep if q == 0 else thresholds, budget_policies=q == 0)
    return rows, ks, float(np.mean(human_acc))


MARKDOWN = False


def show(table: pd.DataFrame) -> None:
    """Prints a table as text, or with --markdown as a pipe table for docs/copilot.md."""
    if not MARKDOWN:
        print(table.to_string(index=False))
        return
    cells = table.astype(str)
    print("| " + " | ".join(cells.columns) + " |")
    print("|" + "|".join("---" if cells[c].str.match(r"^[A-Za-z]").any() else "---:" for c in cells.columns) + "|")
    for row in cells.itertuples(index=False):
        print("| " + " | ".join(row) + " |")


def pct(x: float) -> str:
    return "" if pd.isna(x) else f"{100 * x:.1f}"


def pts(x: float) -> str:
    return "" if pd.isna(x) else f"{100 * x:+.1f}"


def report(all_rows: pd.DataFrame, thresholds: tuple[float, ...]) -> None:
    anchored = all_rows[all_rows["anchoring"] > 0]
    df = all_rows[all_rows["anchoring"] == 0]
    keys = ["set", "overlap", "target", "confidence", "thr"]
    g = df.groupby(keys, sort=False)
    mean = g.mean(numeric_only=True)
    sd = g.std(numeric_only=True, ddof=1)
    mean["saved"] = 1 - mean["n_adapt"] / mean["n_full"]
    main = mean.reset_index()
    main = main[main["thr"].isin(thresholds)]
    sd_main = sd.reset_index()
    sd_main = sd_main[sd_main["thr"].isin(thresholds)]
    dd = (df.assign(d_adapt=df["acc_adapt"] - df["acc_full"]).groupby(keys, sort=False)["d_adapt"].std(ddof=1)
          .reset_index())
    dd = dd[dd["thr"].isin(thresholds)]
    main = main.merge(dd, on=keys)

    t1 = pd.DataFrame({
        "set": main["set"], "overlap": main["overlap"], "copilot acc": main["copilot_acc"].map(pct),
        "confidence": main["confidence"], "thr": main["thr"],
        "stopped %": main["stopped"].map(pct), "saved %": main["saved"].map(pct),
        "acc full (a)": main["acc_full"].map(pct), "acc adaptive (c)": main["acc_adapt"].map(pct),
        "c-a pts": (main["acc_adapt"] - main["acc_full"]).map(pts),
        "sd": main["d_adapt"].map(lambda x: f"{100 * x:.1f}"),
        "acc full+copilot (b)": main["acc_full_cop"].map(pct),
        "c-b pts": (main["acc_adapt"] - main["acc_full_cop"]).map(pts),
    })
    print("\n(1) Human answers saved by the stop rule, and its accuracy against full overlap "
          "(accuracy in %, mean over seeds; sd = sd of c-a over seeds)")
    show(t1)

    t2 = pd.DataFrame({
        "set": main["set"], "copilot acc": main["copilot_acc"].map(pct), "confidence": main["confidence"],
        "thr": main["thr"], "acc full (a)": main["acc_full"].map(pct),
        "full+copilot (b)": main["acc_full_cop"].map(pct), "b-a": (main["acc_full_cop"] - main["acc_full"]).map(pts),
        "adaptive+realloc (d)": main["acc_budget"].map(pct),
        "d budget %": (main["n_budget"] / main["n_full"]).map(pct),
        "d-a": (main["acc_budget"] - main["acc_full"]).map(pts),
        "d-b": (main["acc_budget"] - main["acc_full_cop"]).map(pts),
        "even@c (e)": main["acc_even"].map(pct), "even+cop@c (e')": main["acc_even_cop"].map(pct),
        "adaptive (c)": main["acc_adapt"].map(pct), "c-e": (main["acc_adapt"] - main["acc_even"]).map(pts),
        "c-e'": (main["acc_adapt"] - main["acc_even_cop"]).map(pts),
    })
    print("\n(2) Accuracy at equal budget (%): at the full-overlap budget, (b) and (d) against (a); "
          "at the adaptive policy's own budget, (c) against the same answers spread evenly (e, e')")
    show(t2)

    # (3) Savings at equal accuracy over the threshold sweep: the lowest threshold whose mean
    # accuracy is at least full overlap's (the thresholds were swept on the same replays).
    summ = []
    for (s, ov, p, conf), sub in mean.reset_index().groupby(["set", "overlap", "target", "confidence"], sort=False):
        ok = sub[sub["acc_adapt"] >= sub["acc_full"] - 1e-12]
        best = ok.loc[ok["saved"].idxmax()] if len(ok) else None
        ok_b = sub[sub["acc_adapt"] >= sub["acc_full_cop"] - 1e-12]
        best_b = ok_b.loc[ok_b["saved"].idxmax()] if len(ok_b) else None
        summ.append({"set": s, "copilot acc": pct(sub["copilot_acc"].iloc[0]), "confidence": conf,
                     "acc full": pct(sub["acc_full"].iloc[0]),
                     "saved % at >= acc full": pct(best["saved"]) if best is not None else "none",
                     "thr": best["thr"] if best is not None else "",
                     "acc there": pct(best["acc_adapt"]) if best is not None else "",
                     "saved % at >= acc (b)": pct(best_b["saved"]) if best_b is not None else "none",
                     "thr (b)": best_b["thr"] if best_b is not None else "",
                     "saved % at thr 0 / 0.7 / 0.9": " / ".join(
                         pct(sub.loc[np.isclose(sub["thr"], t), "saved"].iloc[0]) for t in (0.0, 0.7, 0.9)),
                     "c-a pts at thr 0 / 0.7 / 0.9": " / ".join(
                         pts((sub["acc_adapt"] - sub["acc_full"])[np.isclose(sub["thr"], t)].iloc[0])
                         for t in (0.5, 0.7, 0.9))})
    print(f"\n(3) Human answers saved at equal final accuracy: the largest saving over thresholds "
          f"{', '.join(map(str, SWEEP))} whose mean accuracy is >= full overlap's (chosen on the same replays)")
    show(pd.DataFrame(summ))

    if len(anchored):
        base = df[df["confidence"] == "informative"].groupby(["set", "target", "thr"], sort=False).mean(numeric_only=True)
        anc = anchored.groupby(["set", "target", "anchoring", "thr"], sort=False).mean(numeric_only=True).reset_index()
        b0 = base.reindex(pd.MultiIndex.from_frame(anc[["set", "target", "thr"]]))
        t4 = pd.DataFrame({
            "set": anc["set"], "copilot acc": anc["copilot_acc"].map(pct), "copies %": anc["anchoring"].map(pct),
            "thr": anc["thr"], "acc full (a)": anc["acc_full"].map(pct),
            "saved % (no copying)": (1 - b0["n_adapt"].to_numpy() / b0["n_full"].to_numpy()).tolist(),
            "saved %": (1 - anc["n_adapt"] / anc["n_full"]).map(pct),
            "acc adaptive (no copying)": b0["acc_adapt"].map(pct).to_numpy(),
            "acc adaptive (c)": anc["acc_adapt"].map(pct), "c-a pts": (anc["acc_adapt"] - anc["acc_full"]).map(pts),
            "full+copilot (b)": anc["acc_full_cop"].map(pct), "b-a": (anc["acc_full_cop"] - anc["acc_full"]).map(pts),
        })
        t4["saved % (no copying)"] = t4["saved % (no copying)"].map(pct)
        print("\n(4) Anchoring: each worker shown the suggestion copies it with the given probability "
              "(informative confidence; without a copilot nobody copies)")
        show(t4)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5, help="answer orders x copilot draws per crowd set")
    ap.add_argument("--banking-seeds", type=int, default=3, help="simulated crowds for Banking77")
    ap.add_argument("--thresholds", default="0.7,0.9")
    ap.add_argument("--sets", default="rte,dog,product")
    ap.add_argument("--overlap", default="rte=5,dog=5,product=3,banking77=3")
    ap.add_argument("--anchoring", default="0.1,0.3", help="probabilities that a worker copies the suggestion")
    ap.add_argument("--no-banking", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="tables as markdown (docs/copilot.md)")
    args = ap.parse_args()
    global MARKDOWN
    MARKDOWN = args.markdown
    thresholds = tuple(float(t) for t in args.thresholds.split(","))
    anchorings = tuple(float(q) for q in args.anchoring.split(",") if q and float(q) > 0)
    overlap = {k: int(v) for k, v in (kv.split("=") for kv in args.overlap.split(","))}
    t0 = time.perf_counter()
    probe = synthetic_copilot(pd.Series(np.arange(200_000) % 2), 0.5, seed=0)
    passing = "; ".join(f"{t} passes {(probe['confidence'][probe['correct']] >= t).mean():.0%} of the right answers "
                        f"and {(probe['confidence'][~probe['correct']] >= t).mean():.0%} of the wrong ones"
                        for t in thresholds)
    print(f"synthetic copilot confidence: Beta{CONFIDENCE_CORRECT} when right, Beta{CONFIDENCE_WRONG} when wrong "
          f"(threshold {passing}); consensus Dawid-Skene; {args.seeds} seeds per crowd set")
    rows: list[dict] = []
    if CROWD.exists():
        for name in [s for s in args.sets.split(",") if s]:
            rows += crowd_rows(name, overlap[name], args.seeds, thresholds, SWEEP, anchorings)
            print(f"{name}: done ({time.perf_counter() - t0:.0f} s)")
    else:
        print(f"crowd sets skipped: {CROWD} is missing")
    if not args.no_banking and BANKING.exists():
        b_rows, ks, human_acc = banking_rows(overlap["banking77"], 6, args.banking_seeds, thresholds, SWEEP,
                                             anchorings)
        rows += b_rows
        print(f"\nBanking77 copilot: CategoryIndex on k examples per intent, accuracy on the 3,080 test queries")
        show(ks.assign(accuracy=ks["accuracy"].map(lambda x: f"{x:.4f}"),
                       mean_confidence=ks["mean_confidence"].map(lambda x: f"{x:.4f}")))
        chosen = sorted({(r["target"], r["k"]) for r in b_rows})
        print("chosen k: " + ", ".join(f"{int(k)} for {p:.0%}" for p, k in chosen)
              + f"; simulated human answers {human_acc:.1%} correct ({args.banking_seeds} crowds)")
        print(f"banking77: done ({time.perf_counter() - t0:.0f} s)")
    elif not args.no_banking:
        print(f"Banking77 skipped: {BANKING} is missing")
    if not rows:
        return 0
    report(pd.DataFrame(rows), thresholds)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
