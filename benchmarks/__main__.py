"""``python -m benchmarks [--suite client|fleet|instructions|outage] [--quick] [--out DIR]``:
run a suite, write its reports."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
import tempfile
from pathlib import Path

import attrs

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
    parser.add_argument("--suite", choices=("client", "fleet", "instructions", "outage"),
                        default="client",
                        help="client: the SDK against raw HTTP (default); fleet: the shared "
                        "store against cashews and aiocache on Redis; instructions: "
                        "instructions per signed get_game_link, SDK against raw aiohttp, "
                        "counted by valgrind's callgrind; outage: a fleet's upstream requests "
                        "and errors through an outage, three configurations")
    parser.add_argument("--against", metavar="REV", default=None,
                        help="instructions suite: also measure the SDK at git revision REV, "
                        "in the same run")
    args = parser.parse_args()
    if args.out is None:
        args.out = (
            Path(tempfile.mkdtemp(prefix="gameapi-bench-")) if args.quick
            else Path(__file__).parent / "results"
        )
    if args.suite == "fleet":
        return _fleet(args.quick, args.out)
    if args.suite == "instructions":
        return _instructions(args.quick, args.out, args.against)
    if args.suite == "outage":
        return _outage(args.quick, args.out)
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


def _fleet(quick: bool, folder: Path) -> int:
    from .fleet import FleetSettings, fleet_markdown, run_fleet

    results = asyncio.run(run_fleet(FleetSettings.quick() if quick else FleetSettings()))
    results["meta"] = {"date": datetime.date.today().isoformat(), "quick": quick,
                       "machine": machine()}
    folder.mkdir(parents=True, exist_ok=True)
    stem = "fleet-quick" if quick else "fleet"
    table = fleet_markdown(results)
    (folder / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (folder / f"{stem}.md").write_text(
        f"Measured {results['meta']['date']} on {machine()['cpus']} CPUs, Python "
        f"{machine()['python']}{' (quick mode)' if quick else ''}.\n\n{table}\n",
        encoding="utf-8",
    )
    print(table)
    return 0


def _instructions(quick: bool, folder: Path, against: str | None) -> int:
    from .instructions import (
        InstructionSettings,
        available,
        instructions_markdown,
        run_instructions,
    )

    if not available():
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    settings = InstructionSettings.quick() if quick else InstructionSettings()
    settings = attrs.evolve(settings, against=against)
    results = run_instructions(settings)
    results["meta"] = {"date": datetime.date.today().isoformat(), "quick": quick,
                       "machine": machine()}
    folder.mkdir(parents=True, exist_ok=True)
    stem = "instructions-quick" if quick else "instructions"
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    print(instructions_markdown(results))
    return 0


def _outage(quick: bool, folder: Path) -> int:
    from .outage import OutageSettings, outage_markdown, run_outage, write_outage

    results = asyncio.run(run_outage(OutageSettings.quick() if quick else OutageSettings()))
    results["meta"] = {"date": datetime.date.today().isoformat(), "quick": quick,
                       "machine": machine()}
    for path in write_outage(results, folder, quick):
        print(f"wrote {path}", file=sys.stderr)
    print(outage_markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
