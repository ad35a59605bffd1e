"""The risk policy: risk level and budget to auto / log / approve."""

from __future__ import annotations

import pytest

from mlpilot.guardrails.policy import RiskPolicy


@pytest.mark.parametrize(
    ("action", "risk", "decision", "pre_approvable"),
    [
        ("profile_data", "low", "auto", False),
        ("write_config", "medium", "log", False),
        ("deploy", "high", "approve", True),
        ("delete_model", "critical", "approve", False),
        ("register_champion", "low", "approve", True),
        ("register_challenger", "low", "approve", True),
    ],
)
def test_risk_levels(action, risk, decision, pre_approvable):
    result = RiskPolicy().decide(action, risk)
    assert (result.decision, result.pre_approvable) == (decision, pre_approvable)
    assert result.reason


def test_short_training_runs_by_its_risk():
    assert RiskPolicy().decide("train", "low", budget_s=600).decision == "auto"


def test_long_training_needs_approval_that_may_be_given_in_advance():
    result = RiskPolicy().decide("train", "low", budget_s=1800)
    assert (result.decision, result.pre_approvable) == ("approve", True)
    assert "1800" in result.reason and "600" in result.reason


def test_training_over_the_hard_budget_needs_approval_at_the_time():
    policy = RiskPolicy(approval_budget_s=60, hard_budget_s=3600)
    result = policy.decide("train", "medium", budget_s=7200)
    assert (result.decision, result.pre_approvable) == ("approve", False)
    assert "7200" in result.reason and "3600" in result.reason
