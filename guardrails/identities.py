"""Targets that are arithmetic of other columns: exact identities, a leak no model needs.

A count of rentals that is the sum of casual and registered rentals, a price that is the
price per unit times the units, a balance after the payment that is the balance before
minus the payment: when the target is computed from one or two columns (or they from it),
a model that sees them learns the arithmetic, not the task. A single-feature score cannot
see it: each column alone predicts the target only partly.

The search is generic and fast. On a sample of rows it fits, for every numeric column and
every pair of them, the target as a linear form (y = a·x + c, y = a·x1 + b·x2 + c: sums,
differences, scaled copies) and, on data without zeros, as a multiplicative one (log |y|
linear in log |x1|, log |x2|: products, ratios, powers). Every pair's R^2 comes from the correlation
matrix in one vectorised step; only the few candidates near R^2 = 1 are refitted (robustly,
so a handful of mistyped rows do not hide an identity) and checked row by row: an identity
holds when at least 99% of the rows agree within a tolerance set by the target's spread
and the data's recorded precision.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from mlpilot.guardrails.data_checks import MIN_VALUES, Flag

SAMPLE_ROWS = 2000
#: The correlations that pick candidates use this many of the sampled rows.
PREFILTER_ROWS = 1000
#: A form is refitted and checked row by row when its R^2 on the sample reaches this.
CANDIDATE_R2 = 0.98
#: Share of rows that must agree with the form for an identity.
EXACT_SHARE = 0.99
#: Agreement within this share of the target's standard deviation (at least the data's precision).
TOLERANCE = 1e-3
MAX_TOLERANCE = 1e-2
#: The multiplicative forms are fitted on the rows with no zero (a product's zero, a zero
#: share), when they are at least this share of the rows; columns zero on more than
#: MAX_ZERO_SHARE of them are left out of those forms.
LOG_ROWS = 0.5
MAX_ZERO_SHARE = 0.05
MAX_COLUMNS = 300
MAX_CANDIDATES = 40
#: A target as the sum of several columns: at most this many parts, out of this many columns.
MAX_PARTS = 6
MAX_PARTS_COLUMNS = 100


def _resolution(values: np.ndarray) -> float:
    """The precision values were recorded with: 1 for integers, 0.01 for cents, ... (>= 1e-6)."""
    values = values[np.isfinite(values)][:500]
    for decimals in range(7):
        scaled = values * 10.0 ** decimals
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return 10.0 ** -decimals
    return 1e-6


def _pair_r2(r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """R^2 of y on every pair of columns, from their correlations with y (r) and each other (c)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = (r[:, None] ** 2 + r[None, :] ** 2 - 2 * r[:, None] * r[None, :] * c) / (1 - c ** 2)
    r2[~np.isfinite(r2) | (np.abs(c) > 0.9999)] = 0.0  # collinear pairs: the single test sees them
    return np.triu(r2, 1)


def _candidates(x: np.ndarray, y: np.ndarray) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Single columns and pairs whose linear R^2 with y reaches CANDIDATE_R2, best first."""
    x, y = x[:PREFILTER_ROWS], y[:PREFILTER_ROWS]  # rows in random order: a sample of the sample
    filled = np.where(np.isfinite(x), x, np.nanmean(x, axis=0))  # a few gaps only lower R^2
    z = (filled - filled.mean(0)) / filled.std(0)
    zy = (y - y.mean()) / y.std()
    r = z.T @ zy / len(y)
    c = z.T @ z / len(y)
    singles = [((i,), r[i] ** 2) for i in np.flatnonzero(r ** 2 >= CANDIDATE_R2)]
    pair_r2 = _pair_r2(r, c)
    rows, cols = np.nonzero(pair_r2 >= CANDIDATE_R2)
    pairs = [((i, j), pair_r2[i, j]) for i, j in zip(rows, cols, strict=True)]
    ranked = sorted(singles, key=lambda s: -s[1]) + sorted(pairs, key=lambda p: -p[1])
    return [idx for idx, _ in ranked[:MAX_CANDIDATES]], r


def _fit(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares with an intercept, refitted on the best 95% of rows (robust to a few typos)."""
    design = np.column_stack([a, np.ones(len(y))])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    resid = np.abs(y - design @ coef)
    keep = resid <= np.quantile(resid, 0.95)
    if keep.sum() > a.shape[1] + 1:
        coef = np.linalg.lstsq(design[keep], y[keep], rcond=None)[0]
    return coef


