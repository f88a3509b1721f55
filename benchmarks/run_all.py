"""Run every benchmark of the project, one after another, and print each one's report.

Each benchmark times planner against a peer in the same run and prints the ratio. This script only
runs them in turn with the same Python, and it stops at the first that fails.

Run: .venv/bin/python benchmarks/run_all.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHMARKS = ["bench_engine.py", "bench_ical.py", "bench_client.py", "bench_fleet.py"]


def main() -> int:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    for name in BENCHMARKS:
        print(f"\n=== {name}", flush=True)
        began = time.perf_counter()
        result = subprocess.run([sys.executable, str(HERE / name)], check=False)
        print(f"=== {name} took {time.perf_counter() - began:.0f} s, exit status {result.returncode}", flush=True)
        if result.returncode != 0:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
