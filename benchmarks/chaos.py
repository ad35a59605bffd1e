"""Crash harness: kill -9 at random points in jobs' lives; every job must still finish as an
unkilled one does.

    .venv/bin/python benchmarks/chaos.py [--kills 200] [--backend sqlite|postgres|both] [--ray]
                                         [--lanes 1]

With `--lanes N` the kills run in N independent lanes at once, each a server of its own
(and on PostgreSQL a database server of its own), so that a kill still hits one job: a
machine with cores to spare runs the 200 kills N times sooner.

One kill per job; each round of kills covers every (target, moment) pair once, in a
random order. Each job is a real `mlpilot serve` job (one worker process, penguins,
`--budget` seconds: a base run and a search), on its own copy of the data so that it
registers its own model. A random target is killed (SIGKILL) at a random moment:

- targets: the server (its worker dies with it; the harness starts the server again), a
  job worker (the server's supervisor starts another), PostgreSQL itself (on PostgreSQL
  only; started again at once), a Ray worker (with `--ray` only: the server then runs on
  a private two-node Ray cluster, its job workers are Ray actors (the "worker" target
  kills the job's actor) and its trials Ray tasks; "ray_worker" kills the process running
  one of the job's trials, at the "search" moment only);
- moments: planning (the planner's first event), a training epoch, a search trial, the
  approval wait (the job waits at the registration gate), registration (just after the
  approval is recorded, while the worker registers the model).

After the restart the harness approves the registration if it is pending and waits for
the job to end. Its final state must be an unkilled run's:

- it succeeded, with one registered version of its model and the champion alias on it;
- no duplicated effects: one approval, one decision event, one MLflow job run;
- nothing orphaned: no Optuna trial and no MLflow run left RUNNING;
- the budget it reports includes the training time before the kill (kills in training
  and search; the time from the first training event to the kill, less 0.5 s).

Prints a table by target and moment, then every failure with its reason. The state is
read straight from the stores (SQLite files, or the private PostgreSQL server from
Debian's package that `--backend postgres` starts, as the tests do).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' harness (tests/ is not installed)

from mlpilot.agent.settings import Settings
from mlpilot.agent.store import Store
from tests.interfaces.api_fixtures import Server
from tests.postgres import PostgresServer, postgres_bin
from tests.ray_cluster import ENV as RAY_ENV
from tests.ray_cluster import RayCluster, ray_bin

DATA = next(p for p in (ROOT.parent / "shared" / "datasets" / "penguins.csv",
                        ROOT / "examples" / "penguins.csv") if p.exists())
MOMENTS = ("planning", "training", "search", "approval", "registration")
TARGETS = ("server", "worker", "postgres", "ray_worker")
KEYS = {"chaos-operator": {"role": "operator", "name": "chaos"},
        "chaos-approver": {"role": "approver", "name": "chaos"}}


@dataclass
class Outcome:
    """One killed job: where it was killed, and what was wrong with its end state."""

    target: str
    moment: str
    job_id: str = ""
    killed: bool = False
    problems: list[str] = field(default_factory=list)
    duplicated: int = 0
    orphaned: int = 0


class Harness:
    """A server on one backend, restarted as needed, and the jobs it is made to run."""

    def __init__(self, backend: str, budget: float, folder: Path, ray_address: str | None = None,
                 start_timeout: float = 600.0, base_fraction: float | None = None):
        self.backend, self.budget, self.folder = backend, budget, folder
        # a short job's search gets the budget its base run leaves: a smaller base share
        # keeps the search (and its moment) in a job of a few seconds
        self.training = {"search": {"base_fraction": base_fraction}} if base_fraction else None
        self.start_timeout = start_timeout  # a server starts in seconds, minutes on a busy machine
        self.data_dir, self.data_root = folder / "state", folder / "data"
        self.data_root.mkdir(parents=True)
        self.postgres = PostgresServer(postgres_bin(), killable=True).start() if backend == "postgres" else None
        url = self.postgres.database() if self.postgres else None
        self.server = Server(self.data_dir, folder / "server.log", workers=1)
        self.server.env.update({"MLPILOT_API_KEYS": json.dumps(KEYS),
                                "MLPILOT_DATA_ROOTS": str(self.data_root),
                                "MLPILOT_EMBEDDING": "hashing"})
        if url:
            self.server.env["MLPILOT_DATABASE_URL"] = url
        if ray_address:
            self.server.env.update({**RAY_ENV, "MLPILOT_RAY_ADDRESS": ray_address})
        os.environ.pop("MLPILOT_DATABASE_URL", None)
        self.settings = Settings(data_dir=self.data_dir, database_url=url)
        try:
            self.server.start(timeout=start_timeout)
        except BaseException:  # leave no server or database server behind
            self.close()
            raise
        self.store = Store(self.settings.state_db)

    def close(self) -> None:
        """Stop the server and the database server."""
        self.server.stop()
        if self.postgres:
            self.postgres.stop()

    # -- one job ----------------------------------------------------------------------

    def run(self, number: int, target: str, moment: str, rng: random.Random,
            timeout: float) -> Outcome:
        """Submit a job, kill `target` at `moment`, bring it back, check the job's end."""
        from mlpilot.interfaces.client import Client

        outcome = Outcome(target, moment)
        data = self.data_root / f"chaos{number}.csv"
        shutil.copy(DATA, data)
        with Client(self.server.url, api_key="chaos-operator", timeout=60) as operator:
            job = operator.submit(f"predict the species of a penguin, {self.budget:g} seconds",
                                  data=str(data), training=self.training)
        outcome.job_id = job_id = job["run_id"]
        deadline = time.monotonic() + timeout
        killed_at, trained_from = self._kill_at(job_id, target, moment, rng, deadline)
        outcome.killed = killed_at is not None
        if not outcome.killed:
            outcome.problems.append(f"the moment {moment} never came")
        self._finish(job_id, time.monotonic() + timeout)
        self._check(outcome, killed_at, trained_from)
        return outcome

    def _kill_at(self, job_id: str, target: str, moment: str, rng: random.Random,
                 deadline: float) -> tuple[float | None, float | None]:
        """Wait for the moment, kill the target, start it again. Returns when it was
        killed and when the job started training (None: not yet)."""
        trained_from = None
        while time.monotonic() < deadline:
            job = self._job(job_id)
            events = self._events(job_id)
            train = [e for e in events if e.stage == "train"]
            trained_from = train[0].created_at if train else None
            if job is not None and job.ended:
                return None, trained_from
            if job is not None and job.status == "waiting_approval" \
                    and moment in ("planning", "training", "search"):
                return None, trained_from  # it went by unseen (a search with no trial)
            if moment == "planning":
                ready = any(e.stage == "planner" for e in events)
            elif moment == "training":
                ready = any("epoch" in e.message for e in train)
            elif moment == "search":
                ready = any(e.stage == "tune" for e in events)  # the search has begun
            else:
                ready = job is not None and job.status == "waiting_approval"
            if ready:
                if moment == "registration":
                    self._approve(job_id)
                # a search lasts a few seconds: its kill lands anywhere in its first second
                time.sleep(rng.uniform(0.0, 1.0 if moment == "search" else 0.5))
                killed_at = time.time()
                self._kill(target, job_id)
                return killed_at, trained_from
            time.sleep(0.02)
        return None, trained_from

    def _kill(self, target: str, job_id: str) -> None:
        if target == "server":
            self.server.kill(signal.SIGKILL)
            self.server.start(timeout=self.start_timeout)
        elif target == "ray_worker":
            running = _ray_trial_processes()
            if running:
                os.kill(random.choice(running), signal.SIGKILL)
        elif target == "worker":
            job = self._job(job_id)
            if job is not None and job.runner_pid:
                os.kill(job.runner_pid, signal.SIGKILL)
        else:
            pid = int((self.postgres.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
            self._restart_postgres()

    def _restart_postgres(self) -> None:
        """Start the killed PostgreSQL again on its port, once its old backends are gone."""
        deadline = time.monotonic() + 60
        while True:
            try:
                self.postgres._run(str(self.postgres.bin_dir / "pg_ctl"), "-D",
                                   str(self.postgres.data), "-w", "-t", "30",
                                   "-l", str(self.postgres.folder / "server.log"), "-o",
                                   f"-p {self.postgres.port} {self.postgres.options}", "start")
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _finish(self, job_id: str, deadline: float) -> None:
        """Approve a pending registration and wait until the job ends (or time is up)."""
        while time.monotonic() < deadline:
            job = self._job(job_id)
            if job is not None and job.ended:
                return
            if job is not None and job.status == "waiting_approval":
                self._approve(job_id)
            time.sleep(0.2)

    def _approve(self, job_id: str) -> None:
        from mlpilot.interfaces.client import ApiError, Client

        try:
            with Client(self.server.url, api_key="chaos-approver", timeout=60) as approver:
                for approval in approver.approvals(run_id=job_id):
                    approver.approve(approval["id"], reason="chaos")
        except (ApiError, OSError) as err:  # the server is down or it was decided: again later
            print(f"  (approve: {err})", file=sys.stderr)

    def _job(self, job_id: str):
        try:
            return self.store.job(job_id)
        except Exception:  # noqa: BLE001 - the database is down for a moment
            return None

    def _events(self, job_id: str) -> list:
        try:
            return self.store.events(job_id)
        except Exception:  # noqa: BLE001 - the database is down for a moment
            return []

    # -- the end state ----------------------------------------------------------------

    def _check(self, outcome: Outcome, killed_at: float | None, trained_from: float | None) -> None:
        import mlflow
        import optuna

        job = self.store.job(outcome.job_id)
        problems = outcome.problems
        if job.status != "succeeded":
            why = job.error or (job.result or {}).get("question")  # needs_input: its question
            problems.append(f"ended {job.status}: {why}")
            return
        result = job.result or {}
        if not result.get("model"):  # what it did instead, for the failure list
            problems.append("no model; its decisions: " + "; ".join(
                f"{d.get('stage')}: {d.get('decision')}" for d in result.get("decisions") or []))
        model = result.get("model") or {}
        uri = self.settings.tracking_uri
        client = mlflow.MlflowClient(uri, registry_uri=uri)
        versions = client.search_model_versions(f"name = '{model.get('name')}'")
        if len(versions) != 1:
            problems.append(f"{len(versions)} registered versions")
            outcome.duplicated += max(0, len(versions) - 1)
        elif client.get_model_version_by_alias(model["name"], "champion").version != \
                versions[0].version:
            problems.append("the champion alias is not on the one version")
        approvals = self.store.approvals(status=None, job_id=outcome.job_id)
        decisions = [e for e in self.store.events(outcome.job_id)
                     if e.stage == "approval" and e.data.get("decision")]
        experiment = client.get_experiment_by_name("mlpilot")
        runs = client.search_runs([experiment.experiment_id],
                                  filter_string=f"tags.`mlpilot.job_id` = '{outcome.job_id}'")
        job_runs = [r for r in runs if r.data.tags.get("mlpilot.role") == "job"]
        for what, count in (("approvals", len(approvals)), ("decision events", len(decisions)),
                            ("MLflow job runs", len(job_runs))):
            if count != 1:
                problems.append(f"{count} {what}")
                outcome.duplicated += max(0, count - 1)
        running = [r for r in runs if r.info.status == "RUNNING"]
        try:
            study = optuna.load_study(study_name=outcome.job_id,
                                      storage=self.settings.optuna_storage)
            stuck = [t for t in study.get_trials(deepcopy=False)
                     if t.state == optuna.trial.TrialState.RUNNING]
        except KeyError:  # no search ran
            stuck = []
        outcome.orphaned = len(running) + len(stuck)
        if outcome.orphaned:
            problems.append(f"orphaned: {len(stuck)} Optuna trials, {len(running)} MLflow runs "
                            "left RUNNING")
        if outcome.moment in ("training", "search") and killed_at is not None \
                and trained_from is not None and killed_at > trained_from:
            before = min(killed_at - trained_from, self.budget)
            used = result.get("budget_used_s") or 0.0
            if used + 0.5 < before:
                problems.append(f"budget used {used:.1f} s < {before:.1f} s trained before "
                                "the kill")


def _ray_trial_processes() -> list[int]:
    """Processes running a search trial's Ray task now (Ray titles them `ray::_fit_remote`)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(
                    b"ray::_fit_remote"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def main() -> None:
    """Run the kills on each backend and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200, help="kills (= jobs) per backend")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--budget", type=float, default=5.0, help="seconds per job")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per job at most")
    parser.add_argument("--base-fraction", type=float, default=0.2,
                        help="share of a job's budget for its base run (the search gets the rest)")
    parser.add_argument("--start-timeout", type=float, default=600.0,
                        help="seconds a server may take to start")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", default=",".join(TARGETS),
                        help="comma-separated targets to kill (default: all)")
    parser.add_argument("--moments", default=",".join(MOMENTS),
                        help="comma-separated moments to kill at (default: all)")
    parser.add_argument("--ray", action="store_true",
                        help="run the server on a private two-node Ray cluster")
    parser.add_argument("--minutes", type=float, default=None,
                        help="start no job after this many minutes; print what ran (a "
                        "busy machine's largest honest fraction)")
    parser.add_argument("--lanes", type=int, default=1,
                        help="independent servers killed at once (not with --ray)")
    args = parser.parse_args()
    if args.ray and ray_bin() is None:
        sys.exit("--ray needs Ray: pip install 'mlpilot[ray]'")
    if args.ray and args.lanes > 1:  # a Ray worker's kill could hit another lane's trial
        sys.exit("--lanes runs without --ray only")
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        if backend == "postgres" and postgres_bin() is None:
            sys.exit("--backend postgres needs Debian's postgresql package (initdb, pg_ctl)")
        rng = random.Random(args.seed)
        targets = [t for t in args.targets.split(",")
                   if t in TARGETS and (t != "postgres" or backend == "postgres")
                   and (t != "ray_worker" or args.ray)]
        # every (target, moment) pair once per round, in a random order: a short run
        # still covers the table
        plan: list[tuple[str, str]] = []
        while len(plan) < args.kills:
            pairs = [(t, m) for t in targets for m in args.moments.split(",") if m in MOMENTS
                     and (t != "ray_worker" or m == "search")]  # trials run only then
            rng.shuffle(pairs)
            plan += pairs
        plan = plan[:args.kills]
        lanes = max(1, min(args.lanes, len(plan)))
        started = time.monotonic()
        args.stop_at = started + 60 * args.minutes if args.minutes else float("inf")
        numbered = list(enumerate(plan))
        with ThreadPoolExecutor(lanes) as pool:
            futures = [pool.submit(run_lane, backend, args, lane, numbered[lane::lanes],
                                   random.Random(args.seed * 1000 + lane))
                       for lane in range(lanes)]
            outcomes = [o for future in futures for o in future.result()]
        _print(backend + (" on Ray" if args.ray else ""), outcomes, time.monotonic() - started)


