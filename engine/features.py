"""Generated feature transforms saved with a model, and run only in the sandbox.

A transform is Python source text (an agent's, or a template's; `pd` and `np` are
pandas and numpy without an import) of one of two forms:

    def transform(df: pd.DataFrame) -> pd.DataFrame            # stateless

    def fit(df: pd.DataFrame) -> pd.DataFrame                  # fitted: statistics of the
    def transform(df, state: pd.DataFrame) -> pd.DataFrame     # training rows, as a table

`transform` returns the rows of `df` in the same order with new columns added; only the
columns it adds are used (changes to existing ones are ignored), and the target column is
never in `df`. `fit` runs once, on training rows only; its table goes to every later
`transform` (validation, test and serving rows) as `state`.

`FeaturePipeline` holds fitted steps and applies them all in ONE sandboxed run (a
start-up of the sandbox per call, not per step). `FeaturedModel` is a saved model whose
rows go through its pipeline before its inner model: `TrainedModel.load` returns one for
a directory with `features.json`. The engine never runs generated code itself: every call
goes through `mlpilot.sandbox` (a leaf package that imports nothing of mlpilot), and where
the sandbox cannot start, prediction fails with its one-line reason.

A saved featured model is a folder: `features.json` (the steps: name, origin, the columns
each reads and adds, the code's hash), `steps/<i>.py` (the code), `steps/<i>.state.parquet`
(a fitted step's state), and `model/` (the inner model, any kind `TrainedModel.load` reads).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .encoding import RawRows
from .input_schema import InputColumn
from .scores import PredictsFromScores

FEATURES_FILE = "features.json"
FORMAT_VERSION = 1
#: The program the sandbox runs to apply several steps in one start-up: each step's code
#: is compiled in a namespace of its own, sees the raw frame only, and only the columns
#: it adds are returned (prefixed by the step's number; the host renames them).
APPLY_PROGRAM = '''
import numpy as np
import pandas as pd

SOURCES = {sources}
FITTED = {fitted}


def apply(df, **states):
    added = {{}}
    for i, source in enumerate(SOURCES):
        namespace = {{"__name__": "step_%d" % i, "pd": pd, "np": np}}
        exec(compile(source, "step_%d.py" % i, "exec"), namespace)
        frame = df.copy()
        out = (namespace["transform"](frame, states["state_%d" % i]) if FITTED[i]
               else namespace["transform"](frame))
        if not isinstance(out, pd.DataFrame) or len(out) != len(df):
            raise ValueError("step %d: transform must return the %d rows it was given as a "
                             "DataFrame" % (i, len(df)))
        for name in out.columns:
            if name not in df.columns:
                added["%d|%s" % (i, name)] = out[name].to_numpy()
    return pd.DataFrame(added, index=range(len(df)))
'''
#: Around a fitted step's code to run its `fit` (pandas and numpy are there as pd and np,
#: as in the apply program).
FIT_PROGRAM_PREFIX = "import numpy as np\nimport pandas as pd\n"
FIT_PROGRAM_SUFFIX = '''

def _fit_state(df):
    state = fit(df)
    if not isinstance(state, pd.DataFrame):
        raise TypeError("fit must return its statistics as a pandas DataFrame")
    return state
'''


@dataclass
class FeatureStep:
    """One transform: its code, the raw columns it reads, the columns it adds and, for a
    fitted step, the state `fit` returned on the training rows."""

    name: str
    source: str
    reads: list[str]
    fits: bool = False
    adds: list[str] = field(default_factory=list)
    state: pd.DataFrame | None = None
    origin: str = "template"  # "template:<name>" or "llm"
    why: str = ""

    @property
    def sha256(self) -> str:
        """The hash of the code (what the sandbox audit records too)."""
        return hashlib.sha256(self.source.encode()).hexdigest()


class FeaturePipeline:
    """Fitted steps applied together in one sandboxed run.

    `columns` are the raw input columns the steps read that a prediction must carry
    (kind and gaps as in `input_schema`), kept for a model whose inner preprocessor does
    not read them itself (free text, for one).
    """

    def __init__(self, steps: list[FeatureStep], columns: list[InputColumn] | None = None,
                 *, limits: Any = None):
        self.steps = list(steps)
        self.columns = list(columns or [])
        self.limits = limits

    @property
    def reads(self) -> list[str]:
        """Every raw column some step reads, in first-use order."""
        return list(dict.fromkeys(c for s in self.steps for c in s.reads))

    @property
    def adds(self) -> list[str]:
        """Every column the steps add."""
        return [c for s in self.steps for c in s.adds]

    def fit(self, train: pd.DataFrame, *, purpose: str = "feature fit") -> FeaturePipeline:
        """A copy whose fitted steps hold `fit`'s state on `train` (training rows only),
        each from a sandboxed run; raises `FeatureError` when one fails."""
        steps = []
        for step in self.steps:
            if step.fits:
                result = _run(FIT_PROGRAM_PREFIX + step.source + FIT_PROGRAM_SUFFIX,
                              {"df": _inputs(train, step.reads)},
                              "_fit_state", self.limits, f"{purpose}: {step.name}")
                step = replace(step, state=result)
            steps.append(step)
        return FeaturePipeline(steps, self.columns, limits=self.limits)

    def added_columns(self, df: pd.DataFrame, *, purpose: str = "feature transform"
                      ) -> pd.DataFrame:
        """The columns the steps add for the rows of `df` (same index), one sandboxed run.

        The step's own column names are kept; a name two steps add, or one `df` has
        already, gets the step's name as a suffix. Raises `FeatureError`."""
        if not self.steps:
            return pd.DataFrame(index=df.index)
        inputs = {"df": _inputs(df, self.reads)}
        for i, step in enumerate(self.steps):
            if step.fits:
                if step.state is None:
                    raise FeatureError(f"step {step.name!r} is not fitted: call fit first")
                inputs[f"state_{i}"] = step.state
        out = _run(self.program(), inputs, "apply", self.limits, purpose)
        if len(out) != len(df):
            raise FeatureError(f"the transforms returned {len(out)} rows for {len(df)}")
        out.index = df.index
        renamed, taken = {}, set(df.columns)
        adds: dict[int, list[str]] = {}
        for column in out.columns:
            index, name = column.split("|", 1)
            if name in taken:
                name = f"{name}__{self.steps[int(index)].name}"
            taken.add(name)
            renamed[column] = name
            adds.setdefault(int(index), []).append(name)
        for i, step in enumerate(self.steps):
            if not step.adds:  # the first application records each step's columns
                step.adds = adds.get(i, [])
        return out.rename(columns=renamed)

    def apply(self, df: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
        """`df` with the steps' columns added (see `added_columns`)."""
        added = self.added_columns(df, **kwargs)
        return pd.concat([df, added], axis=1) if len(added.columns) else df

    def program(self) -> str:
        """The source the sandbox runs to apply every step."""
        return APPLY_PROGRAM.format(sources=repr([s.source for s in self.steps]),
                                    fitted=repr([s.fits for s in self.steps]))

    def save(self, directory: Path) -> None:
        """Write `features.json` and `steps/` into `directory`."""
        folder = directory / "steps"
        folder.mkdir(parents=True, exist_ok=True)
        for i, step in enumerate(self.steps):
            (folder / f"{i}.py").write_text(step.source)
            if step.state is not None:
                step.state.to_parquet(folder / f"{i}.state.parquet", index=False)
        spec = {"format": FORMAT_VERSION,
                "steps": [{"name": s.name, "reads": s.reads, "adds": s.adds, "fits": s.fits,
                           "origin": s.origin, "why": s.why, "sha256": s.sha256}
                          for s in self.steps],
                "columns": [c.__dict__ for c in self.columns]}
        (directory / FEATURES_FILE).write_text(json.dumps(spec, indent=2, default=str))

    @classmethod
    def load(cls, directory: Path) -> FeaturePipeline:
        """Read what `save` wrote; a step whose code no longer matches its hash is refused."""
        spec = json.loads((directory / FEATURES_FILE).read_text())
        steps = []
        for i, entry in enumerate(spec["steps"]):
            source = (directory / "steps" / f"{i}.py").read_text()
            step = FeatureStep(name=entry["name"], source=source, reads=entry["reads"],
                               fits=entry["fits"], adds=entry["adds"], origin=entry["origin"],
                               why=entry.get("why", ""))
            if step.sha256 != entry["sha256"]:
                raise FeatureError(f"the code of feature step {step.name!r} in '{directory}' "
                                   "changed since it was approved: retrain the model")
            state = directory / "steps" / f"{i}.state.parquet"
            if step.fits:
                step.state = pd.read_parquet(state)
            steps.append(step)
        return cls(steps, [InputColumn(**c) for c in spec.get("columns", [])])


class FeatureError(RuntimeError):
    """A feature transform failed (or could not run isolated); one line says which and why."""


class FeaturedModel(PredictsFromScores):
    """A model whose raw rows first go through generated feature transforms (in the
    sandbox); predicts, saves and loads like a `TrainedModel`."""

    def __init__(self, pipeline: FeaturePipeline, model: Any):
        self.pipeline = pipeline
        self.model = model
        self.task = model.task

    @property
    def config(self):
        """The inner model's config (for reports)."""
        return self.model.config

    @property
    def classes(self) -> list | None:
        """Class labels in the order of `predict_proba` columns; None for regression."""
        return self.model.classes

    def input_columns(self) -> list[InputColumn]:
        """The raw columns a prediction must carry: the inner model's, less those the
        transforms add, plus those the transforms read."""
        from .input_schema import input_columns

        added = set(self.pipeline.adds)
        inner = [c for c in input_columns(self.model) if c.name not in added]
        names = {c.name for c in inner}
        return inner + [c for c in self.pipeline.columns if c.name not in names]

    def predict_scores(self, df: pd.DataFrame | RawRows) -> np.ndarray:
        """Scores of the inner model for `df` with the transforms' columns added. Serving
        hands checked rows as `RawRows`: the transforms get them as a DataFrame with the
        column types inferred, as a file read would give them."""
        if isinstance(df, RawRows):
            df = df.to_frame().infer_objects()
        return self.model.predict_scores(self.pipeline.apply(df, purpose="feature serving"))

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Like `predict_scores`, for rows already transformed and encoded."""
        return self.model.scores(X)

    def save(self, directory: str | Path) -> Path:
        """Write the pipeline and the inner model (`model/`) to `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save(directory / "model")
        self.pipeline.save(directory)
        (directory / "task.json").write_text(self.task.model_dump_json(indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> FeaturedModel:
        """Read a featured model written by `save` (or by `attach_features`)."""
        from .predictor import TrainedModel  # predictor imports this module

        directory = Path(directory)
        return cls(FeaturePipeline.load(directory), TrainedModel.load(directory / "model"))


def attach_features(directory: Path, pipeline: FeaturePipeline) -> Path:
    """Make `directory`, whose `model/` holds a saved model, a featured model's folder."""
    pipeline.save(directory)
    task = directory / "model" / "task.json"
    if task.is_file():
        (directory / "task.json").write_text(task.read_text())
    return directory


def _inputs(df: pd.DataFrame, reads: list[str]) -> pd.DataFrame:
    """The columns the steps read (those present), with a fresh index: the sandbox sees
    nothing else of the rows."""
    return df[[c for c in reads if c in df.columns]].reset_index(drop=True)


def _run(source: str, inputs: dict[str, pd.DataFrame], function: str, limits: Any,
         purpose: str) -> pd.DataFrame:
    """Run `function` of `source` in the sandbox; its table, or `FeatureError`."""
    from mlpilot.sandbox import SandboxUnavailable, run_function  # the one place code runs

    try:
        result = run_function(source, inputs, function=function, limits=limits, purpose=purpose)
    except SandboxUnavailable as err:
        raise FeatureError(f"{purpose}: {err}") from None
    if not result.ok:
        how = result.stopped_by and f"stopped by the {result.stopped_by} limit"
        raise FeatureError(f"{purpose} failed: {how or result.error or result.outcome}: "
                           f"{result.message}".rstrip(": "))
    return result.frame
