"""Whether a proposed transform may be kept: it must not read the target, must fit only on
training rows, and must raise the cross-validated score beyond noise.

- **The target.** The code runs on frames without the target column, so it cannot read
  it; code that names the target is refused before it runs (`target_problem`).
- **Training rows only.** All candidates run in ONE sandboxed run over the training rows
  (`EVALUATE_PROGRAM`): per fold, a fitted transform's `fit` sees that fold's training
  rows only, and its `transform` makes the features of every row with that state. A probe
  applies each transform to a few held-out rows alone: a transform whose output for a row
  changes with the other rows it is given (it fits on whatever it sees, e.g. a mean
  taken in `transform`) is refused, since at serving time it would see one request.
- **Beyond noise.** The engine's boosted trees (`engine.trees.fit_trees`, on the engine's
  own encoding via `prepare_data`) are cross-validated with and without the candidate's
  columns on the same folds; the candidate is kept when the mean paired gain exceeds
  `NOISE_Z` standard errors of the per-fold gains and `MIN_GAIN`. Candidates that pass
  alone are then added best first, each kept only when it still gains over those before.
"""

from __future__ import annotations

import ast
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

from mlpilot.engine.config import LOWER_IS_BETTER, TaskSpec, TrainingConfig, TreeConfig
from mlpilot.engine.data import DataError
from mlpilot.engine.features import FeatureStep
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.scores import score_predictions
from mlpilot.engine.trees import fit_trees

FOLDS = 5
#: The cross-validation sees at most this many training rows.
CV_ROWS = 2000
#: Held-out rows per fold that the probe transforms alone.
PROBE_ROWS = 32
NOISE_Z = 2.5
#: Smallest mean gain kept: absolute for metrics bounded by 1, relative for rmse and mae.
MIN_GAIN = 0.001
#: The quick trees: few, fast rounds (the search trains the real models later).
QUICK_TREES = TreeConfig(learning_rate=0.2, max_iter=100, early_stopping_rounds=10)

EVALUATE_PROGRAM = '''
import numpy as np
import pandas as pd

SOURCES = {sources}
FITTED = {fitted}
PROBE = {probe}


def _added(namespace, fitted, frame, state):
    out = (namespace["transform"](frame.copy(), state) if fitted
           else namespace["transform"](frame.copy()))
    if not isinstance(out, pd.DataFrame) or len(out) != len(frame):
        raise ValueError("transform must return the %d rows it was given as a DataFrame"
                         % len(frame))
    return out[[c for c in out.columns if c not in frame.columns]].reset_index(drop=True)


def _block(added, i, fold, rows, probe):
    added = added.rename(columns=lambda c: "%d|%s" % (i, c))
    added.insert(0, "__cand", i)
    added.insert(1, "__fold", fold)
    added.insert(2, "__row", np.asarray(rows))
    added.insert(3, "__probe", int(probe))
    return added


def evaluate(df, folds):
    fold = folds["fold"].to_numpy()
    blocks = []
    for i, source in enumerate(SOURCES):
        try:
            namespace = {{"__name__": "candidate_%d" % i, "pd": pd, "np": np}}
            exec(compile(source, "candidate_%d.py" % i, "exec"), namespace)
            parts = []
            for k in (sorted(set(fold.tolist())) if FITTED[i] else [-1]):
                state = None
                if FITTED[i]:
                    state = namespace["fit"](df[fold != k].reset_index(drop=True))
                    if not isinstance(state, pd.DataFrame):
                        raise TypeError("fit must return a pandas DataFrame")
                parts.append(_block(_added(namespace, FITTED[i], df, state), i, k,
                                    range(len(df)), False))
                held = np.flatnonzero(fold == k) if FITTED[i] else np.arange(len(df))
                held = held[:: max(1, len(held) // PROBE)][:PROBE]
                alone = df.iloc[held].reset_index(drop=True)
                parts.append(_block(_added(namespace, FITTED[i], alone, state), i, k, held,
                                    True))
            blocks.extend(parts)
        except Exception as err:
            blocks.append(pd.DataFrame({{"__cand": [i], "__error": [
                "%s: %s" % (type(err).__name__, str(err)[:300])]}}))
    return pd.concat(blocks, ignore_index=True)
'''


def code_problem(source: str) -> str | None:
    """Why code cannot be a transform (None when it may be tried): it does not parse, or
    defines no `transform` taking what its form needs."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        return f"the code does not parse: {err.msg} (line {err.lineno})"
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    if "transform" not in functions:
        return "the code defines no function `transform(df)`"
    wanted = 2 if "fit" in functions else 1
    if len(functions["transform"].args.args) != wanted:
        return ("`transform` takes (df, state) with a `fit`" if wanted == 2
                else "`transform` takes (df) without a `fit`")
    return None


def target_problem(source: str, target: str) -> str | None:
    """Why code is leaky before it runs: it names the target column (it never gets the
    target; naming it means it was written to read it)."""
    if target in constants(ast.parse(source)):
        return f"it reads the target column {target!r}: a transform may not see the target"
    return None


def constants(tree: ast.AST) -> set[str]:
    """The string literals of the code (the column names it names)."""
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def reads_of(source: str, columns: list[str]) -> list[str]:
    """The columns code names as literals; all `columns` when it names none (it may read
    them by position or pattern)."""
    named = constants(ast.parse(source))
    found = [c for c in columns if c in named]
    return found or list(columns)


@dataclass
class Verdict:
    """What the checks found for one candidate: kept or not, and the evidence."""

    step: FeatureStep
    kept: bool = False
    reason: str = ""
    gain: float | None = None
    error: float | None = None
    score_with: float | None = None


def evaluation_program(steps: list[FeatureStep]) -> str:
    """The source of the sandboxed run that evaluates `steps` on CV folds."""
    return EVALUATE_PROGRAM.format(sources=repr([s.source for s in steps]),
                                   fitted=repr([s.fits for s in steps]), probe=PROBE_ROWS)


def fold_ids(y: pd.Series, task: TaskSpec, seed: int) -> np.ndarray:
    """Each row's fold (stratified for classification when every class can be split)."""
    splitter = KFold(FOLDS, shuffle=True, random_state=seed)
    if task.is_classification and y.value_counts().min() >= FOLDS:
        splitter = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    fold = np.zeros(len(y), dtype=np.int64)
    for k, (_, held) in enumerate(splitter.split(np.zeros(len(y)), y.astype(str))):
        fold[held] = k
    return fold