def run_lane(backend: str, args: argparse.Namespace, lane: int,
             plan: list[tuple[int, tuple[str, str]]], rng: random.Random) -> list[Outcome]:
    """One lane: a server (on a Ray cluster with `--ray`) and its jobs, one after another."""
    folder = Path(tempfile.mkdtemp(prefix=f"mlpilot-chaos-{backend}-"))
    cluster = RayCluster(nodes=2, cpus=1).start() if args.ray else None
    try:
        harness = Harness(backend, args.budget, folder, cluster and cluster.address,
                          args.start_timeout, args.base_fraction)
    except BaseException:
        if cluster:
            cluster.stop()
        raise
    outcomes = []
    try:
        for number, (target, moment) in plan:
            if time.monotonic() > args.stop_at:
                print(f"  {backend} lane {lane}: out of time after {len(outcomes)} jobs",
                      file=sys.stderr, flush=True)
                break
            outcome = harness.run(number, target, moment, rng, args.timeout)
            outcomes.append(outcome)
            print(f"  {backend} #{number} (lane {lane}): kill {target} at {moment}: "
                  f"{'; '.join(outcome.problems) or 'ok'}", file=sys.stderr, flush=True)
    finally:
        harness.close()
        if cluster:
            cluster.stop()
    shutil.rmtree(folder, ignore_errors=True)
    return outcomes