def _check(x: np.ndarray, y: np.ndarray, idx: tuple[int, ...], log: bool, resolutions: list[float],
           y_resolution: float) -> tuple[float, np.ndarray, int, float] | None:
    """(share of rows that agree, coefficients, rows, tolerance) of one form; None if too few rows."""
    cols = x[:, idx]
    ok = np.isfinite(cols).all(1) & np.isfinite(y)
    if ok.sum() < MIN_VALUES:
        return None
    cols, target = cols[ok], y[ok]
    if log:  # |y| = k |x1|^a |x2|^b, with the sign of the product of the columns' signs
        nonzero = (target != 0) & np.all(cols != 0, axis=1)
        if nonzero.sum() < MIN_VALUES:
            return None
        coef = _fit(np.log(np.abs(cols[nonzero])), np.log(np.abs(target[nonzero])))
        signs = np.prod(np.sign(cols), axis=1)
        sign = 1.0 if np.median(np.sign(target[nonzero]) * signs[nonzero]) >= 0 else -1.0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            pred = sign * signs * np.exp(np.log(np.abs(cols)) @ coef[:-1] + coef[-1])
        # a ratio is undefined where its divisor is zero: those rows neither agree nor not
        defined = np.isfinite(pred)
        if defined.mean() < 1 - MAX_ZERO_SHARE:
            return None
        cols, target, pred = cols[defined], target[defined], pred[defined]
        slack = sum(abs(e) * res * np.median(np.abs(target[t] / c[t])) for e, res, c in
                    zip(coef[:-1], resolutions, cols.T, strict=True)
                    for t in [(c != 0) & (target != 0)])
    else:
        coef = _fit(cols, target)
        pred = cols @ coef[:-1] + coef[-1]
        slack = sum(abs(a) * res for a, res in zip(coef[:-1], resolutions, strict=True))
    spread = target.std()
    tol = min(max(TOLERANCE * spread, 1.01 * (y_resolution + slack)), MAX_TOLERANCE * spread)
    return float(np.mean(np.abs(target - pred) <= tol)), coef, len(target), tol


def _number(v: float) -> str:
    return f"{v:.4g}"


def _formula(names: list[str], coef: np.ndarray, log: bool, spread: float) -> str:
    """The identity as a person writes it: 'a' + 'b', 'a' - 'b', 0.01 x 'a', 'a' x 'b', 'a' / 'b'."""
    if log:
        scale = float(np.exp(coef[-1]))
        text = "" if abs(scale - 1) < 1e-3 else f"{_number(scale)} x "
        for k, (name, power) in enumerate(sorted(zip(names, coef[:-1], strict=True),
                                                 key=lambda t: t[1] < 0)):
            op = "" if k == 0 else (" / " if power < 0 else " x ")
            shown = abs(power) if k else power
            text += f"{op}{name!r}" + ("" if abs(shown - 1) < 1e-3 else f"^{_number(shown)}")
        return text
    text = ""
    for k, (name, a) in enumerate(sorted(zip(names, coef[:-1], strict=True), key=lambda t: t[1] < 0)):
        sign = "-" if a < 0 else "+"
        size = abs(a)
        term = f"{name!r}" if abs(size - 1) < 1e-3 else f"{_number(size)} x {name!r}"
        text += (("- " if a < 0 else "") + term) if k == 0 else f" {sign} {term}"
    if abs(coef[-1]) > TOLERANCE * spread:
        text += f" {'-' if coef[-1] < 0 else '+'} {_number(abs(coef[-1]))}"
    return text


