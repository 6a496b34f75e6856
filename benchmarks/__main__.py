"""``python -m benchmarks [--quick] [--out DIR]``: run the suite and write the reports."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
from pathlib import Path

from .report import machine, markdown, write
from .suite import Settings, run_all


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="small sizes, to prove it works")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    settings = Settings.quick() if args.quick else Settings()
    results = asyncio.run(run_all(settings))
    results["meta"] = {
        "date": datetime.date.today().isoformat(),
        "quick": args.quick,
        "machine": machine(),
    }
    for path in write(results, args.out):
        print(f"wrote {path}", file=sys.stderr)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
