"""Checks an installed tagger wheel is self-contained (run by `make wheel-test`
with the wheel venv's python, from a directory outside the source tree).

- ``tagger`` is imported from that venv, not from the source tree or build/;
- ``ldd`` of every ELF file in the installed package resolves each dependency
  either inside the installed wheel (tagger/, tagger.libs/) or to the base
  system libraries every manylinux platform provides (glibc, libstdc++, libgcc);
- no dependency is "not found", with LD_LIBRARY_PATH empty;
- the licenses of OpenSSL and sentencepiece, whose code the wheel carries, ship with it;
- with no extra installed, each optional feature raises the error naming its extra
  (for real here, where tests/test_distribution.py can only simulate it).

Exits non-zero with the offending line otherwise.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

# glibc's own libraries and the GCC runtime: the manylinux policy's whitelist.
SYSTEM = re.compile(r"^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|lib(c|m|dl|rt|pthread|util|resolv)\.so\.\d+"
                    r"|libstdc\+\+\.so\.6|libgcc_s\.so\.1)$")


def main() -> int:
    venv = Path(sys.argv[1]).resolve()
    if os.environ.get("LD_LIBRARY_PATH"):
        print(f"check_wheel: LD_LIBRARY_PATH must be empty, is {os.environ['LD_LIBRARY_PATH']!r}")
        return 1
    import tagger
    pkg = Path(tagger.__file__).resolve().parent
    if venv not in pkg.parents:
        print(f"check_wheel: tagger imported from {pkg}, not from the wheel venv {venv}")
        return 1
    site = pkg.parent
    roots = [pkg, site / "tagger.libs"]
    elfs = [p for r in roots if r.is_dir() for p in r.rglob("*.so*") if p.is_file()]
    if not any(p.name.startswith("_core") for p in elfs):
        print(f"check_wheel: no _core extension under {pkg}")
        return 1
    bad = []
    for elf in elfs:
        out = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            line = line.strip()
            name = line.split()[0]
            if "not found" in line:
                bad.append(f"{elf.name}: {line}")
                continue
            m = re.search(r"=>\s*(\S+)", line)
            target = Path(m.group(1)).resolve() if m else None
            inside = target is not None and any(r in target.parents for r in roots)
            if not inside and not SYSTEM.match(Path(name).name):
                bad.append(f"{elf.name}: {line}")
        print(f"ldd {elf.relative_to(site)}:\n  " + "\n  ".join(out.strip().splitlines()))
    if bad:
        print("check_wheel: dependencies outside the wheel and the manylinux base system:\n  " + "\n  ".join(bad))
        return 1
    import importlib.metadata
    shipped = {p.name for p in importlib.metadata.distribution("tagger").files or []}
    missing = {"libssl-dev.copyright", "libsentencepiece-dev.copyright"} - shipped
    if missing:
        print(f"check_wheel: the licenses of the code linked into the wheel are missing: {sorted(missing)}")
        return 1
    import importlib.util

    from tagger import _optional
    for module, (_, extra) in _optional.EXTRAS.items():
        if importlib.util.find_spec(module) is not None:
            print(f"check_wheel: {module} is installed in the wheel venv; it must hold the core dependencies only")
            return 1
        try:
            _optional.require(module, "check_wheel")
        except _optional.MissingExtra as e:
            if f"pip install 'tagger[{extra}]'" not in str(e):
                print(f"check_wheel: missing {module} gives {e!r}")
                return 1
        else:
            print(f"check_wheel: require({module!r}) did not raise")
            return 1
    print(f"check_wheel: OK, tagger {tagger.__version__} from {pkg}; {len(elfs)} ELF file(s) self-contained")
    return 0


if __name__ == "__main__":
    sys.exit(main())
