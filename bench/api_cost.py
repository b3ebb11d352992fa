"""What a lifecycle costs the API in CPU: `python -m bench.api_cost [--compare DIR] [--rounds N] [--lifecycles N]`.

Brings the stack up as `make bench` does (embedded PostgreSQL, a Temporal dev server, the worker and the API as
processes), drives the five requests of a lifecycle (`bench.drivers.Rest.lifecycle`: place, create a payment,
succeed it, create a shipment, ship it) at a fixed concurrency, and prints the API process's CPU milliseconds
per lifecycle. CPU time, not wall-clock time: on a shared machine it moves far less with the load.

With `--compare DIR` (another source tree of the project, e.g. `git archive main | tar -x -C DIR`), a second API
runs from DIR beside this one, on the same PostgreSQL, Temporal and worker, and the rounds alternate between the
two (ABBA...), so both see the same machine conditions; the difference of their medians is what the change
between the trees bought.
"""

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

from bench.drivers import Rest, demo_variants, rest_session
from bench.load import drive
from bench.servers import HOST, READY_TIMEOUT, Stack, free_port, profiled, running_stack
from stack.supervisor import stop_process

ROUND_DEADLINE = 600.0  # seconds; a round starts no lifecycle after this


@dataclass
class Api:
    """One API process under measurement and its CPU milliseconds per lifecycle, round by round."""

    label: str
    url: str
    pid: int
    per_round: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)


def _say(text: str) -> None:
    print(f"[api-cost] {text}", file=sys.stderr, flush=True)


async def _start_compare(stack: Stack, tree: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The API of another source tree, on its own port, with the stack's settings."""
    port = free_port()
    env = dict(stack.worker_env, API_PORT=str(port), SEED_DEMO_DATA="false", PYTHONPATH=str(tree))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", HOST, "--port", str(port)],
            cwd=tree,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://{HOST}:{port}"
    async with aiohttp.ClientSession(base_url=url) as http:
        for _ in range(int(READY_TIMEOUT / 0.2)):
            if proc.poll() is not None:
                raise RuntimeError(f"the API of {tree} exited; see {log}")
            try:
                async with http.get("/ready") as response:
                    if response.status == 200:
                        return proc, url
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    stop_process(proc)
    raise RuntimeError(f"the API of {tree} did not become ready within {READY_TIMEOUT:.0f}s")


async def _round(api: Api, stack: Stack, first: int, lifecycles: int, concurrency: int) -> None:
    async with rest_session(api.url, stack.auth_headers) as http:
        rest = Rest(http, [variant for variant, _ in demo_variants()])
        before = api.cpu_seconds()
        sample = await drive(rest.lifecycle, count=lifecycles, concurrency=concurrency, deadline=ROUND_DEADLINE,
                             first=first)  # fmt: skip
        spent = api.cpu_seconds() - before
    done = len(sample.latencies)
    api.errors += sample.errors
    api.error_samples.extend(sample.error_samples[: 5 - len(api.error_samples)])
    if done:
        api.per_round.append(1000 * spent / done)


def _report(apis: list[Api], lifecycles: int, concurrency: int) -> None:
    print(f"API CPU ms per lifecycle (5 requests), {lifecycles} lifecycles per round at c={concurrency}")
    for api in apis:
        rounds = " ".join(f"{ms:.1f}" for ms in api.per_round)
        median = statistics.median(api.per_round) if api.per_round else float("nan")
        print(f"  {api.label:<12} median {median:6.2f}   rounds: {rounds}   errors: {api.errors}")
        for sample in api.error_samples:
            print(f"    {sample}")
    if len(apis) == 2 and all(api.per_round for api in apis):
        this, other = (statistics.median(api.per_round) for api in apis)
        pairs = [a - b for a, b in zip(apis[0].per_round, apis[1].per_round, strict=False)]
        print(
            f"  this - compare: {this - other:+.2f} ms per lifecycle ({100 * (this - other) / other:+.1f}%); "
            f"per round pair: {' '.join(f'{d:+.1f}' for d in pairs)}"
        )


async def main(
    rounds: int, lifecycles: int, concurrency: int, warmup: int, compare: Path | None, profile: Path | None
) -> None:
    with tempfile.TemporaryDirectory(prefix="orderflow-api-cost-") as tmp:
        async with running_stack(Path(tmp), _say) as stack:
            apis = [Api("this", stack.api_url, stack.pids["api"])]
            compare_proc = None
            try:
                if compare is not None:
                    _say(f"starting the API of {compare}")
                    compare_proc, url = await _start_compare(stack, compare, Path(tmp) / "api_compare.log")
                    stack.pids["api_compare"] = compare_proc.pid
                    apis.append(Api("compare", url, compare_proc.pid))
                variants = demo_variants()
                total = (rounds * lifecycles + warmup) * len(apis)
                async with aiohttp.ClientSession(base_url=stack.api_url, headers=stack.auth_headers) as http:
                    await Rest(http, [v for v, _ in variants]).receive_stock(
                        [sku for _, sku in variants], total // len(variants) + 100
                    )
                index = 0
                for api in apis:
                    _say(f"warming up {api.label}")
                    await _round(Api(api.label, api.url, api.pid), stack, index, warmup, concurrency)
                    index += warmup
                for number in range(rounds):
                    order = apis if number % 2 == 0 else apis[::-1]  # ABBA: drift over the run cancels out
                    for api in order:
                        _say(f"round {number + 1}/{rounds}: {api.label}")
                        if profile is not None and number == rounds - 1:
                            with profiled(stack, (_pid_name(stack, api),), profile, _say, raw=True):
                                await _round(api, stack, index, lifecycles, concurrency)
                        else:
                            await _round(api, stack, index, lifecycles, concurrency)
                        index += lifecycles
            finally:
                if compare_proc is not None:
                    stop_process(compare_proc)
    _report(apis, lifecycles, concurrency)


def _pid_name(stack: Stack, api: Api) -> str:
    return next(name for name, pid in stack.pids.items() if pid == api.pid)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="measured rounds per API")
    parser.add_argument("--lifecycles", type=int, default=200, help="lifecycles per round")
    parser.add_argument("--concurrency", type=int, default=20, help="lifecycles in flight")
    parser.add_argument("--warmup", type=int, default=60, help="unmeasured lifecycles per API first")
    parser.add_argument("--compare", type=Path, help="another source tree whose API is measured beside this one")
    parser.add_argument("--profile", type=Path, help="py-spy collapsed stacks of each API's last round, into DIR")
    args = parser.parse_args()
    if args.rounds < 1 or args.lifecycles < 1 or args.concurrency < 1 or args.warmup < 0:
        sys.exit("--rounds, --lifecycles and --concurrency must be at least 1, --warmup not negative")
    if args.compare is not None and not (args.compare / "api" / "app.py").is_file():
        sys.exit(f"--compare {args.compare}: not a source tree of this project (no api/app.py)")
    asyncio.run(main(args.rounds, args.lifecycles, args.concurrency, args.warmup, args.compare, args.profile))
