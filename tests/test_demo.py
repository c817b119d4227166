"""`tagger demo` runs the whole workflow to the end; `tagger verify` / `info` read its ledger,
and `verify` catches a flipped byte."""

from __future__ import annotations

import subprocess
import sys


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "tagger", *args], capture_output=True, text=True, timeout=timeout)


def test_demo_verify_info_and_tamper(tmp_path):
    proc = run("demo", "--dir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All demo checks passed" in proc.stdout
    market = tmp_path / "market"
    ok = run("verify", str(market))
    assert ok.returncode == 0 and ok.stdout.startswith("OK:"), ok.stdout + ok.stderr
    info = run("info", str(market))
    assert info.returncode == 0 and "dataset NFT" in info.stdout and "acme-ai" in info.stdout, info.stdout + info.stderr
    log = market / "blocks.log"
    data = bytearray(log.read_bytes())
    data[len(data) // 2] ^= 0x40
    log.write_bytes(bytes(data))
    for snap in market.glob("*snapshot*"):
        snap.unlink()
    bad = run("verify", str(market))
    assert bad.returncode == 1 and "CorruptLedger" in bad.stdout, bad.stdout + bad.stderr


def test_demo_refuses_a_used_directory(tmp_path):
    first = run("demo", "--dir", str(tmp_path))
    assert first.returncode == 0
    second = run("demo", "--dir", str(tmp_path))
    assert second.returncode != 0 and "already holds a ledger" in (second.stdout + second.stderr)
