"""Serving: time to deploy, rollback time, predict latency (issue #13's targets).

Trains two small networks on a sample of the shared `adult` data (census income: 14
mixed numeric and categorical columns), registers them as versions 1 and 2 in a fresh
data directory, then measures:

1. deploy -> first answer, in this process: `Deployments.deploy` of a version not loaded
   yet (read from the registry, loaded, aliased) until the first prediction returns;
2. deploy -> first answer, cold: `mlpilot serve-model` started as a new process until its
   first prediction over HTTP is answered (imports, registry, load: what an operator waits);
3. rollback: `Deployments.rollback` (store, audit row, registry alias), `--rollbacks` times;
4. single-row predict in this process (routing, schema check, model, prediction log);
5. single-row predict over HTTP at `--clients` concurrent clients (closed loop, aiohttp),
   and the server's CPU time per request (from /proc: load-independent, unlike latency);
6. a 1,000-row batch over HTTP, as JSON and as a CSV body.

Targets (the issue): deploy under 60 s (and "deploys in under 5 minutes"), rollback under
5 s, single-row p95 under 20 ms at 50 clients, a 1,000-row batch under 200 ms. The
machine's load is printed: the HTTP figures are shared-CPU figures when others run.

With `--against DIR` (a folder holding another version's `mlpilot` package, e.g. from
`git archive COMMIT | tar -x -C DIR/mlpilot`), that version's `serve-model` serves the same
registry beside this one, the HTTP measures alternate between the two in rounds (so both
see the same load), and a before/after table with ratios follows.

    .venv/bin/python benchmarks/serving.py [--clients 50] [--requests 20] [--rollbacks 5]
        [--against DIR] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT.parent))

from mlpilot.agent.deployments import Deployments
from mlpilot.agent.settings import Settings
from mlpilot.engine.config import ModelConfig, TaskSpec, TrainingConfig
from mlpilot.engine.data import load_table
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.tracking import Tracker
from mlpilot.engine.training import fit

DATA = ROOT.parent / "shared" / "datasets" / "adult.csv"
NAME, KEY = "adult-income", "bench-key"


def _train(frame: pd.DataFrame, seed: int) -> TrainedModel:
    task = TaskSpec(target="income", task_type="binary", metric="accuracy", budget_s=30)
    config = TrainingConfig(model=ModelConfig(hidden_sizes=[64, 32]), batch_size=256,
                            max_epochs=3, seed=seed)
    data = prepare_data(frame, task, config)
    return TrainedModel(task, config, data.preprocessor, fit(config, data, task).model)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _http_load(url: str, rows: list[dict], clients: int, requests: int) -> list[float]:
    import aiohttp

    latencies: list[float] = []
    async with aiohttp.ClientSession(headers={"X-API-Key": KEY}) as session:
        async def client(i: int) -> None:
            for j in range(requests):
                row = rows[(i * requests + j) % len(rows)]
                started = time.perf_counter()
                async with session.post(url, json={"rows": [row]}) as answer:
                    await answer.read()
                    assert answer.status == 200, answer.status
                latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="per client")
    parser.add_argument("--rollbacks", type=int, default=5)
    parser.add_argument("--against", help="a folder with another version's mlpilot package")
    parser.add_argument("--rounds", type=int, default=4, help="alternating HTTP rounds")
    args = parser.parse_args()

    table = load_table(DATA)
    train_rows = table.sample(6000, random_state=0)
    live = table.drop(columns=["income"]).sample(2000, random_state=1)
    rows = live.astype(object).where(live.notna(), None).to_dict("records")
    data_dir = Path(tempfile.mkdtemp(prefix="mlpilot-bench-deploy-"))
    settings = Settings(data_dir=data_dir, api_keys={KEY: "approver"})
    started = time.perf_counter()
    tracker = Tracker(settings.tracking_uri, artifact_location=settings.artifact_dir.as_uri())
    for version, seed in ((1, 0), (2, 1)):
        run = tracker.start_job(f"bench-{version}", {}, {})
        tracker.register(tracker.log_model(run, _train(train_rows, seed)), NAME,
                         f"bench-{version}", alias="champion" if version == 1 else None)
    print(f"trained and registered 2 versions in {time.perf_counter() - started:.1f} s "
          f"(adult, {len(train_rows)} rows)")

    results: list[tuple[str, str, str]] = []
    deployments = Deployments(settings)
    started = time.perf_counter()
    deployments.deploy(NAME, "2", by="bench")
    deployments.predict(NAME, rows[:1])
    results.append(("deploy -> first answer (in process)",
                    f"{time.perf_counter() - started:.2f} s", "< 60 s"))

    seconds = []
    for _ in range(args.rollbacks):
        deployments.deploy(NAME, "2", by="bench")
        seconds.append(deployments.rollback(NAME, by="bench").seconds)
    results.append((f"rollback (median / max of {args.rollbacks})",
                    f"{statistics.median(seconds) * 1000:.1f} / {max(seconds) * 1000:.1f} ms",
                    "< 5 s"))

    single = []
    for row in rows[:300]:
        t0 = time.perf_counter()
        deployments.predict(NAME, [row])
        single.append((time.perf_counter() - t0) * 1000)
    results.append(("single row, in process: p50 / p95",
                    f"{_pct(single, .5):.1f} / {_pct(single, .95):.1f} ms", "-"))
    batch = []
    for _ in range(5):
        t0 = time.perf_counter()
        deployments.predict(NAME, rows[:1000])
        batch.append((time.perf_counter() - t0) * 1000)
    results.append(("1,000 rows, in process (median of 5)", f"{statistics.median(batch):.0f} ms",
                    "< 200 ms"))
    deployments.close()

    env = {**os.environ, "MLPILOT_DATA_DIR": str(data_dir),
           "MLPILOT_API_KEYS": f'{{"{KEY}": "approver"}}'}
    sources = {"this": str(ROOT.parent)}
    if args.against:
        sources["before"] = str(Path(args.against).resolve())
    servers = {}
    try:
        for label, source in sources.items():
            started = time.perf_counter()
            servers[label] = _start_server({**env, "PYTHONPATH": source}, rows)
            if label == "this":
                results.append(("deploy -> first answer (new serve-model process)",
                                f"{time.perf_counter() - started:.2f} s", "< 60 s"))
        http = {label: {"single": [], "JSON": [], "CSV": [], "cpu": []} for label in servers}
        per_round = max(1, args.requests // args.rounds)
        csv = live.head(1000).to_csv(index=False).encode()
        for _ in range(args.rounds):  # alternate, so that both versions meet the same load
            for label, (process, url) in servers.items():
                cpu = _cpu_seconds(process.pid)
                found = asyncio.run(_http_load(f"{url}/predict", rows, args.clients, per_round))
                http[label]["cpu"].append((_cpu_seconds(process.pid) - cpu) * 1000 / len(found))
                http[label]["single"] += found
                for kind in ("JSON", "CSV"):
                    http[label][kind].append(_batch_ms(url, kind, rows[:1000], csv))
        measured = {label: _http_rows(found, args.clients) for label, found in http.items()}
        results += [(name, value, target) for name, value, target, _ in measured["this"]]
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(10)

    _print(results)
    if "before" in measured:
        _print_against(measured["before"], measured["this"])


def _start_server(env: dict[str, str], rows: list[dict]) -> tuple[subprocess.Popen, str]:
    """`mlpilot serve-model` in a new process, once it answered a first prediction."""
    import httpx

    port = _free_port()
    command = "from mlpilot.interfaces.cli import main; main()"
    server = subprocess.Popen([sys.executable, "-c", command, "serve-model", NAME,
                               "--port", str(port), "--log-level", "warning"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url, started = f"http://127.0.0.1:{port}", time.perf_counter()
    while True:
        try:
            answer = httpx.post(f"{url}/predict", json={"rows": rows[:1]},
                                headers={"X-API-Key": KEY}, timeout=30)
            if answer.status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        if time.perf_counter() - started > 300 or server.poll() is not None:
            server.terminate()
            raise SystemExit("serve-model did not answer within 300 s")
        time.sleep(0.1)


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and its children used so far (Linux' /proc):
    the server's cost per request, whatever the load of the machine."""
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid] + ([int(c) for c in children.read_text().split()] if children.exists() else [])
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _batch_ms(url: str, kind: str, rows: list[dict], csv: bytes) -> float:
    """Milliseconds of one 1,000-row request, as JSON rows or as a CSV body."""
    import httpx

    started = time.perf_counter()
    if kind == "JSON":
        answer = httpx.post(f"{url}/predict", json={"rows": rows}, timeout=60,
                            headers={"X-API-Key": KEY})
    else:
        answer = httpx.post(f"{url}/predict", content=csv, timeout=60,
                            headers={"X-API-Key": KEY, "Content-Type": "text/csv"})
    assert answer.status_code == 200, answer.text[:300]
    return (time.perf_counter() - started) * 1000