def split_output(out: pd.DataFrame, steps: list[FeatureStep]
                 ) -> tuple[dict[int, str], dict[int, pd.DataFrame]]:
    """The sandbox's table split by candidate: errors, and each candidate's columns."""
    errors, tables = {}, {}
    if "__error" in out.columns:
        for _, row in out[out["__error"].notna()].iterrows():
            errors[int(row["__cand"])] = str(row["__error"])
        out = out[out["__error"].isna()]
    for i in range(len(steps)):
        part = out[out["__cand"] == i]
        if i in errors or part.empty:
            continue
        prefix = f"{i}|"
        keep = [c for c in part.columns if c.startswith(prefix)]
        tables[i] = part[["__fold", "__row", "__probe", *keep]]
    return errors, tables


def probe_problem(table: pd.DataFrame) -> str | None:
    """Why a transform's output depends on the other rows it sees, or None: the probe rows
    (transformed alone) against the same rows transformed with all the others."""
    full = table[table["__probe"] == 0]
    alone = table[table["__probe"] == 1]
    values = [c for c in table.columns if not c.startswith("__")]
    if not values:
        return "it adds no column"
    for fold, probe in alone.groupby("__fold"):
        rows = full[full["__fold"] == fold].set_index("__row").loc[probe["__row"]]
        for column in values:
            if not _same(rows[column].to_numpy(), probe[column].to_numpy()):
                name = column.split("|", 1)[1]
                return (f"its column {name!r} for a row changes with the other rows it is "
                        "given: statistics must be learnt in `fit` (training rows), not in "
                        "`transform`")
    return None


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    try:
        x, y = a.astype(float), b.astype(float)
        return bool(np.allclose(x, y, rtol=1e-6, atol=1e-9, equal_nan=True))
    except (TypeError, ValueError):
        sa, sb = pd.Series(a, dtype=object), pd.Series(b, dtype=object)
        return bool(((sa == sb) | (sa.isna() & sb.isna())).all())


class FoldScorer:
    """Cross-validated scores of the engine's quick trees on the sample's folds, for the
    base features plus any added columns."""

    def __init__(self, sample: pd.DataFrame, folds: np.ndarray, task: TaskSpec,
                 config: TrainingConfig):
        self.sample, self.folds, self.task = sample.reset_index(drop=True), folds, task
        self.config = config.model_copy(update={"trees": QUICK_TREES})
        self.lower = task.metric in LOWER_IS_BETTER
        self.seconds = 0.0

    def scores(self, added: dict[int, pd.DataFrame] | None = None) -> np.ndarray:
        """One score per fold; `added` maps a fold to the columns added for every row
        (fold -1: the same columns for all folds)."""
        started = time.monotonic()
        result = []
        for k in range(FOLDS):
            frame = self.sample
            if added:
                extra = added.get(k, added.get(-1))
                frame = pd.concat([frame, extra.set_axis(frame.index)], axis=1)
            train, held = frame[self.folds != k], frame[self.folds == k]
            result.append(self._score(train, held))
        self.seconds += time.monotonic() - started
        return np.array(result)

    def _score(self, train: pd.DataFrame, held: pd.DataFrame) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                data = prepare_data(train, self.task, self.config, test_df=held)
                fitted = fit_trees(self.config, data, self.task)
            except (DataError, ValueError):
                return math.nan
            pre = data.preprocessor
            return score_predictions(self.task, pre.decode_target(data.y_test),
                                     fitted.predict_scores(data.X_test), pre.classes)

    def gain(self, base: np.ndarray, other: np.ndarray) -> tuple[float, float]:
        """Mean paired gain per fold (higher is better; relative for rmse and mae) and its
        standard error."""
        diff = (base - other) / np.maximum(np.abs(base), 1e-12) if self.lower else other - base
        diff = diff[np.isfinite(diff)]
        if len(diff) < 2:
            return math.nan, math.nan
        return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(len(diff)))


def beyond_noise(gain: float, error: float) -> bool:
    """Whether a mean gain is real: above `NOISE_Z` standard errors and `MIN_GAIN`."""
    return bool(np.isfinite(gain) and gain > max(NOISE_Z * error, MIN_GAIN))


def verdict_words(gain: float, error: float) -> str:
    """Why a gain is kept or not, in words."""
    if beyond_noise(gain, error):
        return "beyond noise"
    if np.isfinite(gain) and gain > NOISE_Z * error:
        return f"below the smallest gain kept ({MIN_GAIN:g})"
    return "within noise"
