"""``python -m benchmarks [--quick] [--out DIR]``: run the suite and write the reports."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import tempfile
from pathlib import Path

from .report import machine, markdown, write
from .suite import Settings, run_all


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="small sizes, to prove it works")
    parser.add_argument(
        "--out", type=Path, default=None,
        help="where to write the reports (default: benchmarks/results for a full run, a new "
        "temporary folder for --quick, so a quick check leaves the checkout untouched)",
    )
    args = parser.parse_args()
    if args.out is None:
        args.out = (
            Path(tempfile.mkdtemp(prefix="gameapi-bench-")) if args.quick
            else Path(__file__).parent / "results"
        )
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
