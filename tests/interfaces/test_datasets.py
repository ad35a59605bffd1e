"""Finding the dataset a chat line or a Slack message names."""

from __future__ import annotations

from mlpilot.interfaces.datasets import find_dataset


def test_file_names_and_bare_names_resolve_in_the_data_folder(tmp_path):
    (tmp_path / "penguins.csv").write_text("a,b\n1,2\n")
    (tmp_path / "customers.parquet").write_text("x")
    assert find_dataset("predict species from penguins.csv", tmp_path).path == (
        tmp_path / "penguins.csv").resolve()
    assert find_dataset("what kind of penguin is it?", tmp_path).words == "penguins"
    assert find_dataset("predict churn from the customers dataset", tmp_path).path == (
        tmp_path / "customers.parquet").resolve()
    assert find_dataset("hello there", tmp_path) is None


def test_remote_users_cannot_reach_outside_the_data_folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (tmp_path / "secret.csv").write_text("a\n1\n")
    escaped = find_dataset("use ../secret.csv", folder, only_in_folder=True)
    assert escaped.words == "../secret.csv" and escaped.path is None
    absolute = find_dataset(f"use {tmp_path / 'secret.csv'}", folder, only_in_folder=True)
    assert absolute.path is None
    # A local chat user may name any file.
    assert find_dataset(f"use {tmp_path / 'secret.csv'}", folder).path is not None