def find_target_identities(df: pd.DataFrame, target: str, task_type: str, *, seed: int = 0
                           ) -> list[Flag]:
    """Columns that, alone, in a pair or as parts of a total, give a numeric target exactly.

    Regression only (a class label is not a sum). Looks at up to 2000 sampled rows and the
    300 numeric columns most correlated with the target (linearly or, for data without
    zeros, in logs). A form holds when at least 99% of its rows agree with it within 0.1% of the
    target's standard deviation, or the data's recorded precision when that is coarser
    (never more than 1%). Single columns are tried before pairs, then a linear combination
    of 3 to 6 of the remaining columns (one fit on all of them); a column is reported once.
    Each column of an identity gets a flag whose evidence is the identity: "drop", except
    the column of a difference or ratio of two that was not built from the target, which
    stays ("advise") when it does not predict the target by itself (`_kept_of_pair`).
    """
    if task_type != "regression" or target not in df.columns:
        return []
    y_all = pd.to_numeric(df[target], errors="coerce")
    data = df[y_all.notna() & np.isfinite(y_all)]
    if len(data) < MIN_VALUES:
        return []
    data = data.sample(min(len(data), SAMPLE_ROWS), random_state=seed)  # shuffled, always
    y = pd.to_numeric(data[target]).to_numpy(dtype=float)
    if y.std() == 0:
        return []
    numeric = [c for c in data.columns if c != target and pd.api.types.is_numeric_dtype(data[c])
               and not pd.api.types.is_bool_dtype(data[c])]
    if not numeric:
        return []
    x = data[numeric].to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        usable = (np.isfinite(x).mean(0) >= 0.5) & (np.nanstd(x, axis=0) > 0)
    names, x = [c for c, u in zip(numeric, usable, strict=True) if u], x[:, usable]
    if not names:
        return []
    flags: list[Flag] = []
    taken: set[str] = set()
    for log in (False, True):
        space_x, space_y = x, y
        if log:
            # logs need no zeros: rows where the target and the columns that are seldom
            # zero are not (a share of 0% of teachers is a product's zero, not a gap)
            rows = y != 0
            with np.errstate(invalid="ignore"):
                zeros = np.mean(x[rows] == 0, axis=0) if rows.any() else np.ones(x.shape[1])
            nonzero = [k for k in range(x.shape[1]) if zeros[k] <= MAX_ZERO_SHARE]
            if nonzero:
                rows &= np.all(x[:, nonzero] != 0, axis=1)
            if rows.mean() < LOG_ROWS or not nonzero:
                continue
            space_x = np.log(np.abs(x[rows][:, nonzero]))
            space_y, index = np.log(np.abs(y[rows])), nonzero
        else:
            index = list(range(x.shape[1]))
        space_x, index = _most_related(space_x, space_y, index)
        candidates, _ = _candidates(space_x, space_y)
        for local in candidates:
            idx = tuple(index[k] for k in local)
            cols = [names[k] for k in idx]
            if taken.intersection(cols):
                continue
            checked = _check(x, y, idx, log, [_resolution(x[:, k]) for k in idx], _resolution(y))
            if checked is None or checked[0] < EXACT_SHARE:
                continue
            share, coef, rows, tol = checked
            taken.update(cols)
            flags += _identity_flags(target, cols, _formula(cols, coef, log, y.std()), share,
                                     rows, tol, keep=_kept_of_pair(x, y, idx, cols, coef, target))
    free = [k for k, name in enumerate(names) if name not in taken]
    parts = _parts(x[:, free], y)
    if parts:
        idx = tuple(free[k] for k in parts)
        checked = _check(x, y, idx, False, [_resolution(x[:, k]) for k in idx], _resolution(y))
        if checked is not None and checked[0] >= EXACT_SHARE:
            share, coef, rows, tol = checked
            cols = [names[k] for k in idx]
            flags += _identity_flags(target, cols, _formula(cols, coef, False, y.std()), share,
                                     rows, tol)
    return flags


def _parts(x: np.ndarray, y: np.ndarray) -> list[int]:
    """The columns of x that y is an exact linear combination of, when there are 3 to MAX_PARTS.

    A total of several parts (day + evening + night charges) escapes the pair search. One
    least-squares fit on every complete column finds it when the rows far outnumber the
    columns: the parts are the columns that carry a visible share of the fit.
    """
    complete = [k for k in range(x.shape[1]) if np.isfinite(x[:, k]).all()]
    if not 3 <= len(complete) <= MAX_PARTS_COLUMNS or len(y) < 10 * len(complete):
        return []
    a = x[:, complete]
    coef = _fit(a, y)
    resid = np.abs(y - a @ coef[:-1] - coef[-1])
    if np.mean(resid <= TOLERANCE * y.std()) < EXACT_SHARE:
        return []
    weight = np.abs(coef[:-1]) * a.std(0)
    support = [complete[k] for k in np.flatnonzero(weight >= TOLERANCE * y.std())]
    return support if 3 <= len(support) <= MAX_PARTS else []


