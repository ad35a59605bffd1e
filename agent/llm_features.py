"""The feature engineer's LLM path: the model writes transforms as code, seeing the data's
profile (names, kinds, counts, ranges) and never a row of it.

Every answer is checked before it runs (`feature_checks.code_problem`: it parses and
defines `transform`); a wrong one goes back with the reason. The code then goes through
the same checks as the templates' (the target, the sandboxed fold runs, the score).
"""

from __future__ import annotations

import ast
from typing import Any

from langchain_core.messages import HumanMessage

from mlpilot.agent.feature_checks import code_problem, reads_of
from mlpilot.agent.llm import LLMError, call_until_submitted
from mlpilot.engine.config import TaskSpec
from mlpilot.engine.data import DataProfile
from mlpilot.engine.features import FeatureStep
from mlpilot.prompts import quote, render
from mlpilot.tools.agent_tools import submit_transforms

PROMPT = "feature_engineer"
MAX_TRANSFORMS = 4
MAX_TURNS = 3
#: Longest code accepted for one transform.
MAX_CODE_CHARS = 6000


def profile_lines(profile: DataProfile, columns: list[str]) -> list[str]:
    """One line per feature column: quoted name, kind, distinct values, gaps, range; no
    example values (those are rows)."""
    lines = []
    for name in columns:
        c = profile.column(name)
        if c is None:
            continue
        line = (f"{quote(c.name)}: {c.kind}, {c.n_unique} distinct, "
                f"{c.missing_fraction:.0%} missing")
        if c.min is not None and c.max is not None:
            line += f", range {c.min:.4g} to {c.max:.4g}, mean {c.mean:.4g}" if c.mean is not None \
                else f", range {c.min} to {c.max}"
        lines.append(line)
    return lines


def llm_transforms(task: TaskSpec, profile: DataProfile, columns: list[str], chat_model
                   ) -> tuple[list[FeatureStep], str]:
    """The transforms the model writes (possibly none), and how they came."""
    prompt = render(PROMPT, target=task.target, task_type=task.task_type, metric=task.metric,
                    n_rows=profile.n_rows, columns=profile_lines(profile, columns),
                    max_transforms=MAX_TRANSFORMS)

    def accept(args: dict[str, Any]) -> list[FeatureStep]:
        transforms = args.get("transforms") or []
        if not isinstance(transforms, list) or len(transforms) > MAX_TRANSFORMS:
            raise ValueError(f"transforms: give a list of at most {MAX_TRANSFORMS}")
        steps = []
        for i, item in enumerate(transforms):
            code = str((item or {}).get("code") or "")
            if len(code) > MAX_CODE_CHARS:
                raise ValueError(f"transforms[{i}].code: longer than {MAX_CODE_CHARS} characters")
            problem = code_problem(code)  # a target it names is the node's to refuse, on record
            if problem:
                raise ValueError(f"transforms[{i}].code: {problem}")
            fits = any(isinstance(n, ast.FunctionDef) and n.name == "fit"
                       for n in ast.parse(code).body)
            name = "".join(ch for ch in str(item.get("name") or f"llm_{i}")
                           if ch.isalnum() or ch == "_")[:40] or f"llm_{i}"
            steps.append(FeatureStep(name=name, source=code, reads=reads_of(code, columns),
                                     fits=fits, origin="llm", why=str(item.get("why") or "")[:300]))
        return steps

    try:
        _, steps = call_until_submitted(chat_model, [HumanMessage(prompt)],
                                        tools=[submit_transforms],
                                        finish={"submit_transforms": accept}, max_turns=MAX_TURNS)
    except LLMError as err:
        return [], f"the LLM wrote no usable transform ({err})"
    return steps, f"written by the LLM from the data's profile ({len(steps)} transform(s))"
