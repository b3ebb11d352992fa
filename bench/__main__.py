"""`make bench` / `python -m bench [--orders N] [--open-orders N] [--storm N] [--quick] [--out DIR]`.

Brings up a temporary stack (embedded PostgreSQL, in-memory Temporal dev server, worker, API, the floor's
worker), measures, stops it all, prints the tables and writes `<UTC timestamp>.json`, `latest.json` and the
charts (`latest-concurrency.svg`, `latest-storm.svg`, `latest-kill.svg`). Progress goes to stderr (a bar per
phase on a terminal), the tables to stdout.
"""

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from bench import harness, report
from bench.charts import write as report_charts
from bench.servers import StackError

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
DEFAULT_ORDERS = 50
QUICK_ORDERS = 3
DEFAULT_OPEN_ORDERS = 5000
DEFAULT_STORM = 2000
# The in-flight lifecycles of a killed worker wait out a 30 s activity timeout (the run waits for them after its
# end); the run is long enough after the kill to see the rate recover, and 6 s before it give the rate before.
KILL_RUN_S, KILL_AT_S = 36.0, 8.0
ROUNDS, QUICK_ROUNDS = 4, 2  # interleaved rounds of the c=20 lifecycles
# --quick: enough open orders to evict some from a small cache, a small storm, a short kill run
QUICK_OPEN_ORDERS, QUICK_CACHE, QUICK_STORM = 40, 20, 20
QUICK_KILL_RUN_S, QUICK_KILL_AT_S = 12.0, 4.0


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
    parser.add_argument(
        "--open-orders",
        type=int,
        help=f"orders left open waiting for payment (default {DEFAULT_OPEN_ORDERS}; 0: skip that phase)",
    )
    parser.add_argument(
        "--storm", type=int, help=f"orders of the expiry storm (default {DEFAULT_STORM}; 0: skip the storm)"
    )
    parser.add_argument(
        "--no-kill", action="store_true", help="skip the more-workers phase (a second worker, then SIGKILLed)"
    )
    parser.add_argument(
        "--max-cached-workflows",
        type=int,
        help="the order workers' cache size (MAX_CACHED_WORKFLOWS); default: the project's",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy flame graphs of the worker and the API during the project's c=20 lifecycles, into --out",
    )
    parser.add_argument(
        "--profile-raw",
        action="store_true",
        help="with --profile: collapsed stacks (latest-profile-<name>.txt, for grep and sort) instead of SVGs",
    )
    parser.add_argument(
        "--lifecycles-at",
        type=int,
        action="append",
        metavar="C",
        help="measure only lifecycles at concurrency C (repeatable), the project against the local-activity floor: "
        "no placement rows, no scale phases unless asked for (for before/after CPU comparisons of a change)",
    )
    parser.add_argument("--quick", action="store_true", help=f"tiny counts ({QUICK_ORDERS} per measurement)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory for the JSON results")
    parser.add_argument(
        "--deadline", type=float, default=None, help="seconds after which a measurement starts nothing new"
    )
    args = parser.parse_args(argv)
    if args.orders is not None and args.orders < 1:
        parser.error("--orders must be at least 1")
    for name in ("open_orders", "storm"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must not be negative")
    if any(c < 1 for c in args.lifecycles_at or ()):
        parser.error("--lifecycles-at must be at least 1")
    return args


def plan_of(args: argparse.Namespace) -> harness.Plan:
    orders = args.orders or (QUICK_ORDERS if args.quick else DEFAULT_ORDERS)

    focused = bool(args.lifecycles_at)  # a focused run has the scale phases only when asked for by name

    def chosen(value: int | None, quick: int, default: int) -> int:
        if value is not None:
            return value
        return 0 if focused else quick if args.quick else default

    kill_run_s, kill_at_s = (QUICK_KILL_RUN_S, QUICK_KILL_AT_S) if args.quick else (KILL_RUN_S, KILL_AT_S)
    return harness.Plan(
        orders=orders,
        warmup=1 if args.quick else 5,
        min_per_slot=0 if args.quick else 2,
        deadline=args.deadline or (30.0 if args.quick else 120.0),
        quick=args.quick,
        rounds=QUICK_ROUNDS if args.quick else ROUNDS,
        open_orders=chosen(args.open_orders, QUICK_OPEN_ORDERS, DEFAULT_OPEN_ORDERS),
        storm=chosen(args.storm, QUICK_STORM, DEFAULT_STORM),
        kill_run_s=0.0 if args.no_kill or focused else kill_run_s,
        kill_at_s=kill_at_s,
        profile_dir=args.out if args.profile else None,
        profile_raw=args.profile_raw,
        lifecycles_at=tuple(args.lifecycles_at or ()),
        max_cached_workflows=args.max_cached_workflows
        if args.max_cached_workflows is not None
        else (QUICK_CACHE if args.quick else None),
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
    print(report.text(result))
    print()
    print(report.details(result))
    path = report.write(result, out)
    charts = report_charts(result, out)
    say(f"wrote {path}, {out / 'latest.json'} and {', '.join(str(chart) for chart in charts)}")
    return 1 if report.failed(result) else 0


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
