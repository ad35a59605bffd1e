"""Compression for serving: a slow bag, ensemble or stack distilled into one small network.

`compress` measures the teacher (a `TrainedModel` or `EnsembleModel`): its saved size, its
p95 latency for one-row requests and its test score. When the latency is over the
budget, it trains a student MLP on the teacher's soft predictions for the training rows
(probabilities for classification, values for regression: Hinton et al. 2015, Bucila
et al. 2006), then quantises the student's Linear layers to int8 (PyTorch dynamic
quantisation). A student is kept only when its test score is within `tolerance` of the
teacher's; the int8 one is preferred when it also is. Otherwise the teacher stays, and the
report says why.

A saved student is a `TrainedModel` directory plus `student.json`; `TrainedModel.load`
returns a `StudentModel` for it, so serving code needs no branch.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from . import metrics
from .config import ModelConfig, TaskSpec, TrainingConfig
from .input_schema import RowError, input_columns, rows_columns
from .models import build_model
from .predictor import STUDENT_FILE, TrainedModel
from .scores import score_predictions
from .training import SINGLE_THREAD_WORK, _cpu_threads

#: The largest loss of test score a student may have against its teacher.
TOLERANCE = 0.01
#: One-row requests timed per model for the p95 latency.
LATENCY_REQUESTS = 50


@dataclass
class ModelStats:
    """One model's saved size (bytes), p95 one-row latency (ms) and test score."""

    size_bytes: int
    p95_ms: float
    score: float


@dataclass
class CompressionReport:
    """What `compress` measured and kept.

    `kept` is "teacher", "student" (float32) or "int8" (the quantised student); `model`
    is that model; `reason` says why in one line. `student` and `int8` are None when no
    student was trained (the teacher was already fast enough).
    """

    metric: str
    teacher: ModelStats
    kept: str
    reason: str
    model: object = field(repr=False)
    student: ModelStats | None = None
    int8: ModelStats | None = None

    @property
    def kept_stats(self) -> ModelStats:
        """The stats of the kept model."""
        return {"teacher": self.teacher, "student": self.student, "int8": self.int8}[self.kept]

    def as_dict(self) -> dict:
        """JSON-ready report (without the model)."""
        out = {"metric": self.metric, "kept": self.kept, "reason": self.reason,
               "teacher": asdict(self.teacher)}
        for name in ("student", "int8"):
            stats = getattr(self, name)
            out[name] = asdict(stats) if stats is not None else None
        kept = self.kept_stats
        out["size_ratio"] = kept.size_bytes / max(self.teacher.size_bytes, 1)
        out["speedup"] = self.teacher.p95_ms / kept.p95_ms if kept.p95_ms > 0 else math.inf
        return out


class _Standardize(nn.Module):
    """Centres and scales the numeric columns (the first `n_numeric`): a tree teacher's
    preprocessing may leave them unscaled, and the student's optimiser needs them scaled."""

    def __init__(self, n_inputs: int, n_numeric: int):
        super().__init__()
        self.n_numeric = n_numeric
        self.register_buffer("mean", torch.zeros(n_numeric))
        self.register_buffer("std", torch.ones(n_numeric))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        numeric = (x[:, :self.n_numeric] - self.mean) / self.std
        return torch.cat([numeric, x[:, self.n_numeric:]], dim=1)


