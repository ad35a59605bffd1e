"""The offline expert's feature transforms: templates picked by the data profile.

| template | applies to | adds |
| --- | --- | --- |
| `date_parts` | datetime columns | day of month, day of year, weekend, hour of day (when times vary); the engine's own encoding has year, month, weekday and days since 1970 |
| `elapsed` | two or more datetime columns | days between each pair |
| `ratios` | related numeric columns: a shared name word, or rank correlation >= 0.6 | ratios (denominator positive) and differences (same scale) |
| `group_stats` | categoricals of 10+ levels that are not identifiers | each level's frequency and mean of up to two numeric columns, FITTED on training rows (`fit` -> state table) |
| `text_counts` | free-text columns (the engine drops them) | characters, words, digits |
| `logs` | positive numeric columns with skew > 2 | log1p |

Column names are data: they enter the code only as `repr` literals, never as code.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from mlpilot.engine.data import DataProfile
from mlpilot.engine.features import FeatureStep
from mlpilot.guardrails.data_checks import name_words

#: Most column pairs the ratio template combines; most columns per other template.
MAX_PAIRS = 6
MAX_COLUMNS = 6
#: A categorical with at least this many levels gets group statistics ...
MIN_GROUP_LEVELS = 10
#: ... unless more than this share of its values are distinct (an identifier).
MAX_GROUP_UNIQUE = 0.5
MIN_CORRELATION = 0.6
MIN_SKEW = 2.0

_DATES = '''
import pandas as pd

COLUMNS = {columns}
HOURS = {hours}


def _when(values):
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=True)
    return pd.to_datetime(values.astype("string"), errors="coerce", utc=True, format="mixed")


def transform(df):
    out = df.copy()
    for name in COLUMNS:
        when = _when(df[name])
        out[name + "__day"] = when.dt.day.astype(float)
        out[name + "__dayofyear"] = when.dt.dayofyear.astype(float)
        out[name + "__weekend"] = (when.dt.dayofweek >= 5).astype(float).where(when.notna())
        if name in HOURS:
            out[name + "__hour"] = (when.dt.hour + when.dt.minute / 60).astype(float)
    return out
'''

_ELAPSED = '''
import pandas as pd

PAIRS = {pairs}


def _when(values):
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=True)
    return pd.to_datetime(values.astype("string"), errors="coerce", utc=True, format="mixed")


def transform(df):
    out = df.copy()
    for first, then in PAIRS:
        days = (_when(df[then]) - _when(df[first])).dt.total_seconds() / 86400
        out[then + "__days_after__" + first] = days.astype(float)
    return out
'''

_RATIOS = '''
import numpy as np
import pandas as pd

PAIRS = {pairs}  # (a, b, ratio a / b, difference a - b)


def transform(df):
    out = df.copy()
    for a, b, ratio, difference in PAIRS:
        x = pd.to_numeric(df[a], errors="coerce").astype(float)
        y = pd.to_numeric(df[b], errors="coerce").astype(float)
        if ratio:
            out[a + "__per__" + b] = (x / y.where(y != 0)).replace([np.inf, -np.inf], np.nan)
        if difference:
            out[a + "__minus__" + b] = x - y
    return out
'''

_GROUPS = '''
import pandas as pd

GROUPS = {groups}
VALUES = {values}


def fit(df):
    """Each level's share of the training rows and its means (training rows only)."""
    tables = []
    for group in GROUPS:
        key = df[group].astype("string")
        counts = key.value_counts(dropna=True)
        table = pd.DataFrame({{"group": group, "level": counts.index.astype(str),
                              "share": counts.to_numpy(dtype=float) / max(len(df), 1)}})
        for value in VALUES:
            means = pd.to_numeric(df[value], errors="coerce").groupby(key).mean()
            table["mean__" + value] = table["level"].map(means).astype(float).to_numpy()
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def transform(df, state):
    out = df.copy()
    for group in GROUPS:
        table = state[state["group"] == group].set_index("level")
        key = df[group].astype("string")
        out[group + "__share"] = key.map(table["share"]).astype(float).fillna(0.0)
        for value in VALUES:
            mean = key.map(table["mean__" + value]).astype(float)
            out[group + "__mean__" + value] = mean
            out[value + "__vs_mean_of__" + group] = (
                pd.to_numeric(df[value], errors="coerce").astype(float) - mean)
    return out
'''

_TEXT = '''
import pandas as pd

COLUMNS = {columns}


def transform(df):
    out = df.copy()
    for name in COLUMNS:
        present = df[name].notna()
        text = df[name].astype("string").fillna("")
        out[name + "__chars"] = text.str.len().astype(float).where(present)
        out[name + "__words"] = text.str.split().str.len().astype(float).where(present)
        out[name + "__digits"] = text.str.count(r"[0-9]").astype(float).where(present)
    return out
'''

_LOGS = '''
import numpy as np
import pandas as pd

COLUMNS = {columns}


def transform(df):
    out = df.copy()
    for name in COLUMNS:
        values = pd.to_numeric(df[name], errors="coerce").astype(float)
        out[name + "__log1p"] = np.log1p(values.clip(lower=0))
    return out
