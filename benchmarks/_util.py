"""Small helpers shared by the benchmarks: timing, tables, peak memory, openssl speed."""

from __future__ import annotations

import re
import resource
import subprocess
import time
from typing import Callable, Sequence


def rate(fn: Callable[[], object], min_seconds: float = 0.5, repeat: int = 3) -> float:
    """Calls of fn per second: the best of `repeat` runs of at least min_seconds each."""
    fn()  # warm-up
    best = 0.0
    for _ in range(repeat):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_seconds:
                break
        best = max(best, n / dt)
    return best


def best_time(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of `repeat` calls, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for k, r in enumerate(cells):
        print("  " + "  ".join(c.rjust(w) if k else c.ljust(w) for c, w in zip(r, widths)))
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _fmt(c: object) -> str:
    if isinstance(c, float):
        return f"{c:,.2f}" if abs(c) < 1e4 else f"{c:,.0f}"
    return str(c)


def openssl_speed(args: Sequence[str], seconds: int = 1) -> dict[str, list[float]]:
    """Runs `openssl speed -mr` and returns {algorithm: [numbers]} from its +F lines
    (bytes/s for ciphers and digests; [sign/s, verify/s] for signatures)."""
    out = subprocess.run(["openssl", "speed", "-mr", "-seconds", str(seconds), *args],
                         capture_output=True, text=True, check=True).stdout
    result: dict[str, list[float]] = {}
    for line in out.splitlines():
        if not re.match(r"^\+F\d*:", line):
            continue
        # +F:<n>:<name>:<v>...  or  +F6:<n>:<bits>:<name>:<sign/s>:<verify/s>
        fields = line.split(":")[1:]
        k = next(i for i, f in enumerate(fields) if not re.fullmatch(r"[\d.]+", f))
        result[fields[k].lower()] = [float(x) for x in fields[k + 1:] if x]
    return result
