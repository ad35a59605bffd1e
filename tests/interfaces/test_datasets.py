"""Finding the dataset a chat line or a Slack message names."""

from __future__ import annotations

from mlpilot.guardrails.data_roots import DataRoots
from mlpilot.interfaces.datasets import find_dataset


def test_file_names_and_bare_names_resolve_in_the_data_folder(tmp_path):
    (tmp_path / "penguins.csv").write_text("a,b\n1,2\n")
    (tmp_path / "customers.parquet").write_text("x")
    roots = DataRoots([tmp_path])
    assert find_dataset("predict species from penguins.csv", tmp_path, roots).path == (
        tmp_path / "penguins.csv").resolve()
    assert find_dataset("what kind of penguin is it?", tmp_path, roots).words == "penguins"
    assert find_dataset("predict churn from the customers dataset", tmp_path, roots).path == (
        tmp_path / "customers.parquet").resolve()
    assert find_dataset("hello there", tmp_path, roots) is None
    assert find_dataset("predict species from nope.csv", tmp_path, roots).path is None


def test_names_outside_the_data_roots_are_refused_with_the_rule(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (tmp_path / "secret.csv").write_text("a\n1\n")
    (folder / "secret.csv").symlink_to(tmp_path / "secret.csv")  # a bare name, leading out
    roots = DataRoots([folder])
    for text in ("use ../secret.csv", f"use {tmp_path / 'secret.csv'}", "use secret.csv"):
        mention = find_dataset(text, folder, roots)
        assert mention.path is None and "data roots" in mention.refused, text
    # A bare name matches only files that stay inside the roots.
    assert find_dataset("the secret dataset", folder, roots) is None
    assert find_dataset("the secret dataset", folder).words == "secret"
    # Without roots only the words are found (to tell whether a message names a file).
    assert find_dataset(f"use {tmp_path / 'secret.csv'}", folder).path is None
