"""Simulator throughput: simulated answers per second for one round of 10k
workers x 100k tasks x overlap 3 (300k answers), including assignment, answer
generation, consensus (majority vote or Dawid-Skene) and payments, plus peak
memory. Target (issue 8): >= 5M answers/s per core with majority vote.

Run: python benchmarks/bench_sim.py [--rounds N] [--threads T]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import tagger as tg

S = tg.sim


def bench(consensus: str, mechanism: str, rounds: int, threads: int, n_workers=10_000, n_tasks=100_000, overlap=3):
    pop = S.Population([(S.Honest(), 0.7), (S.RandomSpammer(), 0.2), (S.ConstantLabel(), 0.1)],
                       n_workers=n_workers, n_labels=3, seed=0)
    sim = S.Simulation(pop, S.Tasks(n_labels=3), mechanism=mechanism, consensus=consensus, consensus_iter=20,
                       n_tasks=n_tasks, overlap=overlap, capacity=40, gold_fraction=0.05, budget=10**12,
                       per_answer=1000, stake=1000, slashing=tg.rewards.SlashingRule(), seed=0, threads=threads)
    sim.step()  # warm-up (allocations)
    t = time.perf_counter()
    cpu = time.process_time()
    for _ in range(rounds):
        sim.step()
    wall = time.perf_counter() - t
    cpu = time.process_time() - cpu
    answers = rounds * n_tasks * overlap
    acc = sim.result().rounds["accuracy"].iloc[-1]
    return answers / wall, answers / cpu, acc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    print(f"tagger.sim: 10k workers x 100k tasks x overlap 3 per round, {args.rounds} rounds, threads={args.threads}, "
          f"{os.cpu_count()} cores")
    print(f"{'consensus':<14} {'mechanism':<22} {'answers/s':>12} {'answers/cpu-s':>14} {'accuracy':>9}")
    rows = [("majority_vote", "output_agreement"), ("majority_vote", "correlated_agreement"),
            ("majority_vote", "peer_truth_serum"), ("majority_vote", "dmi"),
            ("dawid_skene", "consensus_accuracy")]
    results = {}
    for cons, mech in rows:
        r = bench(cons, mech, args.rounds if cons == "majority_vote" else 1, args.threads)
        results[(cons, mech)] = r
        print(f"{cons:<14} {mech:<22} {r[0] / 1e6:>10.2f} M {r[1] / 1e6:>12.2f} M {r[2]:>9.4f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB")
    mv = results[("majority_vote", "output_agreement")][1]
    print(f"MV + output agreement per core: {mv / 1e6:.2f} M answers/cpu-s (target 5 M): "
          f"{'OK' if mv >= 5e6 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