def _http_rows(found: dict[str, list[float]], clients: int
               ) -> list[tuple[str, str, str, float]]:
    """(measure, shown value, target, the value compared) of one server's HTTP figures."""
    single = found["single"]
    out = [(f"single row over HTTP, {clients} clients: p50 / p95",
            f"{_pct(single, .5):.1f} / {_pct(single, .95):.1f} ms", "p95 < 20 ms",
            _pct(single, .95)),
           ("server CPU per single-row request (all threads)",
            f"{statistics.median(found['cpu']):.2f} ms", "-", statistics.median(found["cpu"]))]
    for kind in ("JSON", "CSV"):
        value = statistics.median(found[kind])
        out.append((f"1,000 rows over HTTP ({kind}), median of {len(found[kind])}",
                    f"{value:.0f} ms", "< 200 ms", value))
    return out


def _print_against(before: list, after: list) -> None:
    width = max(len(r[0]) for r in after)
    print(f"\n{'measure (HTTP)':<{width}}  {'before':>18}  {'after':>18}  after/before")
    for old, new in zip(before, after, strict=True):
        print(f"{new[0]:<{width}}  {old[1]:>18}  {new[1]:>18}  {new[3] / old[3]:.3f}")


def _print(results: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in results)
    print(f"\n{'measure':<{width}}  {'result':>18}  target")
    for name, value, target in results:
        print(f"{name:<{width}}  {value:>18}  {target}")
    print(f"\nload average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
