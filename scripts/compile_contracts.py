"""Compile contracts/*.vy (and contracts/test/*.vy) with vyper into JSON artifacts:
python/tagger/evm/artifacts/<Name>.json (shipped: tg.evm deploys from them without
vyper) and tests/evm_artifacts/<Name>.json (test-only contracts).

`make contracts` runs it; `--check` compiles into memory and fails if any committed
artifact differs (tests/test_evm.py runs the same check when vyper is installed).
The artifacts carry the compiler version: another vyper gives other bytes, so the
version is pinned in pyproject.toml's `contracts` extra.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = [(REPO / "contracts", REPO / "python" / "tagger" / "evm" / "artifacts"),
           (REPO / "contracts" / "test", REPO / "tests" / "evm_artifacts")]


def compile_one(src: Path) -> str:
    """The artifact text of one source (deterministic: sorted keys, fixed layout)."""
    import vyper
    from vyper.compiler import compile_code

    text = src.read_text(encoding="utf-8")
    rel = src.relative_to(REPO).as_posix()
    out = compile_code(text, contract_path=rel, output_formats=["abi", "bytecode"])
    art = {
        "contract": src.stem,
        "source": rel,
        "source_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "compiler": f"vyper {vyper.__version__}",
        "abi": out["abi"],
        "bytecode": out["bytecode"],
    }
    return json.dumps(art, indent=1, sort_keys=True) + "\n"


def artifacts() -> dict[Path, str]:
    """Every artifact path -> its fresh text."""
    got = {}
    for src_dir, out_dir in TARGETS:
        for src in sorted(src_dir.glob("*.vy")):
            got[out_dir / f"{src.stem}.json"] = compile_one(src)
    return got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed artifacts; write nothing")
    args = ap.parse_args(argv)
    fresh = artifacts()
    if args.check:
        bad = [p for p, text in fresh.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        for _, out_dir in TARGETS:
            bad += [p for p in sorted(out_dir.glob("*.json")) if p not in fresh]
        for p in bad:
            print(f"differs from a fresh compile: {p.relative_to(REPO)}", file=sys.stderr)
        print(f"{len(fresh)} artifacts checked, {len(bad)} differ")
        return 1 if bad else 0
    for _, out_dir in TARGETS:
        out_dir.mkdir(parents=True, exist_ok=True)
        for p in out_dir.glob("*.json"):
            if p not in fresh:
                p.unlink()
    for p, text in fresh.items():
        p.write_text(text, encoding="utf-8")
        print(f"wrote {p.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
