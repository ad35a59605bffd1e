"""A depth-limited decision tree on one feature, cross-validated: the critic's leak test.

The critic scores every column alone with a tree (`data_checks.find_leaky_columns`). On
one feature a CART tree only cuts the sorted values into intervals, so it fits in a few
lines of numpy, and planning needs no scikit-learn (whose import alone costs more than the
rest of `mlpilot plan`). It follows scikit-learn's `DecisionTreeClassifier` (Gini) and
`DecisionTreeRegressor` (squared error) with the default `splitter="best"`, and its
`KFold` / `StratifiedKFold` with shuffling, split for split, so the scores are those
scikit-learn gives (`tests/guardrails/test_single_feature_tree.py` compares them):

- values are compared as float32; neighbours closer than 1e-7 are never cut apart;
- the first best cut wins, searching with missing values on the right, then on the left;
  a node with missing values may also split them off alone;
- a node splits until it is pure, `max_depth` is reached, or no cut is left, even with no
  gain; at prediction a missing value follows the side its node chose (or, when the node
  saw none, the side with more rows).

Regression sums may differ from scikit-learn's in the last bits (another summation order),
which can matter only when two cuts tie to the last bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: scikit-learn's FEATURE_THRESHOLD: values closer than this are one value.
_SAME = 1e-7
_EPSILON = np.finfo(np.float64).eps


def kfold_test_folds(n: int, n_splits: int, seed: int) -> np.ndarray:
    """Each row's test fold under `KFold(n_splits, shuffle=True, random_state=seed)`."""
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    sizes = np.full(n_splits, n // n_splits)
    sizes[: n % n_splits] += 1
    folds = np.empty(n, dtype=int)
    folds[order] = np.repeat(np.arange(n_splits), sizes)
    return folds


def stratified_test_folds(y: np.ndarray, n_splits: int, seed: int) -> np.ndarray:
    """Each row's test fold under `StratifiedKFold(n_splits, shuffle=True, random_state=seed)`."""
    rng = np.random.RandomState(seed)
    _, first, inverse = np.unique(y, return_index=True, return_inverse=True)
    # classes numbered in order of first appearance, as scikit-learn does
    _, by_appearance = np.unique(first, return_inverse=True)
    encoded = by_appearance[inverse.ravel()]
    n_classes = len(first)
    ordered = np.sort(encoded)
    allocation = np.asarray([np.bincount(ordered[i::n_splits], minlength=n_classes)
                             for i in range(n_splits)])
    folds = np.empty(len(y), dtype=int)
    for k in range(n_classes):
        for_class = np.arange(n_splits).repeat(allocation[:, k])
        rng.shuffle(for_class)
        folds[encoded == k] = for_class
    return folds


@dataclass
class _Node:
    value: float = 0.0  # the class code, or the mean
    threshold: float = 0.0
    missing_left: bool = False
    left: _Node | None = None
    right: _Node | None = None


class SingleFeatureTree:
    """A CART tree on one feature; `y` holds class codes (classification) or numbers."""

    def __init__(self, *, classification: bool, max_depth: int):
        self.classification = classification
        self.max_depth = max_depth
        self._root: _Node | None = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> SingleFeatureTree:
        """Grow the tree on feature values `x` (NaN = missing) and targets `y`."""
        x = np.asarray(x, dtype=np.float32).ravel()
        missing = np.isnan(x)
        order = np.argsort(x[~missing], kind="stable")
        values = x[~missing][order]
        if self.classification:
            codes = np.asarray(y).astype(np.int64)
            self._classes = np.unique(codes)
            self._none = np.zeros(len(self._classes))
            targets = np.searchsorted(self._classes, codes).astype(np.float64)
        else:
            targets = np.asarray(y, dtype=np.float64)
        self._n = len(x)
        ys, ym = targets[~missing][order], targets[missing]
        if self.classification:  # class counts of the first i sorted values, row i: a node's
            # values are a slice of them, so its counts are differences (exact integers)
            onehot = np.zeros((len(ys) + 1, len(self._classes)))
            onehot[np.arange(1, len(ys) + 1), ys.astype(np.int64)] = 1.0
            self._prefix = np.cumsum(onehot, axis=0)
        self._root = self._grow(values, ys, ym, 0, depth=0, impurity=self._impurity(ys, ym, 0))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The prediction for each value of `x` (NaN = missing)."""
        x = np.asarray(x, dtype=np.float32).ravel().astype(np.float64)
        out = np.empty(len(x), dtype=np.float64)
        self._route(self._root, x, np.arange(len(x)), out)
        if self.classification:
            return self._classes[out.astype(np.int64)]
        return out

    # -- growing -------------------------------------------------------------------------

    def _counts(self, labels: np.ndarray) -> np.ndarray:
        if len(labels) == 0:  # most nodes have no missing values: skip the bincount
            return self._none
        return np.bincount(labels.astype(np.int64), minlength=len(self._classes)).astype(float)

    def _node_counts(self, ys: np.ndarray, ym: np.ndarray, lo: int) -> np.ndarray:
        """Class counts of a node whose values start at `lo` in the sorted values."""
        return self._prefix[lo + len(ys)] - self._prefix[lo] + self._counts(ym)

    def _impurity(self, ys: np.ndarray, ym: np.ndarray, lo: int) -> float:
        n = float(len(ys) + len(ym))
        if self.classification:
            counts = self._node_counts(ys, ym, lo)
            return 1.0 - float((counts * counts).sum()) / (n * n)
        both = np.concatenate([ys, ym])
        return float((both * both).sum()) / n - (float(both.sum()) / n) ** 2.0

    def _leaf(self, ys: np.ndarray, ym: np.ndarray, lo: int) -> _Node:
        if self.classification:
            return _Node(value=float(np.argmax(self._node_counts(ys, ym, lo))))
        both = np.concatenate([ys, ym])
        return _Node(value=float(both.sum()) / len(both))

    def _grow(self, values, ys, ym, lo: int, *, depth: int, impurity: float) -> _Node:
        n = len(ys) + len(ym)
        if depth >= self.max_depth or n < 2 or impurity <= _EPSILON:
            return self._leaf(ys, ym, lo)
        cut = self._best_cut(values, ys, ym, lo)
        if cut is None:
            return self._leaf(ys, ym, lo)
        q, missing_left, threshold = cut
        left_v, right_v = values[:q], values[q:]
        left_y, right_y = ys[:q], ys[q:]
        left_m, right_m = (ym, ym[:0]) if missing_left else (ym[:0], ym)
        n_left, n_right = len(left_y) + len(left_m), len(right_y) + len(right_m)
        imp_left = self._impurity(left_y, left_m, lo)
        imp_right = self._impurity(right_y, right_m, lo + q)
        gain = (n / self._n) * (impurity - (n_right / n * imp_right) - (n_left / n * imp_left))
        if gain + _EPSILON < 0.0:
            return self._leaf(ys, ym, lo)
        node = _Node(threshold=threshold,
                     missing_left=missing_left if len(ym) else n_left > n_right)
        node.left = self._grow(left_v, left_y, left_m, lo, depth=depth + 1, impurity=imp_left)
        node.right = self._grow(right_v, right_y, right_m, lo + q, depth=depth + 1,
                                impurity=imp_right)
        return node

    def _best_cut(self, values, ys, ym, lo: int):
        """(position in `values`, missing go left, threshold) of the best cut, or None."""
        n_missing = len(ym)
        wide = values.astype(np.float64)  # scikit-learn compares float32 values in float64
        if len(values) == 0 or (n_missing == 0 and wide[-1] <= wide[0] + _SAME):
            return None  # all missing, or one value: scikit-learn's "constant feature"
        cuts = np.flatnonzero(wide[1:] > wide[:-1] + _SAME) + 1
        # (position q, missing go left?) in scikit-learn's search order: missing right,
        # then (with missing values) all values left of them, then missing left
        if n_missing:
            q = np.concatenate([cuts, [len(values)], cuts])
            to_left = np.arange(len(q)) > len(cuts)
        else:
            q, to_left = cuts, np.zeros(len(cuts), dtype=bool)
        if len(q) == 0:
            return None
        best = int(np.argmax(self._proxies(ys, ym, lo, q, to_left)))  # the first best: ">"
        q_best, left_best = int(q[best]), bool(to_left[best])
        if q_best == len(values) and not left_best:  # every value left, the missing alone right
            return q_best, False, np.inf
        return q_best, left_best, wide[q_best - 1] / 2.0 + wide[q_best] / 2.0

    def _proxies(self, ys, ym, lo: int, q, to_left) -> np.ndarray:
        """scikit-learn's proxy of each cut's gain, in its arithmetic."""
        n_total = float(len(ys) + len(ym))
        n_left = q + np.where(to_left, len(ym), 0).astype(np.float64)
        n_right = n_total - n_left
        if self.classification:
            before = self._prefix[lo + q] - self._prefix[lo]  # counts of the first q values
            missing = self._counts(ym)
            total = self._prefix[lo + len(ys)] - self._prefix[lo] + missing
            left = before + np.where(to_left[:, None], missing, 0.0) if len(ym) else before
            right = total - left
            gini_left = 1.0 - (left * left).sum(axis=1) / (n_left * n_left)
            gini_right = 1.0 - (right * right).sum(axis=1) / (n_right * n_right)
            return -n_right * gini_right - n_left * gini_left
        before = np.concatenate([[0.0], np.cumsum(ys)])
        missing = float(ym.sum()) if len(ym) else 0.0
        total = before[-1] + missing
        left = before[q] + np.where(to_left, missing, 0.0)
        right = total - left
        return left * left / n_left + right * right / n_right

    def _route(self, node: _Node, x: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
        if node.left is None:
            out[rows] = node.value
            return
        here = x[rows]
        nan = np.isnan(here)
        go_left = np.where(nan, node.missing_left, here <= node.threshold)
        self._route(node.left, x, rows[go_left], out)
        self._route(node.right, x, rows[~go_left], out)


def cross_validated_predictions(x: np.ndarray, y: np.ndarray, *, classification: bool,
                                max_depth: int, n_splits: int, seed: int) -> np.ndarray:
    """Out-of-fold predictions of a `SingleFeatureTree`, folds as `data_checks` draws them:
    stratified when every class has `n_splits` rows, else plain, both shuffled by `seed`."""
    if classification and np.bincount(y).min() >= n_splits:
        folds = stratified_test_folds(y, n_splits, seed)
    else:
        folds = kfold_test_folds(len(y), n_splits, seed)
    pred = np.empty_like(y)
    for fold in range(n_splits):
        test = folds == fold
        tree = SingleFeatureTree(classification=classification, max_depth=max_depth)
        pred[test] = tree.fit(x[~test], y[~test]).predict(x[test])
    return pred
