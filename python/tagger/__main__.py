"""Command line: ``tagger demo | verify PATH | info PATH`` (or ``python -m tagger ...``)."""

from __future__ import annotations

import argparse
import sys


def _failed(e: BaseException) -> int:
    # One line a script can grep, not a traceback: a missing, locked or damaged
    # ledger is the user's input, not a bug.
    print(f"FAILED: {type(e).__name__}: {e}")
    return 1


def _verify(path: str) -> int:
    from . import Network
    from .errors import TaggerError
    try:
        net = Network.open(path, read_only=True)
        report = net.verify()
    except (TaggerError, OSError) as e:
        return _failed(e)
    print(f"OK: {report['blocks']} blocks, {report['transactions']} transactions, "
          f"{report['signatures']} signatures, state root {report['state_root'].hex()} "
          f"({report['seconds'] * 1e3:.0f} ms)")
    torn = net.open_report()["torn_bytes"]
    if torn:
        # Read-only: a writer may be appending; its record in progress is not part of what was checked.
        print(f"   verified blocks 0..{report['blocks'] - 1}; {torn} bytes after them (a record being "
              "written, or a torn tail a writer's open will cut) were not checked")
    return 0


def _info(path: str) -> int:
    from . import Network
    from .errors import TaggerError
    try:
        net = Network.open(path, read_only=True)
    except (TaggerError, OSError) as e:
        return _failed(e)
    from ._repr import format_tag
    s = net.supply()
    print(f"ledger {path}: height {net.height}, chain id {net.chain_id}, platform fee {net.fee_bps / 100:.2f} %")
    print(f"supply: minted {format_tag(s['minted'])} = balances {format_tag(s['balances'])} + escrowed "
          f"{format_tag(s['escrowed'])} + staked {format_tag(s['staked'])}")
    accts = net.accounts
    print(f"{len(accts)} accounts; top balances:")
    for r in accts.sort_values("balance", ascending=False).head(10).itertuples():
        print(f"  {r.name:<16} {r.address}  {format_tag(r.balance)}")
    nfts = net.nfts()
    print(f"{len(nfts)} dataset NFT(s)")
    for n in nfts:
        print(f"  {n!r}")
    lst = net.ledger.listings()
    print(f"{len(lst)} active listing(s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    from . import __version__
    parser = argparse.ArgumentParser(prog="tagger", description="tagger: an AI-data marketplace as a library")
    parser.add_argument("--version", action="version", version=f"tagger {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="`tagger COMMAND -h` shows its arguments")
    demo = sub.add_parser("demo", help="run the whole collection-to-NFT workflow on an on-disk ledger")
    demo.add_argument("--dir", default=None, help="directory for the market (default: a new temporary one)")
    ver = sub.add_parser("verify", help="re-check a ledger directory from genesis")
    ver.add_argument("path", help="the ledger directory (the one holding blocks.log)")
    info = sub.add_parser("info", help="summarize a ledger directory")
    info.add_argument("path", help="the ledger directory (the one holding blocks.log)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run
        try:
            return run(args.dir)
        except AssertionError as e:
            print(f"\nFAILED: {e}")
            return 1
    if args.command == "verify":
        return _verify(args.path)
    return _info(args.path)


if __name__ == "__main__":
    sys.exit(main())