'''


def propose(df: pd.DataFrame, profile: DataProfile, target: str) -> list[FeatureStep]:
    """The templates that apply to this data (features of `df` besides `target`), each a
    `FeatureStep` with its code and why it applies; [] when none does."""
    columns = {c.name: c for c in profile.columns if c.name != target and c.name in df.columns}
    dates = [n for n, c in columns.items() if c.kind == "datetime"][:MAX_COLUMNS]
    numeric = [n for n, c in columns.items() if c.kind == "numeric" and not c.is_constant
               and not (c.is_monotonic and c.unique_fraction > 0.95)]  # row numbers
    steps = []
    if dates:
        hours = [n for n in dates if _times_vary(df[n])]
        steps.append(_step("date_parts", _DATES.format(columns=repr(dates), hours=repr(hours)),
                           dates, f"datetime column(s) {_names(dates)}"))
    if len(dates) >= 2:
        pairs = list(itertools.combinations(dates, 2))[:MAX_PAIRS]
        steps.append(_step("elapsed", _ELAPSED.format(pairs=repr(pairs)), dates,
                           f"{len(dates)} datetime columns: days between each pair"))
    pairs = related_pairs(df, numeric, {n: columns[n] for n in numeric})
    if pairs:
        reads = list(dict.fromkeys(c for a, b, *_ in pairs for c in (a, b)))
        steps.append(_step("ratios", _RATIOS.format(pairs=repr(pairs)), reads,
                           "related numeric columns: " + "; ".join(
                               f"{a} and {b}" for a, b, *_ in pairs)))
    groups = [n for n, c in columns.items() if c.kind == "categorical"
              and c.n_unique >= MIN_GROUP_LEVELS and c.unique_fraction <= MAX_GROUP_UNIQUE
              ][:3]
    if groups:
        values = sorted(numeric, key=lambda n: columns[n].missing_fraction)[:2]
        steps.append(_step("group_stats", _GROUPS.format(groups=repr(groups), values=repr(values)),
                           groups + values, f"categorical column(s) with many levels: "
                           f"{_names(groups)}", fits=True))
    texts = [n for n, c in columns.items() if c.kind == "text"][:MAX_COLUMNS]
    if texts:
        steps.append(_step("text_counts", _TEXT.format(columns=repr(texts)), texts,
                           f"free-text column(s) {_names(texts)}, which the engine drops"))
    skewed = [n for n in numeric if columns[n].min is not None and columns[n].min >= 0
              and columns[n].n_unique > 10 and _skew(df[n]) > MIN_SKEW][:MAX_COLUMNS]
    if skewed:
        steps.append(_step("logs", _LOGS.format(columns=repr(skewed)), skewed,
                           f"skewed positive column(s) {_names(skewed)}"))
    return steps


def related_pairs(df: pd.DataFrame, numeric: list[str], profiles: dict) -> list[tuple]:
    """Pairs of numeric columns that belong together, best first: a name word in common
    (a unit, a subject), or ranks that move together. Each is (a, b, ratio, difference):
    a ratio when the denominator is positive, a difference when both share a scale."""
    scored = []
    sample = df[numeric].sample(min(len(df), 2000), random_state=0) if numeric else df
    ranks = sample.apply(pd.to_numeric, errors="coerce").rank() if numeric else None
    for a, b in itertools.combinations(numeric, 2):
        shared = set(name_words(a)) & set(name_words(b))
        r = ranks[a].corr(ranks[b]) if ranks is not None else np.nan
        r = 0.0 if not np.isfinite(r) else abs(float(r))
        if not shared and r < MIN_CORRELATION:
            continue
        pa, pb = profiles[a], profiles[b]
        if pa.min is not None and pb.min is not None and pa.min > 0 and pa.min >= pb.min:
            a, b, pa, pb = b, a, pb, pa  # the larger minimum is the denominator
        ratio = pb.min is not None and pb.min > 0
        scale = [abs(p.mean) for p in (pa, pb) if p.mean is not None]
        difference = bool(shared) and len(scale) == 2 and min(scale) > 0 and max(scale) <= 10 * min(scale)
        if ratio or difference:
            scored.append(((len(shared), r), (a, b, ratio, difference)))
    scored.sort(key=lambda item: item[0], reverse=True)
    return [pair for _, pair in scored[:MAX_PAIRS]]


def _step(name: str, source: str, reads: list[str], why: str, *, fits: bool = False
          ) -> FeatureStep:
    return FeatureStep(name=name, source=source.lstrip(), reads=list(dict.fromkeys(reads)),
                       fits=fits, origin=f"template:{name}", why=why)


def _times_vary(values: pd.Series) -> bool:
    """Whether a datetime column holds times of day, not only dates."""
    sample = values.dropna().head(500)
    if not pd.api.types.is_datetime64_any_dtype(sample):
        sample = pd.to_datetime(sample.astype("string"), errors="coerce", utc=True, format="mixed")
    sample = sample.dropna()
    return bool(len(sample) and (sample.dt.hour * 60 + sample.dt.minute).nunique() > 1)


def _skew(values: pd.Series) -> float:
    skew = pd.to_numeric(values, errors="coerce").skew()
    return float(skew) if skew is not None and np.isfinite(skew) else 0.0


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)
