"""The config generator's LLM path: the model picks one of the expert's candidate configs and
may adjust a few fields it can judge (model family, epochs, learning rate) by calling
`choose_config`; it never writes a whole `TrainingConfig`.

The candidates are the expert's own config and variants of it (trees first; a fast small
network; a wider, more regularised one). Every answer is checked (a candidate that exists,
values in range); a wrong one goes back once with the reason, then the expert's config is
used and the report says so.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, get_args

from langchain_core.messages import HumanMessage

from mlpilot.agent.llm import LLMError, call_until_submitted
from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.data import DataProfile
from mlpilot.prompts import render
from mlpilot.tools.agent_tools import NetworkFamily, choose_config

PROMPT = "config_generator"
#: The ranges an adjustment must stay in: wider ones are the validator's to refuse anyway.
EPOCHS = (5, 2_000)
LEARNING_RATE = (1e-5, 0.1)
MAX_TURNS = 3
#: The most tokens one answer may take: a choice with its reason is about 60.
MAX_ANSWER_TOKENS = 160


def _trees(c: dict[str, Any]) -> None:
    # the first model is a network either way (it checks the config); the search then
    # spends the budget on trees
    c["search"]["space"]["families"] = ["hist_gbt", "extra_trees", "mlp"]


def _fast(c: dict[str, Any]) -> None:
    c["model"]["hidden_sizes"] = [max(32, c["model"]["hidden_sizes"][-1] // 2)]
    c["max_epochs"] = min(c["max_epochs"], 100)
    c["optimizer"]["learning_rate"] = 3e-3


def _wide(c: dict[str, Any]) -> None:
    c["model"]["family"] = "resnet"
    c["model"]["hidden_sizes"] = [2 * h for h in c["model"]["hidden_sizes"]]
    c["model"]["dropout"] = 0.2
    c["optimizer"]["weight_decay"] = 1e-3


#: The expert's config and three variants of it: what each is, and how it changes the
#: expert's draft. The planner's prompt lists the descriptions (a choice made with the task);
#: `choose_config`'s prompt shows each candidate's numbers.
CANDIDATES: list[tuple[str, Callable[[dict[str, Any]], None] | None]] = [
    ("the expert's config", None),
    ("a search mostly over trees (often best on tabular data)", _trees),
    ("a small fast network: one layer, at most 100 epochs", _fast),
    ("a wider residual network with more regularisation", _wide),
]


def candidate_configs(draft: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The expert's config and three variants of it, each with a one-line description."""
    configs = []
    for what, change in CANDIDATES:
        config = copy.deepcopy(draft)
        if change is not None:
            change(config)
        configs.append((what, config))
    return configs


def _line(i: int, what: str, config: dict[str, Any]) -> str:
    model, opt = config["model"], config["optimizer"]
    families = ", ".join(config["search"]["space"].get("families") or [model["family"]])
    return (f"{i}: {what}: {model['family']} {model.get('hidden_sizes')}, dropout "
            f"{model.get('dropout')}, lr {opt['learning_rate']:g}, up to {config['max_epochs']} "
            f"epochs, batch {config['batch_size']}; search over {families}")


def config_prompt(task: TaskSpec, profile: DataProfile, candidates: list[tuple[str, dict]]
                  ) -> str:
    """The config prompt: the task, the data's shape and the candidates, one line each."""
    kinds: dict[str, int] = {}
    for c in profile.columns:
        if c.name != task.target:
            kinds[c.kind] = kinds.get(c.kind, 0) + 1
    imbalance = profile.target.imbalance_ratio if profile.target else None
    return render(PROMPT, target=task.target, task_type=task.task_type, metric=task.metric,
                  budget_s=f"{task.budget_s:g}", n_rows=profile.n_rows,
                  features=", ".join(f"{n} {k}" for k, n in kinds.items()),
                  imbalance=f"{imbalance:.2f}" if imbalance is not None else "n/a",
                  candidates=[_line(i, what, c) for i, (what, c) in enumerate(candidates)],
                  families=", ".join(get_args(NetworkFamily)), epochs=EPOCHS,
                  learning_rate=LEARNING_RATE)


