"""Sandbox tests need bubblewrap; without it they are skipped, saying how to install it
(the refusal itself is tested without it)."""

from __future__ import annotations

import shutil

import pytest

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None,
    reason="bubblewrap is not installed (apt-get install bubblewrap): without it the sandbox "
           "refuses to run code, which test_refused_without_bubblewrap checks")
