"""The data-roots rule alone: what resolves, what is refused and why, and how paths show."""

from __future__ import annotations

import json
import os

import pytest

from mlpilot.agent.settings import Settings
from mlpilot.guardrails.data_roots import (
    DataRootError,
    DataRoots,
    display_path,
    resolve_data_path,
)


@pytest.fixture
def tree(tmp_path):
    """datasets/ (a file, a sub-folder, an inner symlink, one leading out), uploads/, secret."""
    datasets, uploads = tmp_path / "datasets", tmp_path / "state" / "uploads"
    (datasets / "sub").mkdir(parents=True)
    uploads.mkdir(parents=True)
    (datasets / "penguins.csv").write_text("a,b\n1,2\n")
    (datasets / "sub" / "inner.csv").write_text("a\n1\n")
    (uploads / "up.csv").write_text("a\n1\n")
    (tmp_path / "secret.csv").write_text("s\n1\n")
    os.symlink(datasets / "penguins.csv", datasets / "alias.csv")
    os.symlink(tmp_path / "secret.csv", datasets / "out.csv")
    return tmp_path, DataRoots([datasets, uploads], state_dir=tmp_path / "state")


def test_files_inside_the_roots_resolve_by_name_label_or_absolute_path(tree):
    base, roots = tree
    penguins = (base / "datasets" / "penguins.csv").resolve()
    assert roots.labels == ["datasets", "uploads"]
    for raw in ("penguins.csv", "./penguins.csv", "datasets:penguins.csv", str(penguins),
                "alias.csv"):  # a symlink that stays inside is followed
        assert roots.resolve(raw) == penguins, raw
    assert roots.resolve("sub/inner.csv") == (base / "datasets" / "sub" / "inner.csv").resolve()
    assert roots.resolve("up.csv") == (base / "state" / "uploads" / "up.csv").resolve()
    assert roots.resolve("uploads:up.csv") == roots.resolve("up.csv")
    # A missing file inside a root resolves (the loader then says it does not exist).
    assert roots.resolve("nope.csv") == (base / "datasets" / "nope.csv").resolve()


@pytest.mark.parametrize(("raw", "why"), [
    ("../secret.csv", "parent folders"),
    ("out.csv", "leads outside"),
    ("datasets:out.csv", "leads outside"),
    ("/etc/passwd", "leads outside"),
    ("/proc/self/environ", "leads outside"),
    ("file:///etc/passwd", "URLs and drive letters"),
    ("C:\\Windows\\win.ini", "URLs and drive letters"),
    ("..\\secret.csv", "Windows-style"),
    ("%2e%2e%2fsecret.csv", "URL-encoded"),
    ("pen\x00guins.csv", "NUL or control"),
    ("x" * 4097, "longer than 4096"),
    ("a" * 256 + ".csv", "longer than 255 bytes"),
    ("~root/x.csv", "home folders"),
    ("penguins.csv.", "end with a dot"),
    ("penguins.csv ", "space"),
    ("", "empty"),
])
def test_refusals_name_the_rule_and_the_reason_without_touching_the_file(tree, raw, why):
    _, roots = tree
    with pytest.raises(DataRootError) as refused:
        roots.resolve(raw, field="test_data")
    message = str(refused.value)
    assert message.startswith("test_data: path refused") and why in message
    assert "inside the data roots (datasets:, uploads:)" in message and "\n" not in message


def test_a_refusal_is_the_same_whether_or_not_the_file_exists(tree):
    base, roots = tree
    messages = set()
    for raw in (str(base / "secret.csv"), str(base / "no-such-file.csv")):
        with pytest.raises(DataRootError) as refused:
            roots.resolve(raw)
        messages.add(str(refused.value))
    assert len(messages) == 1


def test_paths_show_by_label_and_messages_lose_server_paths(tree):
    base, roots = tree
    datasets = base / "datasets"
    assert roots.display(datasets / "penguins.csv") == "datasets:penguins.csv"
    assert roots.display(base / "state" / "uploads" / "up.csv") == "uploads:up.csv"
    assert roots.display(base / "state" / "runs" / "r1" / "report.md") == "state:runs/r1/report.md"
    assert roots.display("/etc/passwd") == "passwd"  # never an absolute path
    text = f"data file '{datasets}/penguins.csv' is empty; report at {base}/state/runs/r1/a.md"
    assert roots.redact(text) == ("data file 'datasets:penguins.csv' is empty; "
                                  "report at state:runs/r1/a.md")
    document = json.dumps({"data": f"{datasets}/penguins.csv"})
    assert json.loads(roots.redact_json(document)) == {"data": "datasets:penguins.csv"}
    assert resolve_data_path("penguins.csv", [datasets]) == (datasets / "penguins.csv").resolve()
    assert display_path(datasets / "sub" / "inner.csv", [datasets]) == "datasets:sub/inner.csv"


def test_labels_are_unique_words_and_no_roots_refuse_everything(tmp_path):
    (tmp_path / "a" / "data").mkdir(parents=True)
    (tmp_path / "b" / "data").mkdir(parents=True)
    (tmp_path / "My Files!").mkdir()
    roots = DataRoots([tmp_path / "a" / "data", tmp_path / "b" / "data", tmp_path / "My Files!",
                       tmp_path / "a" / "data"])
    assert roots.labels == ["data", "data-2", "my-files"]
    with pytest.raises(DataRootError, match="no data roots are configured"):
        DataRoots([]).resolve("x.csv")


def test_settings_read_the_roots_and_default_to_the_datasets_and_upload_folders(tmp_path,
                                                                                monkeypatch):
    monkeypatch.delenv("MLPILOT_DATA_ROOTS", raising=False)
    plain = Settings(data_dir=tmp_path / "state", datasets_dir=tmp_path / "datasets")
    assert plain.data_root_folders() == [tmp_path / "datasets", tmp_path / "state" / "uploads"]
    monkeypatch.setenv("MLPILOT_DATA_ROOTS", f"{tmp_path}/x, {tmp_path}/y:{tmp_path}/z")
    configured = Settings(data_dir=tmp_path / "state")
    assert configured.data_root_folders() == [tmp_path / "x", tmp_path / "y", tmp_path / "z",
                                              tmp_path / "state" / "uploads"]
