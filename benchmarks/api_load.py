"""Load on the REST API: latency of job status and approval listing at 50 concurrent
clients, and 100 jobs submitted at once, all accepted, queued, run to an end, none lost.

Starts `mlpilot serve` in a subprocess on 127.0.0.1 (a fresh data directory, 2 worker
processes) and drives it from this process with asyncio + aiohttp (one connection pool,
keep-alive: about 0.1 ms of CPU a request, so the load generator does not take the CPU
the server needs; httpx takes over 1 ms):

0. runs one job to warm the server up (worker processes, tracking stores);
1. parks `--waiting` jobs at an approval gate, so the approval listing has entries;
2. submits `--jobs` jobs at once (penguins, `--budget` seconds, pre-approved);
3. while the workers run them, measures latency under load ("busy");
4. waits until every job has ended, counts them by status;
5. measures latency again with the workers idle ("at rest"), then the server's CPU use
   with no requests at all.

Each latency measurement runs 50 concurrent clients in one of two ways:

- polling: each client sends a request every `--interval` seconds (a dashboard, or
  `Client.wait` polling); the server has spare time between requests;
- closed loop: each client sends its next request as soon as the last is answered. This
  measures the server's saturation point: the clients always have 50 requests waiting, so
  latency is 50 / throughput (Little's law), and whoever else uses the CPU shows up in it.

Target: p95 < 50 ms. Beside each measurement the table gives the requests served a
second, the server's CPU time per request, how busy the CPU was (the server, this load
generator, the job workers, and everything else on the machine, in % of one core), and the
1-minute load average. Linux only (reads /proc).

    .venv/bin/python benchmarks/api_load.py [--clients 50] [--seconds 10] [--jobs 100] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
DATA = next(p for p in (ROOT.parent / "shared" / "datasets" / "penguins.csv",
                        ROOT / "examples" / "penguins.csv") if p.exists())
KEYS = {"bench-operator": "operator", "bench-viewer": "viewer"}
END = {"succeeded", "failed", "rejected", "cancelled", "needs_input"}
TICK = os.sysconf("SC_CLK_TCK")
#: Seconds each measurement runs before it starts counting (connections open, clients spread).
WARM_UP_S = 1.0


def main() -> None:
    """Parse arguments, run the phases, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="per latency measurement")
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of training per job")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--waiting", type=int, default=5, help="jobs parked at an approval")
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds between one polling client's requests")
    parser.add_argument("--max-wait", type=float, default=900.0,
                        help="seconds to wait for the jobs to end before counting them")
    parser.add_argument("--keep", action="store_true", help="keep the server's data directory")
    parser.add_argument("--start-timeout", type=float, default=600.0,
                        help="seconds the server may take to start (minutes on a busy machine)")
    parser.add_argument("--postgres", action="store_true",
                        help="keep the state in a private PostgreSQL server (Debian's postgresql "
                        "package; see tests/postgres.py) instead of SQLite files")
    args = parser.parse_args()
    asyncio.run(run(args))


@dataclass
class Latency:
    """One latency measurement: what was asked, how fast, and who used the CPU meanwhile."""

    phase: str
    request: str
    how: str
    times: list[float]
    seconds: float
    cpu: dict[str, float]  # % of one core
    server_ms_per_request: float
    load: float