def adjusted(config: dict[str, Any], args: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`config` with the model's adjustments; raises ValueError naming a value out of range."""
    config = copy.deepcopy(config)
    changes = []
    family = args.get("family")
    if family is not None:
        if family not in get_args(NetworkFamily):
            raise ValueError(f"family: {family!r} is not one of {', '.join(get_args(NetworkFamily))}")
        config["model"]["family"] = family
        changes.append(f"family {family}")
    epochs = args.get("max_epochs")
    if epochs is not None:
        if not EPOCHS[0] <= int(epochs) <= EPOCHS[1]:
            raise ValueError(f"max_epochs: {epochs} is outside {EPOCHS[0]}-{EPOCHS[1]}")
        config["max_epochs"] = int(epochs)
        changes.append(f"max_epochs {int(epochs)}")
    lr = args.get("learning_rate")
    if lr is not None:
        if not LEARNING_RATE[0] <= float(lr) <= LEARNING_RATE[1]:
            raise ValueError(f"learning_rate: {lr} is outside {LEARNING_RATE[0]:g}-"
                             f"{LEARNING_RATE[1]:g}")
        config["optimizer"]["learning_rate"] = float(lr)
        changes.append(f"learning_rate {float(lr):g}")
    TrainingConfig.model_validate(config)  # the candidates are valid; so must the result be
    return config, changes


def reapply_choice(draft: dict[str, Any], choice: dict[str, Any], *, again: bool = True
                   ) -> tuple[dict[str, Any], str]:
    """The LLM's pick (`choose_config`'s arguments) made from `draft` with no new call: the
    one it made with the task (`again=False`), or its earlier one after a critic round
    changed the task."""
    candidates = candidate_configs(draft)
    index = int(choice["candidate"])
    config, changes = adjusted(candidates[index][1], choice)
    how = ("the LLM's earlier choice again" if again else "chosen by the LLM with the task")
    return config, (f"{how}: candidate {index} ({candidates[index][0]})"
                    + (", adjusted " + ", ".join(changes) if changes else ""))


def llm_choose_config(task: TaskSpec, profile: DataProfile, draft: dict[str, Any], chat_model
                      ) -> tuple[dict[str, Any], str, dict[str, Any] | None]:
    """The config the LLM picks among the expert's candidates, with how it was chosen and
    its valid choice (None when refused); the expert's own config when the model gives no
    valid choice after one retry."""
    candidates = candidate_configs(draft)
    prompt = config_prompt(task, profile, candidates)
    tries: list[str] = []

    def accept(args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        try:
            index = int(args.get("candidate"))
            if not 0 <= index < len(candidates):
                raise ValueError(f"candidate: {index} is not one of 0-{len(candidates) - 1}")
            config, changes = adjusted(candidates[index][1], args)
        except (TypeError, ValueError) as err:
            tries.append(str(err))
            if len(tries) > 1:
                return draft, (f"LLM choice {args} refused: {err}; used the expert's config"), None
            raise ValueError(str(err)) from None
        why = f"chosen by the LLM: candidate {index} ({candidates[index][0]})"
        if changes:
            why += ", adjusted " + ", ".join(changes)
        if args.get("reason"):
            why += f": {args['reason']}"
        return config, why, {k: args.get(k) for k in ("candidate", "family", "max_epochs",
                                                     "learning_rate")}

    try:
        _, (config, how, choice) = call_until_submitted(chat_model, [HumanMessage(prompt)],
                                                tools=[choose_config],
                                                finish={"choose_config": accept},
                                                max_turns=MAX_TURNS,
                                                max_tokens=MAX_ANSWER_TOKENS)
    except LLMError as err:
        return draft, f"LLM gave no config ({err}); used the expert's config", None
    return config, how, choice
