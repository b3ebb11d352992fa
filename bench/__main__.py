"""`make bench` / `python -m bench [--orders N] [--quick] [--out DIR]`.

Brings up a temporary stack (embedded PostgreSQL, in-memory Temporal dev server, worker, API, baseline
worker), measures, stops it all, prints the table and writes `<UTC timestamp>.json` and `latest.json`.
Progress goes to stderr, the table to stdout.
"""

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from bench import harness, report
from bench.servers import StackError

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
DEFAULT_ORDERS = 50
QUICK_ORDERS = 3


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--orders",
        type=int,
        help=f"operations per measurement (default {DEFAULT_ORDERS}; a lifecycle throughput run does at least 2 per "
        "concurrency slot unless --quick)",
    )
    parser.add_argument("--quick", action="store_true", help=f"tiny counts ({QUICK_ORDERS} per measurement)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory for the JSON results")
    parser.add_argument(
        "--deadline", type=float, default=None, help="seconds after which a measurement starts nothing new"
    )
    args = parser.parse_args(argv)
    if args.orders is not None and args.orders < 1:
        parser.error("--orders must be at least 1")
    return args


def plan_of(args: argparse.Namespace) -> harness.Plan:
    orders = args.orders or (QUICK_ORDERS if args.quick else DEFAULT_ORDERS)
    return harness.Plan(
        orders=orders,
        warmup=1 if args.quick else 5,
        min_per_slot=0 if args.quick else 2,
        deadline=args.deadline or (30.0 if args.quick else 120.0),
        quick=args.quick,
    )


async def main(plan: harness.Plan, out: Path) -> int:
    # SIGTERM ends the run like Ctrl-C does: the measurement is cancelled and every child is stopped.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        result = await harness.run(plan, say)
    except asyncio.CancelledError:
        # Operations cut short by the interruption leave futures nobody reads; that is expected, not news.
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)
        raise
    print(report.table(result))
    print()
    print(report.details(result))
    path = report.write(result, out)
    say(f"wrote {path} and {out / 'latest.json'}")
    return 1 if any(m.errors for m in result.measurements) else 0


def cli(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    try:
        return asyncio.run(main(plan_of(args), args.out))
    except StackError as error:
        say(f"the stack did not come up: {error}")
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted; every process it started is stopped")
        return 130


if __name__ == "__main__":
    sys.exit(cli())