async def run(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="mlpilot-load-"))
    port = _free_port()
    database = _postgres() if args.postgres else None
    server = _start(data_dir, port, args.workers, database.database() if database else None)
    load_before = os.getloadavg()
    latencies: list[Latency] = []
    try:
        connector = aiohttp.TCPConnector(limit=args.clients + 10)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", connector=connector,
                                         headers={"X-API-Key": "bench-operator"},
                                         timeout=aiohttp.ClientTimeout(total=120)) as http:
            await _wait_up(http, args.start_timeout)
            # warm up: the worker processes start and the tracking stores are created
            warm = (await _submit(http, 0, args.budget, True))[1]["run_id"]
            await _until(http, [warm], END)
            waiting = [(await _submit(http, 1000 + i, args.budget, False))[1]["run_id"]
                       for i in range(args.waiting)]
            await _until(http, waiting, {"waiting_approval"})
            async with http.get("/approvals") as answer:
                pending = len(await answer.json())
            started = time.monotonic()
            answers = await asyncio.gather(*(_submit(http, i, args.budget, True)
                                             for i in range(args.jobs)))
            submit_s = time.monotonic() - started
            ids = [a[1]["run_id"] for a in answers if a[0] == 202]
            statuses = await _statuses(http)
            queued = sum(statuses.get(i) == "queued" for i in ids)
            watch = CpuWatch(server.pid)
            latencies += await _latencies(http, ids, args, "busy", watch)
            ended, elapsed = await _until_ended(http, ids, started, args.max_wait)
            latencies += await _latencies(http, ids, args, "at rest", watch)
            watch.begin()
            await asyncio.sleep(args.seconds)
            idle = watch.end()[0]["server"]
    finally:
        server.terminate()
        server.wait(timeout=30)
        if database is not None:
            database.stop()
    if args.keep:
        print(f"data directory kept: {data_dir}")
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
    final = [ended.get(i) for i in ids]  # None: the job is not listed any more (lost)
    counts = {s: final.count(s) for s in sorted(set(final) - {None})}
    accepted = sum(1 for a in answers if a[0] == 202)
    p50, p95 = _stats([a[2] for a in answers])
    job_rows = [
        (f"{args.jobs} submitted at once", (f"{accepted}/{args.jobs} accepted (202) in "
         f"{submit_s:.1f} s; answer p50 {p50}, p95 {p95} (each submission is checked)")),
        ("just after", f"{queued} queued, {accepted - queued} already taken by a worker"),
        ("run to an end", ", ".join(f"{n} {s}" for s, n in counts.items())
         + f" in {elapsed:.0f} s ({accepted / elapsed * 60:.0f} jobs/min); "
         f"lost: {final.count(None)}")]
    _print(args, load_before, latencies, idle, pending, job_rows)


async def _submit(http: aiohttp.ClientSession, i: int, budget: float, auto: bool):
    started = time.perf_counter()
    async with http.post("/jobs", json={
            "request": f"predict the species of a penguin, {budget:g} seconds",
            "data": str(DATA), "auto_approve": auto, "seed": i}) as answer:
        return answer.status, await answer.json(), time.perf_counter() - started


async def _latencies(http: aiohttp.ClientSession, ids: list[str], args, phase: str,
                     watch: CpuWatch) -> list[Latency]:
    found = []
    for request, path in (("job status", lambda: f"/jobs/{random.choice(ids)}"),
                          ("approval listing", lambda: "/approvals")):
        for interval in (args.interval, 0.0):
            how = f"polling every {interval:g} s" if interval else "closed loop"
            times, cpu, server_s = await _clients(http, path, args.clients, args.seconds,
                                                  interval, watch)
            found.append(Latency(phase, request, how, times, args.seconds, cpu,
                                 server_s / max(1, len(times)) * 1000, os.getloadavg()[0]))
    return found


async def _clients(http: aiohttp.ClientSession, path, clients: int, seconds: float,
                   interval: float, watch: CpuWatch) -> tuple[list[float], dict[str, float], float]:
    """`clients` concurrent clients: each sends a request, waits for the answer, then waits
    until `interval` has passed since it sent it (0: sends the next at once). Returns the
    latencies of the requests sent during the `seconds` after the warm-up, the CPU use
    meanwhile, and the server's CPU seconds."""
    times: list[float] = []
    counting = time.monotonic() + WARM_UP_S
    stop = counting + seconds
    headers = {"X-API-Key": "bench-viewer"}

    async def client() -> None:
        await asyncio.sleep(random.uniform(0, interval or 0.01))  # clients do not start in step
        while (now := time.monotonic()) < stop:
            started = time.perf_counter()
            async with http.get(path(), headers=headers) as answer:
                body = await answer.read()
            took = time.perf_counter() - started
            assert answer.status == 200, body[:500]
            if now >= counting:
                times.append(took)
            if interval:
                await asyncio.sleep(max(0.0, interval - took))

    async def measure() -> tuple[dict[str, float], float]:
        await asyncio.sleep(WARM_UP_S)
        watch.begin()
        await asyncio.sleep(seconds)
        return watch.end()

    *_, (cpu, server_s) = await asyncio.gather(*(client() for _ in range(clients)), measure())
    return times, cpu, server_s


