"""The `make demo` / `tagger demo` walkthrough: a small market, end to end, on disk.

A requester collects customer questions (uploads verified, sealed, stored,
receipted) and has real support queries labeled by 24 simulated workers of mixed
quality (spammers included); consensus decides, the escrow pays by quality,
spammers are slashed, the dataset NFT is minted, sold and licensed with
royalties, the buyer decrypts it, and the ledger is reopened from disk and
re-verified. Every step checks its own result; the demo exits non-zero if any
check fails.
"""

from __future__ import annotations

import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from . import TAG
from ._repr import format_tag

_STEPS: list[tuple[str, float]] = []


class _Step:
    def __init__(self, title: str) -> None:
        self.title = title

    def __enter__(self):
        print(f"\n== {self.title}")
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb):
        dt = time.perf_counter() - self.t0
        _STEPS.append((self.title, dt))
        if exc is None:
            print(f"   ({dt * 1e3:.0f} ms)")
        return False


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise AssertionError(f"demo check failed: {what}")
    print(f"   ✓ {what}")


def _table(df: pd.DataFrame, n: int = 8) -> None:
    print("   " + df.head(n).to_string().replace("\n", "\n   "))


def sample_texts() -> pd.DataFrame:
    """The shipped Banking77 sample (CC BY 4.0): text, label, split."""
    with resources.files("tagger").joinpath("data/samples/banking77_sample.csv").open("rb") as f:
        return pd.read_csv(f)