def _print(backend: str, outcomes: list[Outcome], seconds: float) -> None:
    cells: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        cells[(outcome.target, outcome.moment)].append(outcome)
    print(f"\nmlpilot chaos on {backend}: {len(outcomes)} jobs, one kill -9 each, "
          f"{seconds:.0f} s; cell: resumed and identical / killed "
          "(duplicated effects, orphaned)\n")
    targets = sorted({o.target for o in outcomes}, key=TARGETS.index)
    print("| target | " + " | ".join(MOMENTS) + " | all |")
    print("| --- " * (len(MOMENTS) + 2) + "|")
    for target in targets:
        row = [_cell(cells[(target, m)]) for m in MOMENTS]
        everything = [o for o in outcomes if o.target == target]
        print(f"| {target} | " + " | ".join(row) + f" | {_cell(everything)} |")
    print("| all | " + " | ".join(_cell([o for o in outcomes if o.moment == m])
                                   for m in MOMENTS) + f" | {_cell(outcomes)} |")
    killed = [o for o in outcomes if o.killed]
    good = sum(not o.problems for o in killed)
    print(f"\nresumed to an unkilled run's end state: {good}/{len(killed)} "
          f"({100 * good / max(1, len(killed)):.0f}%); duplicated effects: "
          f"{sum(o.duplicated for o in outcomes)}; orphaned: {sum(o.orphaned for o in outcomes)}")
    reasons = Counter(p for o in outcomes for p in o.problems)
    for reason, count in reasons.most_common():
        print(f"  {count} x {reason}")


def _cell(outcomes: list[Outcome]) -> str:
    killed = [o for o in outcomes if o.killed]
    if not outcomes:
        return "-"
    good = sum(not o.problems for o in killed)
    return (f"{good}/{len(killed)} ({sum(o.duplicated for o in outcomes)}, "
            f"{sum(o.orphaned for o in outcomes)})")


if __name__ == "__main__":
    main()
