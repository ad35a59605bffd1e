"""What the validator chain reports: one `Finding` per problem, gathered in a `ValidationReport`.

A finding is machine-readable (check id, severity, dotted field path, optional safe repair)
and human-readable (message, hint), so the same object feeds the config generator's
retry message, the critic and the report a person reads.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

Severity = Literal["error", "warning", "info"]


class Finding(BaseModel):
    """One problem found in a task or training config.

    `field` is a dotted path: relative to `TrainingConfig` ("optimizer.learning_rate"),
    or starting with "task." for the `TaskSpec` ("task.goal"). `repair`, when set, is a
    safe automatic fix as a mapping from such dotted paths to new values.
    """

    check_id: str = Field(description="Which check raised it, e.g. 'batch_size_vs_rows'.")
    severity: Severity = Field(description="error blocks training; warning and info do not.")
    field: str = Field(description="Dotted path of the field at fault, e.g. 'batch_size'.")
    message: str = Field(description="What is wrong, in one sentence.")
    hint: str = Field(description="What to change so the check passes.")
    repair: dict[str, Any] | None = Field(
        default=None, description="Safe automatic fix: dotted path -> new value."
    )

    def line(self) -> str:
        """One line naming the field, the problem and the fix (for logs and retry messages)."""
        return f"{self.field}: {self.message} Hint: {self.hint}"


class RepairRound(BaseModel):
    """One round of `validate_and_repair`: what was found and what was fixed automatically."""

    round: int
    findings: list[Finding]
    repaired: list[Finding]
    passed: bool


class ValidationReport(BaseModel):
    """The outcome of running the validator chain on one task + training config.

    `config` and `task` are the (possibly auto-repaired) inputs as dicts; when the schema
    layer fails they are the raw inputs. `findings` are the problems still open;
    `repaired` are the findings whose safe repair was applied.
    """

    findings: list[Finding] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    task: dict[str, Any] = Field(default_factory=dict)
    repaired: list[Finding] = Field(default_factory=list)
    layers_run: list[str] = Field(default_factory=list)
    resources: dict[str, Any] | None = Field(
        default=None, description="The resource estimate, when that layer ran."
    )
    history: list[RepairRound] = Field(
        default_factory=list, description="Rounds of validate_and_repair; empty for validate."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        """True when no finding is an error."""
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        """The findings that block training."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The findings worth a look that do not block training."""
        return [f for f in self.findings if f.severity == "warning"]

    def to_retry_message(self, *, include_warnings: bool = False) -> str:
        """A short text for an LLM to repair the config from: one line per field and problem."""
        wanted = {"error", "warning"} if include_warnings else {"error"}
        items = [f for f in self.findings if f.severity in wanted]
        if not items:
            return "The training config passed validation."
        header = (
            f"The training config has {len(items)} problem(s). Fix each field named below "
            "and return the whole config again:"
        )
        lines = [header]
        lines += [f"- {f.line()}" for f in items]
        return "\n".join(lines)