def run(directory: str | None = None) -> int:
    import tagger as tg

    _STEPS.clear()
    base = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="tagger-demo-"))
    path = base / "market"
    if (path / "blocks.log").exists():
        raise SystemExit(f"{path} already holds a ledger; give an empty --dir")
    rng = np.random.default_rng(2026)
    data = sample_texts()
    print(f"tagger {tg.__version__} demo — an AI-data market on an embedded ledger in {path}")

    with _Step("1. Open the market and create accounts (Ed25519 signing + X25519 sealing keys)"):
        net = tg.Network.open(path, fee_bps=250)
        acme = net.create_account("acme-ai", fund=20_000 * TAG)
        bob = net.create_account("bob-buyer", fund=5_000 * TAG)
        carol = net.create_account("carol-lab", fund=1_000 * TAG)
        quality = {}
        workers = []
        with net.batch():  # one block, one wallet write
            for i in range(24):
                kind = "spammer" if i % 6 == 5 else "careful" if i % 3 == 0 else "casual"
                acc = {"careful": 0.92, "casual": 0.78, "spammer": 0.0}[kind]
                w = net.create_account(f"worker{i:02d}", fund=100 * TAG,
                                       skills={"text/intent": round(float(rng.uniform(0.6, 1.0)), 2)})
                workers.append(w)
                quality[w.name] = (kind, acc)
        print(f"   {len(workers)} workers: {sum(k == 'careful' for k, _ in quality.values())} careful, "
              f"{sum(k == 'casual' for k, _ in quality.values())} casual, "
              f"{sum(k == 'spammer' for k, _ in quality.values())} spammers; "
              f"acme-ai holds {format_tag(net.balance(acme))}")

    with _Step("2. Collection task: workers upload questions; AI verification, sealing, blob store"):
        collect = net.publish_task(
            owner=acme, title="Collect customer support questions",
            description="Write short questions a bank customer asks about card delivery, transfers, "
                        "top-ups and exchange rates.",
            kind="collection", items=40, budget=200 * TAG, reward_policy=tg.rewards.Flat(),
            verify={"examples": data[data.split == "test"].text.head(20).tolist()})
        print(f"   matched categories: {', '.join(f'{c} ({s:.2f})' for c, s in collect.categories)}")
        uploads = data[data.split == "train"].text.tolist()[:36]
        verdicts = []
        for k, text in enumerate(uploads):
            verdicts.append(collect.upload(workers[k % 12], text.encode()))
        verdicts.append(collect.upload(workers[3], uploads[0].encode()))            # a duplicate
        verdicts.append(collect.upload(workers[5], "qzx vbnm wrtp lkjh gfds".encode()))  # gibberish
        verdicts.append(collect.upload(workers[7], b"\xff\xd8\xff\x00 not text"))     # wrong type
        stat = pd.Series([v.status for v in verdicts]).value_counts()
        print(f"   verdicts: {stat.to_dict()}")
        for v in verdicts[-3:]:
            print(f"   rejected upload from {v.worker}: {', '.join(v.reasons)}")
        _check(stat.get("accepted", 0) >= 30, "real questions are accepted")
        _check(all(v.status == "rejected" for v in verdicts[-3:]), "duplicate, gibberish and binary junk are rejected")
        blob = net.store.get(verdicts[0].ciphertext_hash)
        _check(uploads[0].encode() not in blob, "uploads are sealed at rest (no plaintext in the blob store)")
        # Four of the 40 slots stay empty (three uploads were rejected): settle the filled ones.
        collect_result = collect.finalize(partial=True)
        _check(int(collect_result.payouts.sum()) == collect.rate * int(stat.get("accepted", 0)),
               "each accepted upload is paid the published rate, no more")

    test = data[data.split == "test"].reset_index(drop=True)
    labels = sorted(test.label.unique())
    truth = pd.Series(test.label.to_numpy(), index=test.index)
    gold = truth.sample(frac=0.1, random_state=1).to_dict()

    with _Step("3. Labeling task: publish, match, escrow, subtasks with hidden control items"):
        task = net.publish_task(
            owner=acme, title="Route banking support queries",
            description="Classify each customer support message into the banking intent it asks about.",
            kind="classification", labels=labels, items=test.text, overlap=5, budget=2_000 * TAG,
            reward_policy=tg.rewards.ConsensusAccuracy(), stake=20 * TAG, gold=gold, batch_size=20)
        print(f"   {task}")
        record = net.ledger.task(task.id)
        _check(record is not None and record["escrow"] == 2_000 * TAG, "the budget is locked in escrow")

    with _Step("4. Assignment (min-cost flow on skill × reputation) and stakes"):
        import warnings
        with warnings.catch_warnings():  # the idle workers are reported below
            warnings.simplefilter("ignore", UserWarning)
            asg = task.assign(workers, capacity=80)
        load = asg.worker.value_counts()
        print(f"   {len(asg)} slots over {asg.worker.nunique()} workers (load {load.min()}–{load.max()}), "
              f"{int(asg.control.sum())} on control items; the assignment is on the ledger")
        print(f"   left idle (the best-suited workers' capacity covers the demand): {', '.join(task.idle_workers)}")
        _check(net.supply()["staked"] >= asg.worker.nunique() * 20 * TAG, "every assigned worker staked 20 TAG")

    with _Step("5. Workers answer (signed, batched into one transaction per worker)"):
        correct = rng.random(len(asg)) < asg.worker.map(lambda w: quality[w][1]).to_numpy()
        confused = rng.choice(labels, len(asg))
        asg["label"] = np.where(correct, truth.reindex(asg.item_id).to_numpy(), confused)
        h0 = net.height
        txids = task.submit_many(asg[["item_id", "worker", "label"]])
        print(f"   {len(asg)} answers in {len(txids)} transactions, {net.height - h0} block")

    with _Step("6. Finalize: Dawid–Skene consensus, payouts, reputation, slashing — one atomic transaction"):
        # A modified client that underpays one worker by a single base unit is refused:
        # the ledger re-executes the settlement with the rules published with the task.
        honest = net.ledger.settlement(task.id, task._gold_salt, task._gold_codes())
        forged = dict(honest, payouts=[(a, v - (i == 0)) for i, (a, v) in enumerate(honest["payouts"])])
        try:
            net.ledger.finalize_settled(task.id, task.owner, forged, gold_salt=task._gold_salt, gold=task._gold_codes())
            refused = False
        except tg.errors.InvalidTransaction as e:
            refused = True
            print(f"   forged finalize refused: {e}")
        _check(refused, "a finalize that underpays a worker is refused by the ledger")
        res = task.finalize("dawid_skene")
        mv = tg.consensus.MajorityVote().fit_predict(task.answers().rename(columns={"item_id": "task"}))
        acc_ds = float((res.labels.reindex(truth.index) == truth).mean())
        acc_mv = float((mv.reindex(truth.index) == truth).mean())
        print(f"   accuracy vs the true intents: Dawid–Skene {acc_ds:.3f}, majority vote {acc_mv:.3f}")
        wq = res.worker_quality.assign(kind=lambda d: d.index.map(lambda w: quality[w][0]))
        summary = wq.groupby("kind").agg(workers=("n_answers", "size"), answers=("n_answers", "sum"),
                                         skill=("skill", "mean"), paid_TAG=("payout", "sum"),
                                         slashed_TAG=("slashed", "sum"))
        summary["paid_TAG"] /= TAG
        summary["slashed_TAG"] /= TAG
        _table(summary.round(3))
        print(f"   refund to acme-ai: {format_tag(res.refund)}")
        _check(acc_ds >= acc_mv, "consensus is at least as accurate as majority vote")
        _check(summary.loc["spammer", "paid_TAG"] / summary.loc["spammer", "answers"]
               < 0.5 * summary.loc["careful", "paid_TAG"] / summary.loc["careful", "answers"],
               "spammers earn less than half per answer")
        _check(summary.loc["spammer", "slashed_TAG"] > 0 and summary.loc["careful", "slashed_TAG"] == 0,
               "spammers are slashed, careful workers are not")
        s = net.supply()
        _check(s["balances"] + s["escrowed"] + s["staked"] == s["minted"], "tokens are conserved")

    with _Step("7. Mint the dataset NFT and prove an item offline"):
        nft = task.mint_nft(license="CC-BY-4.0", royalty_bps=1_000)
        proof = nft.prove(int(test.index[7]))
        print(f"   {nft}")
        print(f"   {proof}")
        _check(tg.market.verify_proof(proof.to_dict(), nft.metadata()["attributes"][3]["value"]),
               "the inclusion proof checks against the Merkle root alone")
        collect_nft = collect.mint_nft(license="CC-BY-NC-4.0")

    with _Step("8. Market: sale with royalties, a license, key re-wrapped to the buyer atomically"):
        before = {w.name: net.balance(w) for w in workers}
        sale = net.market.list(nft, price=1_500 * TAG, kind="sale")
        split = net.market.buy(sale, bob)
        roy = sum(net.balance(w) - before[w.name] for w in workers)
        print(f"   sale at {format_tag(1_500 * TAG)}: seller {format_tag(split['seller'])}, "
              f"royalties {format_tag(roy)} to {len(split['royalties'])} contributors, fee {format_tag(split['fee'])}")
        _check(nft.holder == "bob-buyer", "the NFT changed hands")
        lic = net.market.list(collect_nft, price=100 * TAG, kind="license")
        net.market.buy(lic, carol)
        _check(collect_nft.holder == "acme-ai", "a license leaves the NFT with its holder")

    with _Step("9. Decryption rights"):
        rows = net.dataset(nft, as_account=bob).to_pandas()
        _table(rows[["item_id", "label", "confidence"]], 3)
        _check(len(rows) == len(test), "the buyer decrypts the labeled dataset")
        qs = net.dataset(collect_nft, as_account=carol).to_pandas()
        # Accepted uploads only: a needs_review one is neither paid nor in the dataset.
        _check(len(qs) == stat.get("accepted", 0), "the licensee decrypts the collected (accepted) questions")
        try:
            net.dataset(nft, as_account=carol)
            raise AssertionError("a stranger read the dataset")
        except tg.errors.NotAuthorized:
            print("   ✓ carol (no rights to the labeled set) gets NotAuthorized")
        height, root = net.height, net.state_root()
        net.close()

    with _Step("10. Reopen from disk and re-verify everything from genesis"):
        net = tg.Network.open(path)
        report = net.verify()
        print(f"   {report['blocks']} blocks, {report['transactions']} transactions, "
              f"{report['signatures']} signatures re-checked in {report['seconds'] * 1e3:.0f} ms")
        _check(net.height == height and net.state_root() == root, "the reopened ledger has the same state root")
        again = net.dataset(nft.id, as_account="bob-buyer").to_pandas()
        _check(again.equals(rows), "the buyer still decrypts after the reopen")
        net.close()

    total = sum(dt for _, dt in _STEPS)
    print("\n== Summary")
    for title, dt in _STEPS:
        print(f"   {dt:7.2f} s  {title}")
    print(f"   {total:7.2f} s  total\nAll demo checks passed.")
    return 0
