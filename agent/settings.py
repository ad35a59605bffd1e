"""Settings for one mlpilot installation, read from `MLPILOT_*` environment variables.

Everything defaults to one offline machine: a data directory `./.mlpilot` holding the
SQLite stores, the local MLflow store and the embedded ChromaDB knowledge base.
`MLPILOT_DATABASE_URL=postgresql://...` moves the state to PostgreSQL instead: the store
of jobs, approvals and events, LangGraph's checkpoints, Optuna's studies, MLflow's
tracking and registry, and the experience store (files stay in the data directory:
models, MLflow's artifacts, the knowledge base).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mlpilot.engine.sql import is_postgres, sqlalchemy_url

LLMProvider = Literal["auto", "offline", "openai", "anthropic", "openai_compatible"]
Role = Literal["viewer", "operator", "approver"]


class ApiKey(BaseModel):
    """Who holds an API key: a role, and a name recorded with the decisions they make."""

    role: Role
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_role(cls, value: object) -> object:
        return {"role": value} if isinstance(value, str) else value


class Settings(BaseSettings):
    """Where mlpilot keeps its state, which LLM it talks to, and the limits it enforces."""

    model_config = SettingsConfigDict(env_prefix="MLPILOT_", extra="ignore")

    data_dir: Path = Field(default=Path(".mlpilot"), description="Root of all local state.")
    database_url: str | None = Field(
        default=None, description="PostgreSQL database (postgresql://user:password@host:port/"
        "db) for all state; default: SQLite files under data_dir."
    )
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; default: the database (a schema "
        "`mlflow` of it), else SQLite under data_dir."
    )

    llm_provider: LLMProvider = "auto"
    llm_model: str | None = Field(default=None, description="Model name for the chosen provider.")
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible server (Ollama, vLLM, llama.cpp)."
    )
    llm_api_key: str | None = Field(default=None, description="Key for llm_base_url, if it needs one.")
    openai_api_key: str | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    anthropic_api_key: str | None = Field(default=None, validation_alias="ANTHROPIC_API_KEY")
    llm_temperature: float = 0.0

    default_budget_s: float = Field(default=60.0, gt=0, description="Budget when none is stated.")
    approval_budget_s: float = Field(
        default=600.0, gt=0, description="Training budgets above this wait for a human's approval."
    )
    hard_budget_s: float = Field(
        default=4 * 3600.0, gt=0, description="Budgets above this can never be pre-approved."
    )
    max_memory_mb: float = Field(default=4096.0, gt=0, description="Memory a job may plan to use.")
    max_repair_rounds: int = Field(default=3, ge=1, le=10)
    max_fault_fixes: int = Field(default=3, ge=1, le=10)
    train_in_subprocess: bool = Field(
        default=False, description="Train the base config in a worker process; if it dies, the "
        "fault doctor restarts it from its last checkpoint."
    )
    train_memory_limit_mb: float | None = Field(
        default=None, gt=0, description="Most memory one training step may need (weights, "
        "optimiser state, one batch's activations); a bigger step is an out-of-memory fault."
    )
    trial_slice_s: float | None = Field(
        default=None, gt=0, description="Most seconds one search trial may train; a trial "
        "stopped by it is a trial_timeout fault for the fault doctor. Default: half of the "
        "search time left, and a trial cut short by that is only noted."
    )
    approval_ttl_s: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="A pending approval expires (= rejected) after this."
    )
    approval_poll_s: float = Field(default=1.0, gt=0)
    warm_start: bool = Field(
        default=True, description="Start each search from the configs of similar past runs."
    )
    feature_engineering: bool = Field(
        default=True, description="Propose feature transforms as code (templates, or the LLM's), "
        "keep those that raise the cross-validated score, run them in the sandbox "
        "(`agent/feature_engineer.py`).")
    feature_share: float = Field(
        default=0.1, ge=0, le=0.5, description="Share of a job's budget feature engineering "
        "may spend (it starts only when this is at least 3 s).")
    warm_start_max_distance: float = Field(
        default=1.0, gt=0, description="Past runs whose data is further than this (standardised "
        "meta-feature distance) are not used for warm starts."
    )

    # -- the server (`mlpilot serve`) ---------------------------------------------------
    api_keys: dict[str, ApiKey] = Field(
        default_factory=dict, description="API keys of the REST API, key -> role (viewer, "
        "operator, approver) or {\"role\": ..., \"name\": ...}; JSON in MLPILOT_API_KEYS. "
        "With none, every request but /health is refused.")
    workers: int = Field(default=2, ge=0, le=64,
                         description="Job workers of the server (0: accept jobs, run none).")
    worker_mode: Literal["process", "thread"] = Field(
        default="process", description="Workers in processes of their own (training does not "
        "slow the API down), or in threads of the server (start at once, share memory).")
    # -- scale out on Ray (`agent/ray_cluster.py`) ---------------------------------------
    ray_address: str | None = Field(
        default=None, description="Ray cluster for job workers and search trials: \"auto\" "
        "(the cluster this machine is part of), \"HOST:PORT\" or \"ray://HOST:10001\"; unset: "
        "local processes, and Ray is never imported.")
    ray_trial_workers: int | None = Field(
        default=None, ge=1, le=256, description="Trials of one search in flight at once on Ray; "
        "default: the cluster's CPUs over ray_trial_cpus.")
    ray_trial_cpus: float = Field(default=1.0, gt=0, description="CPUs one trial's Ray task "
                                  "asks for.")
    ray_trial_gpus: float = Field(default=0.0, ge=0, description="GPUs one trial's Ray task "
                                  "asks for (a fraction, e.g. 0.25, shares a GPU).")
    ray_worker_cpus: float = Field(
        default=0.0, ge=0, description="CPUs a job worker's Ray actor holds while it lives (0: "
        "it drives its job and leaves the cluster's CPUs to the trials it sends).")
    worker_poll_s: float = Field(default=0.5, gt=0, description="How often idle workers look "
                                 "for queued jobs and decided or expired approvals.")
    max_request_kb: int = Field(default=1024, gt=0, description="Largest JSON request body.")
    max_upload_mb: float = Field(default=100.0, gt=0, description="Largest uploaded data file.")
    open_docs: bool = Field(default=False, description="Serve /docs and /openapi.json without "
                            "a key (else they need one, or the pages' sign-in).")

    # -- deployments (`agent/deployments.py`) --------------------------------------------
    prediction_retention_days: float | None = Field(
        default=30.0, gt=0, description="Rows of the prediction log (and feedback) older than "
        "this are deleted; unset: kept for ever.")
    prediction_log_sample: float = Field(
        default=1.0, ge=0, le=1, description="Share of predicted rows whose inputs the log keeps "
        "whole (the drift monitor reads them); the others keep a hash of their inputs only.")
    promotion_min_feedback: int = Field(
        default=100, ge=1, description="Labelled predictions each of champion and challenger "
        "need before a promotion can be proposed.")
    promotion_z: float = Field(
        default=1.645, gt=0, description="How many standard errors worse the challenger may "
        "look on feedback and still count as not worse (noise).")
    drift_psi_threshold: float = Field(
        default=0.2, gt=0, description="PSI (numeric) at or above which a feature has drifted.")
    drift_tv_threshold: float = Field(
        default=0.2, gt=0, description="Total variation (categorical) at or above which a "
        "feature has drifted.")
    drift_performance_threshold: float = Field(
        default=0.1, gt=0, description="Relative degradation of the live metric on labelled "
        "feedback against the training-time test score (0.1: a tenth worse) at or above which "
        "the model's performance has drifted.")
    drift_min_feedback: int = Field(
        default=50, ge=1, description="Labelled predictions the drift monitor needs before it "
        "judges performance drift.")
    monitor_interval_s: float | None = Field(
        default=None, gt=0, description="`mlpilot serve` runs the drift monitor over every "
        "deployment this often (drift opens a retrain proposal); unset: only on demand.")
    serving_p95_ms: float | None = Field(
        default=None, gt=0, description="Serving latency budget: a job whose kept model is a "
        "bag, ensemble or stack with a p95 one-row latency over this many milliseconds distils "
        "it into one network (and tries int8), kept only within 0.01 of its test score; unset: "
        "never compressed.")
    drift_min_rows: int = Field(
        default=200, ge=10, description="Live rows the drift monitor needs before it judges.")

    datasets_dir: Path | None = Field(
        default=None, description="Folder that chat and Slack requests name datasets in "
        "(\"penguins.csv\", \"the customers dataset\")."
    )
    data_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="Folders the server and the chat read data from "
        "(comma- or colon-separated in MLPILOT_DATA_ROOTS); default: the datasets folder. The "
        "upload folder is always one. Paths outside them are refused; the CLI is not confined."
    )
    slack_bot_token: str | None = Field(
        default=None, description="Slack bot token (xoxb-...); with the signing secret it "
        "turns on the Slack bot at /slack/events."
    )
    slack_signing_secret: str | None = Field(
        default=None, description="Slack app signing secret: requests not signed with it get 401."
    )
    slack_approvers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Slack user ids that may approve or reject "
        "(comma-separated in MLPILOT_SLACK_APPROVERS)."
    )
    slack_deploy_channel: str | None = Field(
        default=None, description="Slack channel id where the bot posts deployment approvals "
        "(promotions, retrain proposals) with Approve / Reject buttons."
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", description="Slack Web API base URL."
    )

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is not None and not is_postgres(value):
            scheme = value.split("://", 1)[0] if "://" in value else value
            raise ValueError(f"MLPILOT_DATABASE_URL must be a postgresql:// URL, not {scheme!r}; "
                             "unset it to keep the state in SQLite files under the data dir")
        return value

    @field_validator("slack_approvers", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("data_roots", mode="before")
    @classmethod
    def _path_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.replace(",", os.pathsep).split(os.pathsep) if v.strip()]
        return value

    @property
    def upload_dir(self) -> Path:
        """Where the server keeps uploaded data files (always a data root)."""
        return self.data_dir / "uploads"

    def data_root_folders(self) -> list[Path]:
        """The data roots in force: `data_roots`, else the datasets folder; then the uploads."""
        roots = list(self.data_roots) or ([self.datasets_dir] if self.datasets_dir else [])
        return [*roots, self.upload_dir]

    @property
    def state_db(self) -> Path | str:
        """Where jobs, approvals, events and LangGraph checkpoints live: the database URL,
        else a SQLite file."""
        return self.database_url or self.data_dir / "state.sqlite"

    @property
    def prediction_db(self) -> Path | str:
        """Where the prediction log and feedback live (append-only): the database URL, else
        a SQLite file of their own."""
        return self.database_url or self.data_dir / "predictions.sqlite"

    @property
    def optuna_storage(self) -> str:
        """Optuna RDB storage URL (one study per job): a schema `optuna` of the database,
        else a SQLite file."""
        if self.database_url:
            return sqlalchemy_url(self.database_url, "optuna")
        return f"sqlite:///{(self.data_dir / 'optuna.sqlite').resolve()}"

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI in use: `mlflow_tracking_uri`, else a schema `mlflow` of
        the database, else a SQLite file."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        if self.database_url:
            return sqlalchemy_url(self.database_url, "mlflow")
        return f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_dir(self) -> Path:
        """Where MLflow keeps artifacts for the default local store."""
        return (self.data_dir / "mlartifacts").resolve()

    @property
    def artifact_location(self) -> str | None:
        """Where new MLflow experiments keep artifacts: the local folder, unless an explicit
        `mlflow_tracking_uri` (an MLflow server) decides."""
        return None if self.mlflow_tracking_uri else Path(self.artifact_dir).as_uri()

    @property
    def experience_db(self) -> Path | str:
        """The experience store (past runs' data and best configs): the database URL, else
        a SQLite file."""
        return self.database_url or self.data_dir / "experience.sqlite"

    @property
    def knowledge_dir(self) -> Path:
        """Embedded ChromaDB directory of the knowledge base."""
        return self.data_dir / "knowledge"

    def job_dir(self, job_id: str) -> Path:
        """Working directory of one job: checkpoints, saved models, reports."""
        return self.data_dir / "runs" / job_id

    def ensure_dirs(self) -> None:
        """Create the data directory tree."""
        for path in (self.data_dir, self.data_dir / "runs", self.knowledge_dir):
            path.mkdir(parents=True, exist_ok=True)


def resolve_provider(settings: Settings) -> str:
    """Which provider `auto` means here: a configured key or URL, else the offline expert."""
    if settings.llm_provider != "auto":
        return settings.llm_provider
    if settings.llm_base_url:
        return "openai_compatible"
    if settings.anthropic_api_key:
        return "anthropic"
    if settings.openai_api_key:
        return "openai"
    return "offline"
