"""The search's seconds after the base run: what is left, or a rescue share of a budget
meant for a search when the base run overran it (a loaded machine), once per job."""

from __future__ import annotations

from mlpilot.agent.trainer import MIN_SEARCH_S, RESCUE_SHARE, search_seconds


def test_the_search_gets_what_the_base_run_left():
    assert search_seconds(60.0, 9.0) == 51.0


def test_a_base_run_that_overran_a_long_budget_still_leaves_the_search_a_share():
    # the base run took 70 s of a 60 s budget: without a search, a barely trained network
    assert search_seconds(60.0, 70.0) == RESCUE_SHARE * 60.0
    assert search_seconds(60.0, 59.0) == RESCUE_SHARE * 60.0


def test_no_rescue_on_a_short_budget_or_after_a_round_of_the_search():
    assert search_seconds(5.0, 4.5) == 0.5 < MIN_SEARCH_S  # skipped, as before
    assert search_seconds(60.0, 59.0, searched=True) == 1.0  # a round spent the budget