class StudentModel(TrainedModel):
    """A distilled network, float32 or int8 (dynamic quantisation of its Linear layers),
    that predicts, saves and loads like a `TrainedModel`; always on the CPU."""

    def __init__(self, task: TaskSpec, config: TrainingConfig, preprocessor, model: nn.Module,
                 *, quantized: bool = False):
        super().__init__(task, config, preprocessor, model)
        self.quantized = quantized

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Probabilities or original-scale values for rows encoded by the preprocessor."""
        with torch.inference_mode():
            out = self.model(torch.from_numpy(np.require(X, np.float32, ["C"])))
        if self.classes is not None:
            return torch.softmax(out, dim=1).numpy()
        return self.preprocessor.decode_target(out[:, 0].numpy())

    def quantize(self) -> StudentModel:
        """A copy with int8 weights in every Linear layer (activations quantised per batch)."""
        return StudentModel(self.task, self.config, self.preprocessor,
                            _quantize(copy.deepcopy(self.model)), quantized=True)

    def save(self, directory: str | Path) -> Path:
        """Write the student to `directory` (created if needed) and return its path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), directory / "model.pt")
        with open(directory / "preprocessor.pkl", "wb") as fh:
            pickle.dump(self.preprocessor, fh)
        (directory / "config.json").write_text(self.config.model_dump_json(indent=2))
        (directory / "task.json").write_text(self.task.model_dump_json(indent=2))
        spec = {"quantized": self.quantized, "n_inputs": self.preprocessor.n_features,
                "n_outputs": len(self.classes) if self.classes is not None else 1,
                "classes": self.classes}
        (directory / STUDENT_FILE).write_text(json.dumps(spec, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> StudentModel:
        """Read a student written by `save`."""
        directory = Path(directory)
        if not (directory / STUDENT_FILE).is_file():
            raise FileNotFoundError(f"no saved student in '{directory}': pass a directory "
                                    "written by StudentModel.save")
        spec = json.loads((directory / STUDENT_FILE).read_text())
        config = TrainingConfig.model_validate_json((directory / "config.json").read_text())
        task = TaskSpec.model_validate_json((directory / "task.json").read_text())
        with open(directory / "preprocessor.pkl", "rb") as fh:
            preprocessor = pickle.load(fh)
        model = _network(config.model, preprocessor, spec["n_inputs"], spec["n_outputs"])
        if spec["quantized"]:
            model = _quantize(model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's deprecation notes on quantised storage
            state = torch.load(directory / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        return cls(task, config, preprocessor, model, quantized=spec["quantized"])


@dataclass
class CompressionRows:
    """The rows compression reads, encoded by the teacher's preprocessor: `X_train` (the
    student learns the teacher's predictions on them), `X_test` with `y_test` (true labels or
    values on the original scale, for the scores), and raw `timing_rows` (features only) that
    one-row requests are timed on, preprocessing included."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    timing_rows: pd.DataFrame

    @classmethod
    def from_frames(cls, teacher, train_df: pd.DataFrame, test_df: pd.DataFrame,
                    task: TaskSpec) -> CompressionRows:
        """Encode raw training and test rows (the test rows with the target column)."""
        if task.target not in test_df.columns:
            raise ValueError(f"test rows lack the target column '{task.target}': pass the "
                             "held-out test rows with their true values")
        pre = _first_leaf(teacher).preprocessor
        features = test_df.drop(columns=[task.target])
        return cls(pre.transform(train_df.drop(columns=[task.target], errors="ignore")),
                   pre.transform(features), test_df[task.target].to_numpy(), features)


def compress(teacher, train_df: pd.DataFrame, test_df: pd.DataFrame, task: TaskSpec, *,
             p95_budget_ms: float | None = None, tolerance: float = TOLERANCE,
             hidden_sizes: Sequence[int] = (128, 128), epochs: int = 60,
             max_seconds: float | None = None, seed: int = 0,
             requests: int = LATENCY_REQUESTS,
             clock: Callable[[], float] = time.perf_counter) -> CompressionReport:
    """Distil `teacher` into one network and quantise it, keeping it only when it scores
    within `tolerance` of the teacher on `test_df`.

    Args:
        teacher: the kept model, a `TrainedModel` or `EnsembleModel` (a bag, ensemble or stack).
        train_df: raw training rows; the teacher's predictions on them are the student's targets.
        test_df: raw test rows with the target column; scores and latency are measured on them.
        task: the task (target column, task type and the metric the scores use).
        p95_budget_ms: when set, a teacher whose p95 one-row latency is within it is kept
            as it is, untouched.
        tolerance: the most test score the student may lose against the teacher.
        hidden_sizes: the student MLP's hidden layers.
        epochs: passes over the training rows; `max_seconds` stops training sooner.
        seed: seeds the student's initialisation and batch order.
        requests: one-row requests timed per model for the p95 latency.
        clock: seconds, for latency (injectable for tests).
    """
    rows = CompressionRows.from_frames(teacher, train_df, test_df, task)
    return compress_rows(teacher, rows, task, p95_budget_ms=p95_budget_ms, tolerance=tolerance,
                         hidden_sizes=hidden_sizes, epochs=epochs, max_seconds=max_seconds,
                         seed=seed, requests=requests, clock=clock)


def compress_rows(teacher, rows: CompressionRows, task: TaskSpec, *,
                  p95_budget_ms: float | None = None, tolerance: float = TOLERANCE,
                  hidden_sizes: Sequence[int] = (128, 128), epochs: int = 60,
                  max_seconds: float | None = None, seed: int = 0,
                  requests: int = LATENCY_REQUESTS,
                  clock: Callable[[], float] = time.perf_counter) -> CompressionReport:
    """`compress` for rows encoded already (a job's prepared data): the same arguments, with
    `rows` in place of the raw training and test frames."""

    def stats(model) -> ModelStats:
        score = score_predictions(task, rows.y_test, model.scores(rows.X_test), model.classes)
        return ModelStats(saved_bytes(model),
                          p95_latency_ms(model, rows.timing_rows, requests, clock), float(score))

    before = stats(teacher)
    if p95_budget_ms is not None and before.p95_ms <= p95_budget_ms:
        return CompressionReport(task.metric, before, "teacher",
                                 f"p95 {before.p95_ms:.2f} ms is within the budget "
                                 f"{p95_budget_ms:g} ms: nothing to compress", teacher)
    student = distil_rows(teacher, rows.X_train, task, hidden_sizes=hidden_sizes, epochs=epochs,
                          max_seconds=max_seconds, seed=seed)
    int8 = student.quantize()
    float_stats, int8_stats = stats(student), stats(int8)
    report = CompressionReport(task.metric, before, "teacher", "", teacher, float_stats, int8_stats)
    for name, model, after in (("int8", int8, int8_stats), ("student", student, float_stats)):
        if _within(task.metric, after.score, before.score, tolerance):
            report.kept, report.model = name, model
            report.reason = (f"the {name} student scores {after.score:.4f} {task.metric} against "
                             f"the teacher's {before.score:.4f} (within {tolerance:g})")
            if p95_budget_ms is not None and after.p95_ms > p95_budget_ms:
                report.reason += (f"; its p95 {after.p95_ms:.2f} ms is still over the budget "
                                  f"{p95_budget_ms:g} ms")
            return report
    report.reason = (f"kept the teacher: the student scores {float_stats.score:.4f} and its int8 "
                     f"copy {int8_stats.score:.4f} {task.metric}, more than {tolerance:g} worse "
                     f"than the teacher's {before.score:.4f}")
    return report


def distil(teacher, train_features: pd.DataFrame, task: TaskSpec, **options) -> StudentModel:
    """A float32 MLP trained to match `teacher`'s scores on `train_features` (raw rows);
    `options` are `distil_rows`'."""
    X = _first_leaf(teacher).preprocessor.transform(train_features)
    return distil_rows(teacher, X, task, **options)


def distil_rows(teacher, X_train: np.ndarray, task: TaskSpec, *,
                hidden_sizes: Sequence[int] = (128, 128), epochs: int = 60,
                max_seconds: float | None = None, seed: int = 0, batch_size: int = 128,
                learning_rate: float = 3e-3) -> StudentModel:
    """A float32 MLP trained to match `teacher`'s scores on `X_train` (rows encoded by the
    preprocessor of the teacher's first model, which the student then reads rows through).

    Classification minimises the cross-entropy to the teacher's probabilities; regression
    the squared error to its predictions in the preprocessor's target space.
    """
    preprocessor = _first_leaf(teacher).preprocessor
    X = np.require(X_train, np.float32, ["C"])
    soft = np.asarray(teacher.scores(X))
    if task.is_classification:
        targets = torch.from_numpy(soft.astype(np.float32))
        n_outputs = soft.shape[1]
    else:
        targets = torch.from_numpy(preprocessor.encode_target(soft).astype(np.float32))[:, None]
        n_outputs = 1
    config = _first_leaf(teacher).config.model_copy(update={
        "model": ModelConfig(family="mlp", hidden_sizes=list(hidden_sizes), dropout=0.0),
        "trees": None, "forest": None, "booster": None, "seed": seed})
    torch.manual_seed(seed)
    net = _network(config.model, preprocessor, X.shape[1], n_outputs)
    scaler = net[0]
    numeric = X[:, :scaler.n_numeric]
    scaler.mean.copy_(torch.from_numpy(numeric.mean(axis=0)))
    scaler.std.copy_(torch.from_numpy(np.maximum(numeric.std(axis=0), 1e-6)))
    small = batch_size * sum(p.numel() for p in net.parameters()) < SINGLE_THREAD_WORK
    with _cpu_threads(1 if small else None):  # as `training.fit` does for a small network
        _train(net, torch.from_numpy(X), targets, task.is_classification, epochs=epochs,
               max_seconds=max_seconds, batch_size=batch_size, learning_rate=learning_rate,
               seed=seed)
    return StudentModel(task, config, preprocessor, net.eval())


def is_composite(model) -> bool:
    """Whether `model` combines several models (a bag, an ensemble or a stack): what
    compression is for."""
    members = getattr(model, "models", None)
    return bool(members) and (len(members) > 1 or is_composite(members[0]))


def p95_latency_ms(model, features: pd.DataFrame, requests: int = LATENCY_REQUESTS,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """The 95th percentile of the milliseconds one raw row takes, as serving predicts it
    (checked into `RawRows` against the model's input columns, then `model.predict`), over
    `requests` requests cycling through `features` (after one untimed warm-up)."""
    if features.empty:
        raise ValueError("no rows to time: pass at least one row")
    # one thread, as a `serve-model` process runs (OMP_NUM_THREADS=1): thread pools would
    # only time how busy the machine's other cores are
    with threadpool_limits(limits=1), _cpu_threads(1):
        return _p95_ms(model, features, requests, clock)


def _p95_ms(model, features: pd.DataFrame, requests: int, clock: Callable[[], float]) -> float:
    columns = input_columns(model)
    records = features.astype(object).where(features.notna(), None).to_dict("records")

    def predict(i: int) -> None:
        model.predict(rows_columns([records[i % len(records)]], columns, allow_missing=True))

    try:
        predict(0)
    except RowError:  # values JSON would not carry (timestamps): time the frame's rows

        def predict(i: int) -> None:
            model.predict(features.iloc[[i % len(features)]])

        predict(0)
    times = []
    for i in range(requests):
        start = clock()
        predict(i)
        times.append((clock() - start) * 1000.0)
    return float(np.percentile(times, 95))


def saved_bytes(model) -> int:
    """Bytes of the directory `model.save` writes (weights, preprocessor and metadata)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(Path(tmp) / "model")
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _within(metric: str, score: float, reference: float, tolerance: float) -> bool:
    if not (math.isfinite(score) and math.isfinite(reference)):
        return False
    loss = score - reference if metric in metrics.LOWER_IS_BETTER else reference - score
    return loss <= tolerance


def _first_leaf(teacher) -> TrainedModel:
    while hasattr(teacher, "models"):  # an ensemble (of bags): its first member's first model
        teacher = teacher.models[0]
    return teacher


def _network(config: ModelConfig, preprocessor, n_inputs: int, n_outputs: int) -> nn.Sequential:
    cards = preprocessor.categorical_cardinalities if preprocessor.embeds_categories else None
    n_numeric = n_inputs - len(cards or ())
    return nn.Sequential(_Standardize(n_inputs, n_numeric),
                         build_model(config, n_inputs, n_outputs, categorical_cardinalities=cards))


def _train(net: nn.Module, X: torch.Tensor, targets: torch.Tensor, classification: bool, *,
           epochs: int, max_seconds: float | None, batch_size: int, learning_rate: float,
           seed: int) -> None:
    optimizer = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=1e-5)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    generator = torch.Generator().manual_seed(seed)
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    loss_fn = nn.functional.cross_entropy if classification else nn.functional.mse_loss
    net.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(X), generator=generator).split(batch_size):
            optimizer.zero_grad()
            loss_fn(net(X[batch]), targets[batch]).backward()
            optimizer.step()
        schedule.step()
        if deadline is not None and time.monotonic() > deadline:
            break
    net.eval()


def _quantize(model: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao, which is not a dependency
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model.eval(), {nn.Linear}, dtype=torch.qint8)

