"""Bulk PATCH throughput: planner's async client against the official SDK in a sequential loop.

Both talk to one `planner emulator` process on 127.0.0.1 that adds the same latency to every
response. planner lists the connectors once and PATCHes each under its concurrency cap. The SDK
lists once and PATCHes a sample in a plain loop, as a script would; its time for the whole
fleet is extrapolated from the sample's time per connector, so the run stays short.

planner's default concurrency cap is 16, sized for the real API's 1,200 requests per 5 minutes;
bulk work against a fast endpoint (this emulator) can raise it with --max-concurrency.

    .venv/bin/python benchmarks/bench_client.py [--connectors 5000] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import version

import cloudflare
import httpx

from planner.cloudflare import AsyncConnectorsClient, ClientConfig, Credentials, RateLimit
from planner.cloudflare.emulator import DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN

# The emulator's quota is raised for the run, and planner's limiter is set to the same figure.
# Against the real API both would be 1,200 per 300 s, so neither loop could go this fast.
QUOTA = 1_000_000
QUOTA_WINDOW = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connectors", type=int, default=5000, help="fleet size (default 5000)")
    parser.add_argument(
        "--latency-ms", type=float, default=20, help="latency added to every response (default 20)"
    )
    parser.add_argument(
        "--sample", type=int, default=250, help="SDK loop sample size (default 250)"
    )
    # 128 requests in flight keep the client busy through the 20 ms latency; see the docstring.
    parser.add_argument(
        "--concurrency", type=int, default=128, help="planner's concurrency cap (default 128)"
    )
    arguments = parser.parse_args()

    emulator = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from planner.cli import main; main()",
            "emulator",
            "--port",
            "0",
            "--generate",
            str(arguments.connectors),
            "--latency",
            str(arguments.latency_ms),
            "--quota",
            str(QUOTA),
            "--quota-window",
            str(QUOTA_WINDOW),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        base_url = emulator.stdout.readline().strip()
        report(arguments, base_url)
    finally:
        emulator.terminate()
        emulator.wait()


def report(arguments: argparse.Namespace, base_url: str) -> None:
    print(f"date        {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine     nproc={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
        f"Python {platform.python_version()}, httpx {version('httpx')}, "
        f"cloudflare {version('cloudflare')}"
    )
    print(
        f"setup       {arguments.connectors} connectors, {arguments.latency_ms:g} ms added "
        f"latency, emulator in its own process"
    )

    planner_seconds, planner_requests = asyncio.run(
        run_planner(base_url, arguments.concurrency, hour=3)
    )
    print(
        f"planner     {planner_seconds:8.2f} s  {planner_requests} requests "
        f"(1 list + {planner_requests - 1} PATCH), concurrency cap {arguments.concurrency}"
    )

    sample = min(arguments.sample, arguments.connectors)
    sample_seconds, list_seconds, sdk_requests = run_sdk(base_url, sample, hour=4)
    per_connector = sample_seconds / sample
    sdk_estimate = list_seconds + per_connector * arguments.connectors
    how = "measured" if sample == arguments.connectors else "estimated"
    print(
        f"SDK loop    {sdk_estimate:8.2f} s  {how}: {sdk_requests} requests sent "
        f"(1 list + {sample} PATCH, {per_connector * 1000:.1f} ms per connector)"
        + ("" if how == "measured" else f", extrapolated to 1 list + {arguments.connectors} PATCH")
    )
    print(f"ratio       {sdk_estimate / planner_seconds:8.1f}x  (SDK loop / planner)")


async def run_planner(base_url: str, concurrency: int, *, hour: int) -> tuple[float, int]:
    config = ClientConfig(
        account_id=DEFAULT_ACCOUNT_ID,
        credentials=Credentials(token=DEFAULT_TOKEN),
        base_url=base_url,
        max_concurrency=concurrency,
        rate_limit=RateLimit(requests=QUOTA, period=QUOTA_WINDOW),
    )
    async with AsyncConnectorsClient(config) as client:
        started = time.perf_counter()
        connectors = await client.list_connectors()
        await asyncio.gather(
            *(
                client.edit_window(item.id, {"interrupt_window_hour_of_day": hour})
                for item in connectors
            )
        )
        elapsed = time.perf_counter() - started
        requests = client.request_count

        # Check the result outside the timed part: every connector has the new hour.
        changed = await client.list_connectors()
        if any(item.interrupt_window_hour_of_day != hour for item in changed):
            raise SystemExit("planner's edits did not all land")
    return elapsed, requests


def run_sdk(base_url: str, sample: int, *, hour: int) -> tuple[float, float, int]:
    requests = 0

    def count(_: httpx.Request) -> None:
        nonlocal requests
        requests += 1

    http_client = httpx.Client(event_hooks={"request": [count]})
    with cloudflare.Cloudflare(
        api_token=DEFAULT_TOKEN, base_url=base_url, http_client=http_client
    ) as sdk:
        started = time.perf_counter()
        connectors = list(sdk.magic_transit.connectors.list(account_id=DEFAULT_ACCOUNT_ID))
        list_seconds = time.perf_counter() - started

        started = time.perf_counter()
        for item in connectors[:sample]:
            sdk.magic_transit.connectors.edit(
                item.id, account_id=DEFAULT_ACCOUNT_ID, interrupt_window_hour_of_day=hour
            )
        sample_seconds = time.perf_counter() - started
    return sample_seconds, list_seconds, requests


if __name__ == "__main__":
    main()