def _most_related(x: np.ndarray, y: np.ndarray, index: list[int]) -> tuple[np.ndarray, list[int]]:
    """At most MAX_COLUMNS columns, those most correlated with y first (keeps pairs cheap)."""
    if x.shape[1] <= MAX_COLUMNS:
        return x, index
    filled = np.where(np.isfinite(x), x, np.nanmean(x, axis=0))
    r = np.abs(np.corrcoef(filled.T, y)[-1, :-1])
    keep = np.argsort(-np.nan_to_num(r))[:MAX_COLUMNS]
    return x[:, keep], [index[k] for k in keep]


#: A pair member kept after its partner is dropped must explain less than this much of
#: the target alone (rank correlation squared): more, and it is a leak by itself.
KEEP_BELOW_R2 = 0.8


def _kept_of_pair(x: np.ndarray, y: np.ndarray, idx: tuple[int, ...], cols: list[str],
                  coef: np.ndarray, target: str) -> str | None:
    """The column of a two-column identity that may stay once the other is dropped.

    In a difference or a ratio (y = a - b, y = a / b, or a = y + b) one column was built
    from the target and the other is a quantity of its own, and one drop breaks the
    identity: the built one goes (`_built_of_pair`). In a sum or a product both are parts
    of the target and both go. The kept column must not predict the target well by itself
    either. None: drop both."""
    if len(idx) != 2:
        return None
    weights = coef[:-1]  # coefficients of a linear form, powers of a multiplicative one
    if (weights[0] > 0) == (weights[1] > 0):
        return None
    kept = 1 - _built_of_pair(idx, cols, target)
    ok = np.isfinite(x[:, idx[kept]])
    ranks = pd.Series(x[ok, idx[kept]]).rank().to_numpy()
    r = np.corrcoef(ranks, pd.Series(y[ok]).rank().to_numpy())[0, 1]
    return cols[kept] if np.isfinite(r) and r * r < KEEP_BELOW_R2 else None


def _built_of_pair(idx: tuple[int, ...], cols: list[str], target: str) -> int:
    """Which of a pair (0 or 1) was built from the target: the one whose name holds the
    target's or its partner's ("bill_with_tip", "COUTAX_FEMALEUNEMP"); else the later
    column of the file, as computed columns are appended after what they are computed
    from (total GDP after population, the real rate after the inflation)."""
    def folded(name: str) -> str:
        return re.sub(r"[^0-9a-z]", "", name.lower())

    holds = [any(len(part) >= 3 and part in folded(cols[i])
                 for part in (folded(target), folded(cols[1 - i]))) for i in (0, 1)]
    if holds[0] != holds[1]:
        return 0 if holds[0] else 1
    return 0 if idx[0] > idx[1] else 1


def _identity_flags(target: str, cols: list[str], formula: str, share: float, rows: int,
                    tol: float, keep: str | None = None) -> list[Flag]:
    said = (f"{target!r} = {formula} on {share * 100:.3g}% of {rows} sampled rows (within "
            f"{tol:.3g}): the target is computed from {'these columns' if len(cols) > 1 else 'it'}"
            f", or {'they' if len(cols) > 1 else 'it'} from the target")
    flags = []
    for column in cols:
        others = " and ".join(repr(c) for c in cols if c != column)
        if column == keep:
            flags.append(Flag(
                kind="leakage", column=column, evidence=said, score=round(share, 4),
                action="advise", suggestion=f"keep column {column!r}: without {others} "
                f"(dropped) it no longer gives {target!r} away; drop it too if it is known "
                f"only after the outcome"))
            continue
        hint = (f"drop column {column!r}: with {others} it gives {target!r} away by "
                f"arithmetic (drop_columns); if it is known before the outcome, keep it and "
                f"drop the others" if others else f"drop column {column!r}: it gives "
                f"{target!r} away by arithmetic (drop_columns)")
        flags.append(Flag(kind="leakage", column=column, evidence=said, score=round(share, 4),
                          action="drop", suggestion=hint))
    return flags
