"""Answering "why ..." from a run's decision log, without an LLM.

Each decision an agent makes is logged as (stage, decision, why). A question is matched
to the decision sharing most of its words (the decision's own words count more than its
reason; a few words point at a stage: "model" at the config generator, "search" at
tuning), the earliest on a tie, since that is where a choice was first made.
"""

from __future__ import annotations

import re

_STOPWORDS = {"why", "did", "do", "does", "you", "the", "a", "an", "it", "is", "was", "were",
              "pick", "picked", "choose", "chose", "chosen", "go", "with", "for", "of", "to",
              "what", "how", "come", "explain", "me", "this", "that", "on", "and", "decide",
              "decided", "make", "made", "so", "be", "in", "are", "there", "not", "no"}
_TOPICS = {"model": "config_generator", "network": "config_generator", "layer": "config_generator",
           "config": "config_generator", "architecture": "config_generator",
           "search": "tune", "tun": "tune", "trial": "tune", "optuna": "tune", "warm": "tune",
           "column": "planner", "task": "planner", "register": "deployer", "fix": "fault_doctor",
           "fault": "fault_doctor", "approv": "approval", "reject": "approval"}
_IRREGULAR = {"kept": "keep", "chose": "choose", "chosen": "choose", "ran": "run",
              "stopped": "stop", "left": "leave", "dropped": "drop"}


def _stems(text: str) -> set[str]:
    """Lower-case words without common endings ("registered" is "register")."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace("_", " "))
    words = [_IRREGULAR.get(w, w) for w in words if len(w) > 1]  # not the s of "expert's"
    return {re.sub(r"(?:ing|ed|es|s|al)$", "", w) if len(w) > 4 else w for w in words}


def matching_decisions(question: str, log: list[dict[str, str]]) -> list[dict[str, str]]:
    """The decision the question is about: most shared words (the decision itself counts
    more than its reason), the earliest on a tie (where a choice was first made)."""
    words = _stems(question) - _STOPWORDS
    stages = {_TOPICS[w] for w in words if w in _TOPICS}

    def score(d: dict[str, str]) -> int:
        return (3 * len(words & _stems(d["decision"])) + len(words & _stems(d["why"]))
                + 2 * (d["stage"] in stages))

    best = max(log, key=score)  # max keeps the first of equal scores
    return [best] if score(best) > 0 else []


def because(d: dict[str, str]) -> str:
    """One decision as a sentence: "planner decided metric f1 because ..."."""
    return f"{d['stage']} decided {d['decision']} because {d['why']}."
