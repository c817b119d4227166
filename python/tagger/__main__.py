"""Command line: ``tagger demo`` (or ``python -m tagger demo``)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tagger", description="tagger: an AI-data marketplace as a library")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the demonstration of what tagger does today")
    demo.add_argument("--dir", default=None, help="directory for on-disk state (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run
        return run(args.dir)
    return 2


if __name__ == "__main__":
    sys.exit(main())
