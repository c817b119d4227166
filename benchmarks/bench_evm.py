"""Gas per operation of tg.evm's Vyper contracts (contracts/*.vy, vyper 0.4.3, cancun),
measured on an in-process chain (eth-tester + py-evm): every figure is the gasUsed of a
transaction's receipt, the 21,000 intrinsic gas included. Beside them, typical figures
of OpenZeppelin-style Solidity contracts from public benchmarks — reference values,
NOT measured here (sources in docs/evm.md, "Gas").

Run: .venv/bin/python benchmarks/bench_evm.py   (part of make bench; needs tagger[evm])
"""

from __future__ import annotations

import sys
import time

import tagger as tg
from tagger.evm import keys

try:
    import web3  # noqa: F401
    import eth_tester  # noqa: F401
except ImportError:
    print("bench_evm: skipped, the evm extra is not installed (pip install 'tagger[evm]')")
    sys.exit(0)

TAG = tg.TAG
# Typical figures of Solidity ERC-20 / ERC-721 libraries (OpenZeppelin and its peers) from
# alephao/solidity-benchmarks (solc 0.8.26, Foundry): reference values, NOT measured here.
# "call only": gas of the call inside a Foundry test, without the 21,000 intrinsic gas of a
# transaction (our column includes it), ranging over the OpenZeppelin, Solmate, Solady and
# Maple rows; sources and caveats in docs/evm.md ("Gas").
REFERENCE = {
    "ERC-20 transfer, new holder": "37,677-38,013 (call only)",
    "ERC-20 transfer, existing holder": "20,599-20,935 (call only)",
    "ERC-20 approve": "32,548-32,787 (call only)",
    "ERC-721 mint (no metadata)": "74,337 (OZ ERC721, 1 token)",
}


def main() -> None:
    t0 = time.perf_counter()
    w3 = tg.evm.tester_web3()
    net = tg.Network.memory(fee_bps=250)
    op = net.create_account("bridge-op")
    tg.evm.fund_from_node(w3, keys.evm_address(op))
    b = tg.evm.Bridge(w3, op, net)
    ch = b.chain
    rows: list[tuple[str, int, str]] = []

    def gas(what: str, signer, call, ref: str = "") -> int:
        g = int(ch.send(signer, call)["gasUsed"])
        rows.append((what, g, ref or REFERENCE.get(what, "")))
        return g

    def evm(i: int):
        a = tg.Account.generate(f"b{i}")
        return keys.evm_account(a)

    holder = b.evm
    # TAG: the operator mints to itself against fake-but-unique ledger ids (gas only)
    gas("bridge mint (deposit)", holder, b.bridge.functions.mint(holder.address, 10**15, b"\x01" * 32))
    fresh = [evm(i).address for i in range(300)]  # addresses holding nothing yet
    gas("ERC-20 transfer, new holder", holder, b.token.functions.transfer(fresh[0], 10 * TAG))
    gas("ERC-20 transfer, existing holder", holder, b.token.functions.transfer(fresh[0], 10 * TAG))
    gas("ERC-20 approve", holder, b.token.functions.approve(b.market.address, 2**256 - 1))
    gas("bridge withdraw (burn)", holder, b.bridge.functions.withdraw(1 * TAG, b"\x02" * 20))
    gas("bridge release (record)", holder, b.bridge.functions.release(0, b"\x03" * 32))
    gas("checkpoint anchor", holder, b.checkpoint.functions.anchor(1, b"\x04" * 32, b"\x05" * 32))

    # NFT mint with 0, 3, 64 contributors; buy with 1, 16, 64 royalty recipients
    seller = evm(1000)
    tg.evm.fund_from_node(w3, seller.address)
    k = 0
    for n in (0, 3, 64):
        contributors = [(fresh[10 + k + i], 100) for i in range(n)]
        k += n
        ref = REFERENCE["ERC-721 mint (no metadata)"] if n == 0 else ""
        gas(f"NFT mint, {n} contributors", holder,
            b.nft.functions.mint(seller.address, 100 + n, b"\x06" * 32, b"\x07" * 32, contributors, b"\x08" * 32), ref)
    buyer = holder
    first = 100
    for n in (1, 16, 64):  # contributors never credited before: each share fills an empty proceeds slot
        tid = 1000 + n
        contributors = [(fresh[first + i], 100) for i in range(n)]
        first += n
        ch.send(holder, b.nft.functions.mint(seller.address, tid, b"\x06" * 32, b"\x07" * 32, contributors, b"\x08" * 32))
        ch.send(seller, b.nft.functions.approve(b.market.address, tid))
        r = ch.send(seller, b.market.functions.list(tid, 1_000 * TAG, 0))
        lid = int(ch.events(b.market, "Listed", r)[0]["args"]["listing_id"])
        gas(f"Market buy, {n} royalty recipients", buyer, b.market.functions.buy(lid, 1_000 * TAG))
    gas("Market list", seller, b.market.functions.list(100, 10 * TAG, 1))
    gas("Market withdrawProceeds", seller, b.market.functions.withdrawProceeds())

    # TaskEscrow finalize with N payouts (fresh recipients): fund, commit the lists' hash, wait out the window
    tester = w3.provider.ethereum_tester
    ch.send(holder, b.token.functions.approve(b.task_escrow.address, 2**256 - 1))
    for n in (1, 16, 64):
        payouts = [(fresh[200 + i], 1 * TAG) for i in range(n)]
        terms = tg.evm.escrow.encode_terms({k: 0 for k in tg.ledger.TERMS_FIELDS} |
                                           {"method": "majority_vote", "policy": "flat", "gold_commitment": bytes(32)})
        r = ch.send(holder, b.task_escrow.functions.fund(n * TAG, 0, 0, 1, holder.address, terms))
        tid = int(ch.events(b.task_escrow, "Funded", r)[0]["args"]["task_id"])
        h = tg.evm.escrow.hash_lists(payouts, [])
        ch.send(holder, b.task_escrow.functions.commit(tid, h, b"\x09" * 32, b""))
        tester.time_travel(int(w3.eth.get_block("latest")["timestamp"]) + 5)
        gas(f"TaskEscrow finalize, {n} payouts", holder, b.task_escrow.functions.finalize(tid, payouts, []))

    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  {'gas (measured)':>14}  OpenZeppelin-typical (reference, not measured)")
    for what, g, ref in rows:
        print(f"{what:<{width}}  {g:>14,}  {ref}")
    print(f"({len(rows)} transactions measured in {time.perf_counter() - t0:.1f} s on eth-tester/py-evm)")


if __name__ == "__main__":
    main()
