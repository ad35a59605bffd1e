"""The registry of cross-field checks on a task + training config + data profile.

A check is a function `(ctx: CheckContext) -> Finding | list[Finding] | None`, registered
with a decorator that names it, its usual severity and the field it is about::

    @check("batch_size_vs_rows", severity="error", field="batch_size")
    def batch_size_vs_rows(ctx: CheckContext) -> Finding | None:
        if ctx.config.batch_size > ctx.train_rows:
            return ctx.finding("batch size is larger than the training set", "use ...")
        return None

The built-in checks live in `task_checks.py`, `config_checks.py` (layer "checks") and
`resources.py` (layer "resources"); they are imported on first use of the registry.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from ..engine.config import MAX_LEVELS_FOR_ID_CHECK, TaskSpec, TrainingConfig
from .findings import Finding, Severity
from .limits import Limits

if TYPE_CHECKING:
    from ..engine.data import ColumnProfile, DataProfile

log = logging.getLogger(__name__)

Layer = Literal["checks", "resources"]
CheckResult = Finding | list[Finding] | None


@dataclass(frozen=True)
class Check:
    """A registered check: its id, usual severity and field, layer and function."""

    id: str
    severity: Severity
    field: str
    layer: Layer
    run: Callable[[CheckContext], CheckResult]

    @property
    def description(self) -> str:
        """The first line of the check function's docstring."""
        return (self.run.__doc__ or self.id).strip().splitlines()[0]


@dataclass(frozen=True)
class CheckContext:
    """What a check sees: the task, the config, the data profile and the operator limits."""

    task: TaskSpec
    config: TrainingConfig
    profile: DataProfile
    limits: Limits
    current: Check | None = None

    def finding(
        self,
        message: str,
        hint: str,
        *,
        repair: dict[str, Any] | None = None,
        severity: Severity | None = None,
        field: str | None = None,
    ) -> Finding:
        """A finding from the running check, with its id, severity and field unless overridden."""
        if self.current is None:
            raise RuntimeError("CheckContext.finding() is only available inside a running check")
        return Finding(
            check_id=self.current.id,
            severity=severity or self.current.severity,
            field=field or self.current.field,
            message=message,
            hint=hint,
            repair=repair,
        )

    # Data facts most checks need, estimated the way engine.preprocess splits the rows.
    @property
    def target_column(self) -> ColumnProfile | None:
        """The profile of the target column, or None when the data has no such column."""
        return self.profile.column(self.task.target)

    @property
    def usable_rows(self) -> int:
        """Rows with a target value (the engine drops rows whose target is missing)."""
        col = self.target_column
        missing = col.n_missing if col is not None else 0
        return max(0, self.profile.n_rows - missing)

    @property
    def test_rows(self) -> int:
        """Estimated rows in the test split."""
        return math.ceil(self.usable_rows * self.config.test_fraction)

    @property
    def valid_rows(self) -> int:
        """Estimated rows in the validation split."""
        return math.ceil(self.usable_rows * self.config.validation_fraction)

    @property
    def train_rows(self) -> int:
        """Estimated rows left for training after the validation and test splits."""
        return max(0, self.usable_rows - self.test_rows - self.valid_rows)

    @property
    def class_counts(self) -> dict[str, int]:
        """Rows per class of the target (empty for regression or an unknown target)."""
        if not self.task.is_classification or self.profile.target is None:
            return {}
        if self.profile.target.name != self.task.target:
            return {}
        return dict(self.profile.target.class_counts or {})

    def features(self) -> list[ColumnProfile]:
        """Columns that stay features: not the target, not dropped, not dropped by the engine."""
        dropped = set(self.task.drop_columns) | {self.task.target}
        return [
            c for c in self.profile.columns
            if c.name not in dropped and engine_drop_reason(c, self.profile.n_rows) is None
        ]


def engine_drop_reason(col: ColumnProfile, n_rows: int) -> str | None:
    """Why `engine.preprocess.prepare_data` leaves this column out, or None when it keeps it."""
    if n_rows and col.n_missing >= n_rows:
        return "all values missing"
    if col.is_constant:
        return "a single constant value"
    if col.kind == "text":
        return "free text"
    many_levels = col.n_unique > MAX_LEVELS_FOR_ID_CHECK
    if col.kind == "categorical" and col.unique_fraction > 0.5 and many_levels:
        return f"identifier-like ({col.n_unique} distinct values)"
    return None


_REGISTRY: dict[str, Check] = {}


def check(
    check_id: str, *, severity: Severity, field: str, layer: Layer = "checks"
) -> Callable[[Callable[[CheckContext], CheckResult]], Callable[[CheckContext], CheckResult]]:
    """Register a check function under `check_id` with its usual severity and field."""

    def register(
        func: Callable[[CheckContext], CheckResult],
    ) -> Callable[[CheckContext], CheckResult]:
        if check_id in _REGISTRY and _REGISTRY[check_id].run is not func:
            raise ValueError(f"a check named {check_id!r} is already registered")
        _REGISTRY[check_id] = Check(check_id, severity, field, layer, func)
        return func

    return register


def _load_builtin_checks() -> None:
    # Imported here, not at module top, because those modules import `check` from this one.
    from . import task_checks, config_checks, resources  # noqa: F401, I001


def registered_checks(layer: Layer | None = None) -> list[Check]:
    """All registered checks (of one layer when given), in registration order."""
    _load_builtin_checks()
    return [c for c in _REGISTRY.values() if layer is None or c.layer == layer]


def run_checks(ctx: CheckContext, layer: Layer = "checks") -> list[Finding]:
    """Run every check of `layer` and collect their findings.

    A check that crashes becomes a warning finding instead of stopping validation: a
    bug in one check must not hide what the others found.
    """
    findings: list[Finding] = []
    for spec in registered_checks(layer):
        local = replace(ctx, current=spec)
        try:
            result = spec.run(local)
        except Exception as exc:  # reported as a finding, see docstring
            log.exception("check %s crashed", spec.id)
            result = local.finding(
                f"the check itself failed ({type(exc).__name__}: {exc}).",
                "report this as a bug in mlpilot; the config may still be fine.",
                severity="warning",
            )
        if result is None:
            continue
        findings.extend(result if isinstance(result, list) else [result])
    return findings
