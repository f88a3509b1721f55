"""Roll out a fleet plan against the API emulator on 127.0.0.1 and measure it.

(1) Throughput: PATCH 5,000 connectors with 20 ms of emulator latency and quota checks off.
    The rate is compared with the concurrency-bound ideal (max_concurrency / latency), and with
    the bare client patching every connector without a plan or journal (the peer). The emulator
    runs in its own process, as the real API would. Also counts the requests sent.
(2) Quota: roll out under a scaled-down quota, with the client's limiter set to the same quota,
    and count 429 responses (target: zero) and the share of the quota used while it ran.

Run: python benchmarks/bench_fleet.py [--connectors 5000] [--latency-ms 20] [--concurrency 16]
         [--quota-connectors 200] [--quota 50] [--quota-window 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from planner.cloudflare import AsyncConnectorsClient, ClientConfig, Credentials, RateLimit
from planner.cloudflare.emulator import DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, Emulator
from planner.cloudflare.seed import generate_connectors
from planner.fleet import Journal, RunResult, execute, make_plan, parse_fleet_file, prepare_apply
from planner.fleet import ClientConnectorsAPI

FLEET_TEXT = """
horizon_days = 30
[[policy]]
match = { all = true }
days = ["Saturday", "Sunday"]
hour = 2
duration = 4
"""


async def roll_out(api: ClientConnectorsAPI, journal: Journal, before_send: Callable[[], None] = lambda: None) -> tuple[RunResult, float, int]:
    connectors = await api.list_connectors()
    plan = make_plan(parse_fleet_file(FLEET_TEXT), connectors, datetime.datetime.now(datetime.UTC))
    before_send()

    started = time.perf_counter()
    rollout = await prepare_apply(plan, api)
    result = await execute(rollout, api, journal, concurrency=api.max_concurrency)
    elapsed = time.perf_counter() - started
    return result, elapsed, len(plan.changed)


def config_for(base_url: str, concurrency: int, rate_limit: RateLimit | None) -> ClientConfig:
    return ClientConfig(
        account_id=DEFAULT_ACCOUNT_ID,
        credentials=Credentials(token=DEFAULT_TOKEN),
        base_url=base_url,
        max_concurrency=concurrency,
        rate_limit=rate_limit,
    )


@contextlib.contextmanager
def emulator_process(connectors: int, latency_ms: float) -> Iterator[str]:
    """Run `planner emulator` in its own process, so its CPU time is not charged to the client's."""
    command = [sys.executable, "-c", "from planner.cli import main; main()", "emulator", "--port", "0",
               "--generate", str(connectors), "--seed", "1", "--latency", str(latency_ms), "--quota", str(10**9)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


async def bare_client_patches(client: AsyncConnectorsClient, concurrency: int) -> tuple[float, int]:
    """PATCH every connector with the client alone (no plan, no journal): the peer for (1)."""
    connectors = await client.list_connectors()
    slots = asyncio.Semaphore(concurrency)

    async def patch(connector_id: str) -> None:
        async with slots:
            await client.edit_window(connector_id, {"interrupt_window_hour_of_day": 3})

    started = time.perf_counter()
    await asyncio.gather(*(patch(connector.id) for connector in connectors))
    return time.perf_counter() - started, len(connectors)


def throughput(arguments: argparse.Namespace, directory: Path) -> None:
    latency = arguments.latency_ms / 1000

    async def run_rollout(base_url: str) -> tuple[RunResult, float, int, int]:
        async with AsyncConnectorsClient(config_for(base_url, arguments.concurrency, None)) as client:
            result, elapsed, changed = await roll_out(ClientConnectorsAPI(client), journal)
            return result, elapsed, changed, client.request_count

    async def run_bare(base_url: str) -> tuple[float, int]:
        async with AsyncConnectorsClient(config_for(base_url, arguments.concurrency, None)) as client:
            return await bare_client_patches(client, arguments.concurrency)

    # Each side gets a fresh emulator process, so neither pays for the other's request log.
    with emulator_process(arguments.connectors, arguments.latency_ms) as base_url, \
            Journal(directory / "throughput.sqlite3") as journal:
        result, elapsed, changed, requests = asyncio.run(run_rollout(base_url))
    with emulator_process(arguments.connectors, arguments.latency_ms) as base_url:
        bare_elapsed, bare_count = asyncio.run(run_bare(base_url))

    ideal = arguments.concurrency / latency
    rate = changed / elapsed
    bare_rate = bare_count / bare_elapsed
    print(f"(1) {arguments.connectors} connectors, {changed} to change, {arguments.latency_ms:g} ms latency, "
          f"concurrency {arguments.concurrency}, emulator in its own process, journal with synchronous=FULL")
    print(f"    run {result.run.status}: {dict(result.run.counts)}")
    print(f"    rollout: {elapsed:.2f} s, {rate:.0f} PATCH/s = {rate / ideal:.0%} of the ideal {ideal:.0f}/s")
    print(f"    bare client, one PATCH per connector, no journal: {bare_elapsed:.2f} s, {bare_rate:.0f} PATCH/s; "
          f"rollout / bare client: {rate / bare_rate:.2f}")
    print(f"    requests sent by the rollout: {requests} (1 list before planning, 1 list to re-read, {changed} PATCH)")


def quota(arguments: argparse.Namespace, directory: Path) -> None:
    seeds = generate_connectors(arguments.quota_connectors, seed=2)
    limit = RateLimit(requests=arguments.quota, period=arguments.quota_window)

    async def run(server: Emulator) -> tuple[RunResult, float, int]:
        async with AsyncConnectorsClient(config_for(server.base_url, arguments.concurrency, limit)) as client:
            return await roll_out(ClientConnectorsAPI(client), journal, server.clear_log)

    # The emulator runs in this process so its request log shows every status it returned.
    with Emulator(seeds, quota=arguments.quota, quota_window=arguments.quota_window) as server, \
            Journal(directory / "quota.sqlite3") as journal:
        result, elapsed, changed = asyncio.run(run(server))
        log = server.request_log()

    too_many = sum(1 for record in log if record.status == 429)
    # The first window's whole quota is there at the start, so short runs can exceed 100%.
    share = (len(log) / elapsed) / (arguments.quota / arguments.quota_window)
    print(f"(2) {arguments.quota_connectors} connectors, {changed} to change, quota {arguments.quota} requests "
          f"per {arguments.quota_window:g} s in the emulator and the client")
    print(f"    run {result.run.status}: {dict(result.run.counts)}")
    print(f"    {elapsed:.2f} s, {len(log)} requests, {too_many} answered 429; "
          f"request rate {share:.0%} of the quota's rate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connectors", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--quota-connectors", type=int, default=200)
    parser.add_argument("--quota", type=int, default=50)
    parser.add_argument("--quota-window", type=float, default=5.0)
    arguments = parser.parse_args()

    print(f"{datetime.date.today().isoformat()}, nproc {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as directory:
        throughput(arguments, Path(directory))
        quota(arguments, Path(directory))


if __name__ == "__main__":
    main()
