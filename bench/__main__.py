"""`make bench` / `python -m bench [--orders N] [--open-orders N] [--storm N] [--abuse] [--quick] [--out DIR]`.

Brings up a temporary stack (embedded PostgreSQL, in-memory Temporal dev server, worker, API, the floor's
worker), measures, stops it all, prints the tables and writes `<UTC timestamp>.json`, `latest.json` and the
charts (`latest-concurrency.svg`, `latest-storm.svg`, `latest-kill.svg`). Progress goes to stderr (a bar per
phase on a terminal), the tables to stdout.
"""

import argparse
import asyncio
import dataclasses
import signal
import sys
from pathlib import Path
from typing import Any

from bench import harness, report
from bench.charts import write as report_charts
from tooling.processes import StackError

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
# The in-flight lifecycles of a killed worker wait out a 30 s activity timeout (the run waits for them after its
# end); the kill run is long enough after the kill to see the rate recover, and 6 s before it give the rate before.
DEFAULT = harness.Plan(orders=50, warmup=5, min_per_slot=2, deadline=120.0, rounds=4, open_orders=5000, storm=2000,
                       kill_run_s=36.0, kill_at_s=8.0)  # fmt: skip
# --quick: enough open orders to evict some from a small cache, a small storm, a short kill run
QUICK = harness.Plan(orders=3, warmup=1, min_per_slot=0, deadline=30.0, quick=True, rounds=2, open_orders=40,
                     storm=20, kill_run_s=12.0, kill_at_s=4.0, max_cached_workflows=20)  # fmt: skip
OVERRIDES = ("orders", "open_orders", "storm", "max_cached_workflows", "deadline")  # options named as Plan's fields


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    options: list[tuple[str, dict[str, Any]]] = [
        ("--orders", dict(type=int, help=f"operations per measurement (default {DEFAULT.orders}; a lifecycle "
                          "throughput run does at least 2 per concurrency slot unless --quick)")),
        ("--open-orders", dict(type=int, help="orders left open waiting for payment (default "
                               f"{DEFAULT.open_orders}; 0: skip that phase)")),
        ("--storm", dict(type=int, help=f"orders of the expiry storm (default {DEFAULT.storm}; 0: skip the storm)")),
        ("--no-kill", dict(action="store_true", help="skip the more-workers phase (a second worker, then SIGKILLed)")),
        ("--max-cached-workflows", dict(type=int, help="the order workers' cache size (MAX_CACHED_WORKFLOWS); "
                                        "default: the project's")),
        ("--profile", dict(action="store_true", help="py-spy flame graphs of the worker and the API during the "
                           "project's c=20 lifecycles, into --out")),
        ("--abuse", dict(action="store_true", help="add the hostile-load phase (bench.abuse) at the end")),
        ("--attackers", dict(type=int, default=200, help="attackers of --abuse (default 200)")),
        ("--abuse-lifecycles", dict(type=int, default=5, help="lifecycles per honest shopper of --abuse (default 5)")),
        ("--quick", dict(action="store_true", help=f"tiny counts ({QUICK.orders} per measurement)")),
        ("--out", dict(type=Path, default=DEFAULT_OUT, help="directory for the JSON results")),
        ("--deadline", dict(type=float, help="seconds after which a measurement starts nothing new")),
    ]  # fmt: skip
    for flag, option in options:
        parser.add_argument(flag, **option)
    args = parser.parse_args(argv)
    if args.orders is not None and args.orders < 1:
        parser.error("--orders must be at least 1")
    plan = plan_of(args)
    if 0 < plan.open_orders < plan.storm:
        parser.error("the storm's orders are the last open orders: --open-orders must be 0 or at least --storm")
    for name in ("open_orders", "storm"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must not be negative")
    return args


def plan_of(args: argparse.Namespace) -> harness.Plan:
    overrides: dict[str, object] = {name: getattr(args, name) for name in OVERRIDES if getattr(args, name) is not None}
    if args.no_kill:
        overrides["kill_run_s"] = 0.0
    if args.profile:
        overrides["profile_dir"] = args.out
    if args.abuse:
        overrides.update(attackers=args.attackers, abuse_lifecycles=args.abuse_lifecycles)
    return dataclasses.replace(QUICK if args.quick else DEFAULT, **overrides)  # type: ignore[arg-type]


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
