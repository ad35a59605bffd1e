"""pyproject.toml lists every package of the source tree, so a built wheel has them all
(the repository root is the `mlpilot` package; its packages are listed by hand)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_SHIPPED = {"tests", "benchmarks", "docs", "examples", "build", "dist"}


def test_every_package_in_the_tree_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"mlpilot"} | {
        ".".join(["mlpilot", *init.parent.relative_to(ROOT).parts])
        for init in ROOT.rglob("__init__.py")
        if init.parent != ROOT and init.relative_to(ROOT).parts[0] not in NOT_SHIPPED
        and not init.relative_to(ROOT).parts[0].startswith(".")
    }
    assert found == listed
