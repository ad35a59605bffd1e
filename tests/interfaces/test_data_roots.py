"""Data confined to its roots, over every interface that takes a path: REST JSON and YAML
(`data`, `test_data`), the upload form, the chat (lines and the LLM's tool), and Slack.

Each case of `traversal_corpus` is refused with the rule, no job is made, the sentinel
file's content never comes back, and an audit hook on `open` proves it was never opened.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from mlpilot.agent.jobs import JobService
from mlpilot.agent.settings import Settings
from mlpilot.interfaces.chat import ChatSession
from mlpilot.interfaces.datasets import find_dataset
from tests.interfaces.api_fixtures import OPERATOR, VIEWER, api_client
from tests.interfaces.servers import FakeSlack
from tests.interfaces.traversal_corpus import TraversalLayout, traversal_corpus

PROBLEM = "application/problem+json"
RULE = "data roots"
_WATCHED: list[str] = []  # prefixes of paths that must not be opened, while a test watches
_OPENED: list[str] = []


def _audit(event: str, args: tuple) -> None:
    """Record every `open` of a watched path (also through a symlink or a relative path)."""
    if event != "open" or not _WATCHED or isinstance(args[0], int) or args[0] is None:
        return
    try:
        path = os.fsdecode(args[0])
    except (TypeError, ValueError):
        return
    if path.startswith(tuple(_WATCHED)) or (not path.startswith(("/usr", "/work/main"))
                                            and os.path.realpath(path).startswith(tuple(_WATCHED))):
        _OPENED.append(path)


sys.addaudithook(_audit)  # hooks cannot be removed: this one is idle unless a test watches


@pytest.fixture
def layout(tmp_path) -> TraversalLayout:
    """The corpus, its folders, and the audit of opens around the test."""
    corpus = traversal_corpus(tmp_path / "corpus")
    _OPENED.clear()
    _WATCHED[:] = corpus.watched()
    yield corpus
    _WATCHED.clear()


def roots_settings(layout: TraversalLayout) -> dict:
    return {"data_roots": [layout.root], "datasets_dir": layout.root}


def assert_refused(layout: TraversalLayout, answer, where: str) -> None:
    """A 4xx problem naming the rule (or the length limit), without the sentinel's content."""
    assert answer.status_code in (403, 422), (where, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"] == PROBLEM, where
    detail = answer.json()["detail"]
    assert RULE in detail or "4096" in detail, (where, detail)
    if answer.status_code == 403:
        assert answer.json()["type"].endswith(":data-root"), where
    assert layout.secret not in answer.text and str(layout.outside) not in answer.text, where


def test_rest_json_and_yaml_refuse_every_corpus_path_without_opening_it(layout):
    assert len(layout.cases) >= 30
    with api_client(workers=0, **roots_settings(layout)) as api:
        for case in layout.cases:
            bodies = {
                "json data": {"request": "predict species", "data": case.path},
                "json test_data": {"request": "predict species", "data": "birds.csv",
                                   "test_data": case.path},
                "yaml data": {"config": "request: predict species\n"
                                        f"data: {json.dumps(case.path)}\n"},
                "yaml test_data": {"config": "request: predict species\ndata: birds.csv\n"
                                             f"test_data: {json.dumps(case.path)}\n"},
                "yaml override": {"config": "request: predict species\ndata: birds.csv\n",
                                  "data": case.path},
            }
            for how, body in bodies.items():
                assert_refused(layout, api.post("/jobs", json=body, headers=OPERATOR),
                               f"{case.id} {how}: {case.path[:60]!r}")
        assert api.get("/jobs", headers=VIEWER).json() == []
        # The same root file is accepted, and shown by its root's label.
        accepted = api.post("/jobs", headers=OPERATOR, json={
            "request": "predict species", "data": "birds.csv"})
        assert accepted.status_code == 202, accepted.text
        document = api.get(f"/jobs/{accepted.json()['run_id']}", headers=VIEWER).json()
        assert document["request"]["data"] == "root:birds.csv"
    assert _OPENED == []


def test_upload_file_names_cannot_place_files_outside_the_upload_folder(layout):
    before = sorted(p for p in layout.outside.parent.rglob("*"))
    with api_client(workers=0, **roots_settings(layout)) as api:
        for case in {case.kind: case for case in layout.cases}.values():  # one of each kind
            answer = api.post("/jobs/upload", headers=OPERATOR, data={"request": "predict species"},
                              files={"file": (case.path, b"")})
            # 400: a multipart header too long to parse; 422: the (empty) file was saved inside
            assert answer.status_code in (400, 422), case.id
            assert answer.status_code == 400 or "is empty" in answer.json()["detail"], case.id
            assert str(layout.root) not in answer.text, case.id
        assert api.get("/jobs", headers=VIEWER).json() == []
    assert sorted(p for p in layout.outside.parent.rglob("*")) == before
    assert _OPENED == []


def test_chat_lines_and_the_llm_tool_refuse_paths_outside_the_roots(layout):
    session = ChatSession(Settings(**roots_settings(layout)), write=lambda _: None, user="x")
    for case in layout.cases:
        line = f"predict species from {case.path}"
        for reply in (session.reply(line), session.start_job("predict species", data=case.path)):
            session.awaiting = None
            assert layout.secret not in reply and str(layout.outside) not in reply, case.id
            named = find_dataset(case.path, None)
            if named is not None and named.words == case.path:  # the chat saw this very path
                assert RULE in reply, (case.id, reply)
            else:
                assert RULE in reply or "Which data file" in reply or "cannot find" in reply, \
                    (case.id, reply)
            assert session.current is None, case.id  # no job started
    assert session.jobs.store.jobs() == []
    assert _OPENED == []


def test_slack_mentions_refuse_paths_outside_the_roots(layout):
    from mlpilot.interfaces.slack import SlackBot

    slack = FakeSlack()
    try:
        settings = Settings(**roots_settings(layout), slack_signing_secret="s" * 32,
                            slack_bot_token="xoxb-test", slack_api_url=slack.url)
        service = JobService(settings, workers=0)
        bot = SlackBot(settings, service)
        for i, case in enumerate(layout.cases):
            bot._on_mention({"channel": "C1", "user": "U1", "ts": f"{i}.0",
                             "text": f"<@UBOT> predict species from {case.path}"})
            [reply] = [m["text"] for m in slack.of("chat.postMessage")
                       if m["thread_ts"] == f"{i}.0"]
            assert layout.secret not in reply and str(layout.outside) not in reply, case.id
            assert RULE in reply or "Which dataset?" in reply, (case.id, reply)
            assert "link.csv" not in reply  # names leading outside are not offered
        assert service.jobs() == []
    finally:
        slack.close()
    assert _OPENED == []


def test_documents_events_and_pages_show_paths_by_label_never_server_paths(layout):
    data_dir = Path(os.environ["MLPILOT_DATA_DIR"])
    with api_client(workers=1, **roots_settings(layout)) as api:
        run = api.post("/jobs", headers=OPERATOR, json={
            "request": "predict species, 2 seconds", "data": str(layout.root / "birds.csv"),
            "test_data": "root:birds.csv", "auto_approve": True, "training": {"max_epochs": 2}})
        assert run.status_code == 202, run.text
        run_id = run.json()["run_id"]
        api.app.state.jobs.wait(run_id, timeout=120)
        document = api.get(f"/jobs/{run_id}", headers=VIEWER)
        events = api.get(f"/jobs/{run_id}/events", headers=VIEWER)
        login = api.get("/ui/login").text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', login).group(1)
        api.post("/ui/login", data={"key": "view-key", "csrf": csrf, "next": "/ui/approvals"})
        page = api.get(f"/ui/jobs/{run_id}")
        listing = api.get("/jobs", headers=VIEWER)
    assert document.json()["status"] == "succeeded", document.text[:500]
    assert document.json()["request"]["data"] == "root:birds.csv"
    assert document.json()["request"]["test_data"] == "root:birds.csv"
    assert "state:runs/" in document.json()["report_path"]
    assert "state:runs/" in events.text  # "report saved to state:runs/..."
    assert "root:birds.csv" in page.text
    for answer in (document, events, page, listing):
        for server_path in (str(layout.root), str(data_dir.resolve())):
            assert server_path not in answer.text


def test_a_test_file_without_the_training_columns_is_refused_before_a_job_exists(layout):
    (layout.root / "short.csv").write_text("wing,species\n1,a\n2,b\n")
    (layout.root / "untargeted.csv").write_text("wing,beak\n1,2\n")
    with api_client(workers=0, **roots_settings(layout)) as api:
        for name, expected in (("short.csv", "lacks 1 column(s) of the training data ('beak')"),
                               ("untargeted.csv", "has no target column 'species'"),
                               ("missing.csv", "does not exist")):
            answer = api.post("/jobs", headers=OPERATOR, json={
                "request": "predict species", "data": "birds.csv", "test_data": name,
                "target": "species"})
            assert answer.status_code == 422 and expected in answer.json()["detail"], answer.text
            assert str(layout.root) not in answer.text
        assert api.get("/jobs", headers=VIEWER).json() == []


def test_the_cli_is_not_confined_its_user_reads_what_they_can(layout, monkeypatch):
    from typer.testing import CliRunner

    from mlpilot.interfaces.cli import app

    monkeypatch.setenv("MLPILOT_DATA_ROOTS", str(layout.root))
    mine = layout.outside / "mine.csv"  # outside the roots
    mine.write_bytes((layout.root / "birds.csv").read_bytes())
    planned = CliRunner().invoke(app, ["plan", "predict species", "--data", str(mine), "--json"])
    assert planned.exit_code == 0, planned.output
    assert json.loads(planned.stdout)["task"]["target"] == "species"
    assert _OPENED  # the audit sees the CLI open it: the hook is not blind
