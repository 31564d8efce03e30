"""Run every ``benchmarks/bench_*.py`` (``make bench``), each in its own subprocess.

Usage: ``python benchmarks/run_all.py [--quick] [--dir DIR] [NAME_SUBSTRING ...]``

Files run in sorted name order with this interpreter; their output streams through as it comes.
``--quick`` is a smoke check (tiny repeat counts, meaningless figures). Names given on the command
line select the bench files whose name contains one of them; ``--dir`` runs another folder's
bench files (the smoke test uses it). The exit status is non-zero when any
benchmark fails (exits non-zero or cannot start), after all of them have run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import QUICK_ENV

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; return 0 when all of them succeed, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke check: tiny repeat counts")
    parser.add_argument("--dir", type=Path, default=HERE, help="folder holding bench_*.py files")
    parser.add_argument("names", nargs="*", help="run only bench files whose name contains these")
    args = parser.parse_args(argv)

    scripts = sorted(args.dir.resolve().glob("bench_*.py"))
    if args.names:
        scripts = [s for s in scripts if any(name in s.name for name in args.names)]
    if not scripts:
        print("run_all: no benchmark selected", file=sys.stderr)
        return 1

    env = dict(os.environ)
    env[QUICK_ENV] = "1" if args.quick else "0"
    failed: list[str] = []
    total = time.perf_counter()
    for script in scripts:
        print(f"\n##### {script.name}", flush=True)
        began = time.perf_counter()
        try:
            code = subprocess.call([sys.executable, str(script)], env=env, cwd=HERE.parent)
        except OSError as error:
            print(f"run_all: cannot start {script.name}: {error}", file=sys.stderr)
            code = -1
        took = time.perf_counter() - began
        if code != 0:
            failed.append(script.name)
            print(f"##### {script.name} FAILED (exit {code}) after {took:.1f} s", flush=True)
        else:
            print(f"##### {script.name} done in {took:.1f} s", flush=True)

    elapsed = time.perf_counter() - total
    if failed:
        print(f"\nrun_all: {len(failed)} of {len(scripts)} failed: {', '.join(failed)}")
        return 1
    print(f"\nrun_all: {len(scripts)} benchmark(s) ran in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
