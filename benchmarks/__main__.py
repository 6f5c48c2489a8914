"""Run every benchmark (``python -m benchmarks``, ``make bench``): each ``bench_*.py`` module's
``main()`` in name order, a header before each. A benchmark that fails is reported and the
next one runs; the exit status is 1 only when every benchmark failed."""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

from benchmarks.common import print_machine_speed

PACKAGE = "benchmarks"


def benchmark_names(directory: Path | None = None) -> list[str]:
    """Module names of the benchmarks beside this file, sorted."""
    directory = directory or Path(__file__).parent
    return sorted(path.stem for path in directory.glob("bench_*.py"))


def run_one(name: str) -> bool:
    """Import ``benchmarks.<name>`` and call its ``main()``; False (error printed) if it fails."""
    began = time.perf_counter()
    try:
        module = importlib.import_module(f"{PACKAGE}.{name}")
        module.main()
    except SystemExit as exc:
        if exc.code not in (None, 0):  # a benchmark giving up with a message: a failure
            print(f"\n{name} FAILED: exited with {exc.code!r}", flush=True)
            return False
    except Exception as exc:  # noqa: BLE001 - reported in full, then the next one runs
        traceback.print_exc()
        print(f"\n{name} FAILED after {time.perf_counter() - began:.1f} s: {exc!r}", flush=True)
        return False
    print(f"\n{name} done in {time.perf_counter() - began:.1f} s", flush=True)
    return True


def main() -> int:
    names = benchmark_names()
    if not names:
        print("no benchmarks found")
        return 1
    print_machine_speed()
    outcomes: dict[str, bool] = {}
    for name in names:
        print(f"\n{'=' * 78}\n== {name}\n{'=' * 78}", flush=True)
        outcomes[name] = run_one(name)
    failed = [name for name, ok in outcomes.items() if not ok]
    print(f"\n{len(names) - len(failed)} of {len(names)} benchmarks ran", end="")
    print(f"; failed: {', '.join(failed)}" if failed else "")
    return 1 if len(failed) == len(names) else 0


if __name__ == "__main__":
    sys.exit(main())
