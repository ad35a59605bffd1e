"""Load on the REST API: latency of job status and approval listing at 50 concurrent
clients, and 100 jobs submitted at once, all accepted, queued, run to an end, none lost.

Starts `mlpilot serve` in a subprocess on 127.0.0.1 (fresh data directory, 2 workers)
and drives it from this process with asyncio + httpx:

0. runs one job to warm the server up (worker processes, tracking stores);
1. submits `--jobs` jobs at once (penguins, `--budget` seconds, pre-approved);
2. while the workers run them, measures latency under load ("busy");
3. waits until every job has ended, counts them by status;
4. parks a few jobs at the registration gate, so approvals are pending;
5. measures latency again with the workers idle ("at rest").

Latency is measured two ways, each with 50 concurrent clients: polling clients that each
send a request every `--interval` seconds (a dashboard or `Client.wait` polling), and a
closed loop, where each client sends its next request as soon as the last is answered (the
server's saturation point: latency is then clients / throughput). Target: p95 < 50 ms.

    .venv/bin/python benchmarks/api_load.py [--clients 50] [--seconds 10] [--jobs 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA = next(p for p in (ROOT.parent / "shared" / "datasets" / "penguins.csv",
                        ROOT / "examples" / "penguins.csv") if p.exists())
KEYS = {"bench-operator": "operator", "bench-viewer": "viewer"}
END = {"succeeded", "failed", "rejected", "cancelled", "needs_input"}


def main() -> None:
    """Parse arguments, run the phases, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="per latency measurement")
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of training per job")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--waiting", type=int, default=5, help="jobs parked at an approval")
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds between one polling client's requests")
    args = parser.parse_args()
    asyncio.run(run(args))


async def run(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="mlpilot-load-"))
    port = _free_port()
    server = _start(data_dir, port, args.workers)
    rows: list[tuple[str, ...]] = []
    try:
        base = f"http://127.0.0.1:{port}"
        limits = httpx.Limits(max_connections=args.clients + 10)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits,
                                     headers={"X-API-Key": "bench-operator"}) as http:
            await _wait_up(http)
            # warm up: the worker processes start and the tracking stores are created
            warm = (await _submit(http, 0, args.budget, True))[1]["run_id"]
            await _until(http, [warm], END)
            started = time.monotonic()
            answers = await asyncio.gather(*(_submit(http, i, args.budget, True)
                                             for i in range(args.jobs)))
            submit_s = time.monotonic() - started
            accepted = [a for a in answers if a[0] == 202]
            ids = [a[1]["run_id"] for a in accepted]
            rows.append((f"submit {args.jobs} at once", f"{len(accepted)}/{args.jobs} accepted (202)",
                         *_stats([a[2] for a in answers]), f"all in {submit_s:.1f} s"))
            statuses = await _statuses(http)
            queued = sum(statuses.get(i) == "queued" for i in ids)
            rows.append(("just after", f"{queued} queued, {len(ids) - queued} taken", "", "", ""))

            rows += await _latencies(http, ids, args, f"busy ({args.workers} workers training)")
            ended, elapsed = await _until_ended(http, ids, started)
            counts = {s: sum(1 for i in ids if ended.get(i) == s) for s in sorted(set(ended.values()))}
            lost = [i for i in ids if i not in ended]
            rows.append(("run to an end", ", ".join(f"{n} {s}" for s, n in counts.items()),
                         f"{elapsed:.0f} s", f"{len(ids) / elapsed * 60:.0f} jobs/min",
                         f"lost: {len(lost)}"))

            waiting = [(await _submit(http, 1000 + i, args.budget, False))[1]["run_id"]
                       for i in range(args.waiting)]
            await _until(http, waiting, {"waiting_approval"})
            rows += await _latencies(http, ids, args, "at rest")
    finally:
        server.terminate()
        server.wait(timeout=30)
    _print(rows, args)


async def _submit(http: httpx.AsyncClient, i: int, budget: float, auto: bool):
    started = time.perf_counter()
    answer = await http.post("/jobs", json={
        "request": f"predict the species of a penguin, {budget:g} seconds", "data": str(DATA),
        "auto_approve": auto, "seed": i})
    return answer.status_code, answer.json(), time.perf_counter() - started


async def _latencies(http: httpx.AsyncClient, ids: list[str], args, label: str):
    rows = []
    for name, path in (("job status", lambda: f"/jobs/{random.choice(ids)}"),
                       ("approval listing", lambda: "/approvals")):
        for interval in (args.interval, 0.0):
            times = await _clients(http, path, args.clients, args.seconds, interval)
            how = f"each every {interval:g} s" if interval else "closed loop"
            rows.append((f"{name}, {label}", f"{args.clients} clients, {how}",
                         *_stats(times), f"{len(times) / args.seconds:.0f} req/s"))
    return rows


async def _clients(http: httpx.AsyncClient, path, clients: int, seconds: float,
                   interval: float) -> list[float]:
    """`clients` concurrent clients for `seconds`: each sends a request, waits for the answer,
    then waits until `interval` has passed since it sent it (0: sends the next at once)."""
    times: list[float] = []
    stop = time.monotonic() + seconds

    async def client() -> None:
        headers = {"X-API-Key": "bench-viewer"}
        await asyncio.sleep(random.uniform(0, interval))  # clients do not start in step
        while time.monotonic() < stop:
            started = time.perf_counter()
            answer = await http.get(path(), headers=headers)
            took = time.perf_counter() - started
            times.append(took)
            assert answer.status_code == 200, answer.text
            if interval:
                await asyncio.sleep(max(0.0, interval - took))

    await asyncio.gather(*(client() for _ in range(clients)))
    return times


async def _statuses(http: httpx.AsyncClient) -> dict[str, str]:
    listed = (await http.get("/jobs", params={"limit": 500})).json()
    return {j["run_id"]: j["status"] for j in listed}


async def _until_ended(http: httpx.AsyncClient, ids: list[str], started: float):
    while True:
        statuses = await _statuses(http)
        if all(statuses.get(i) in END for i in ids):
            return statuses, time.monotonic() - started
        await asyncio.sleep(1.0)


async def _until(http: httpx.AsyncClient, ids: list[str], wanted: set[str]) -> None:
    while True:
        statuses = await _statuses(http)
        if all(statuses.get(i) in wanted | END for i in ids):
            return
        await asyncio.sleep(0.5)


async def _wait_up(http: httpx.AsyncClient) -> None:
    for _ in range(600):
        try:
            if (await http.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the server did not start")


def _stats(times: list[float]) -> tuple[str, str]:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"{statistics.median(ms):.1f} ms", f"{p95:.1f} ms"


def _start(data_dir: Path, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "MLPILOT_DATA_DIR": str(data_dir), "MLPILOT_API_KEYS": json.dumps(KEYS),
           "MLPILOT_EMBEDDING": "hashing"}
    log = (data_dir / "server.log").open("w")
    return subprocess.Popen([sys.executable, "-m", "mlpilot.interfaces.cli", "serve",
                             "--port", str(port), "--workers", str(workers),
                             "--log-level", "warning"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _print(rows: list[tuple[str, ...]], args) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nmlpilot API load — {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()},"
          f" {os.cpu_count()} CPU cores, {args.workers} workers, Python {platform.python_version()};"
          f" load average at the end {load}")
    header = ("measure", "what", "p50", "p95", "note")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    line = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    print(line.format(*header))
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in rows:
        print(line.format(*(list(row) + [""] * (5 - len(row)))))


if __name__ == "__main__":
    main()