class CpuWatch:
    """CPU time used over an interval by the server, its worker processes, this process,
    and the whole machine (from /proc)."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self._start: tuple[float, ...] = ()

    def begin(self) -> None:
        self._start = self._sample()

    def end(self) -> tuple[dict[str, float], float]:
        """% of one core each used since `begin`, and the server's CPU seconds."""
        now = self._sample()
        server, workers, me, busy, wall = (b - a for a, b in zip(self._start, now, strict=True))
        share = {"server": server, "load generator": me, "workers": workers,
                 "rest": max(0.0, busy - server - workers - me)}
        return {k: 100 * v / wall for k, v in share.items()}, server

    def _sample(self) -> tuple[float, float, float, float, float]:
        workers = sum(_process_cpu(pid) for pid in _children(self.server_pid))
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return (_process_cpu(self.server_pid), workers, time.process_time(),
                (sum(fields[:8]) - idle) / TICK, time.monotonic())


def _process_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # a worker that just ended
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


async def _statuses(http: aiohttp.ClientSession) -> dict[str, str]:
    async with http.get("/jobs", params={"limit": 500}) as answer:
        listed = await answer.json()
    return {j["run_id"]: j["status"] for j in listed}


async def _until_ended(http: aiohttp.ClientSession, ids: list[str], started: float,
                       max_wait: float):
    """The jobs' statuses once all have ended (or `max_wait` seconds after `started`)."""
    while True:
        statuses = await _statuses(http)
        elapsed = time.monotonic() - started
        if all(statuses.get(i) in END for i in ids) or elapsed > max_wait:
            return statuses, elapsed
        await asyncio.sleep(1.0)


async def _until(http: aiohttp.ClientSession, ids: list[str], wanted: set[str]) -> None:
    while True:
        statuses = await _statuses(http)
        if all(statuses.get(i) in wanted | END for i in ids):
            return
        await asyncio.sleep(0.5)


async def _wait_up(http: aiohttp.ClientSession, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with http.get("/health") as answer:
                if answer.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the server did not start")


def _stats(times: list[float]) -> tuple[str, str]:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"{statistics.median(ms):.1f} ms", f"{p95:.1f} ms"


def _postgres():
    """A private PostgreSQL server (the tests' harness: tests/ is not installed)."""
    sys.path.insert(0, str(ROOT))
    from tests.postgres import PostgresServer, postgres_bin

    bin_dir = postgres_bin()
    if bin_dir is None:
        sys.exit("--postgres needs Debian's postgresql package (initdb, pg_ctl)")
    return PostgresServer(bin_dir).start()


def _start(data_dir: Path, port: int, workers: int, database_url: str | None) -> subprocess.Popen:
    env = {**os.environ, "MLPILOT_DATA_DIR": str(data_dir), "MLPILOT_API_KEYS": json.dumps(KEYS),
           "MLPILOT_EMBEDDING": "hashing", "MLPILOT_DATA_ROOTS": str(DATA.parent)}
    if database_url:
        env["MLPILOT_DATABASE_URL"] = database_url
    log = (data_dir / "server.log").open("w")
    return subprocess.Popen([sys.executable, "-m", "mlpilot.interfaces.cli", "serve",
                             "--port", str(port), "--workers", str(workers),
                             "--log-level", "warning"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _print(args, load_before: tuple[float, ...], latencies: list[Latency], idle: float,
           pending: int, job_rows: list[tuple[str, str]]) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nmlpilot API load — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{platform.machine()}, {os.cpu_count()} CPU cores (shared by server, workers, load "
          f"generator and any other work), {args.workers} worker processes, Python "
          f"{platform.python_version()}, state in "
          f"{'PostgreSQL' if args.postgres else 'SQLite'}; load average {load_before[0]:.1f} at the start, "
          f"{load} at the end\n")
    header = ("phase", "request", f"{args.clients} clients", "p50", "p95", "req/s",
              "server CPU/req", "CPU % of a core: server / load gen / workers / rest",
              "load 1 min")
    rows = []
    for m in latencies:
        cpu = " / ".join(f"{m.cpu[k]:.0f}" for k in ("server", "load generator", "workers", "rest"))
        rows.append((m.phase, m.request, m.how, *_stats(m.times), f"{len(m.times) / m.seconds:.0f}",
                     f"{m.server_ms_per_request:.2f} ms", cpu, f"{m.load:.1f}"))
    _table(header, rows)
    print(f"\n{pending} approvals pending throughout. With no requests the server uses "
          f"{idle:.1f}% of a core. A polling request costs the server more CPU than one in a "
          "closed loop: it arrives alone, so the event loop wakes up for it alone.\n")
    _table(("jobs", "result"), job_rows)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    print(line.format(*header))
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in rows:
        print(line.format(*row))


if __name__ == "__main__":
    main()
