"""The web pages behind a real uvicorn: signing in with a key, the approval queue and its
forms (roles, reasons, the form token), and the whole flow in Debian's Chromium: open the
queue, approve a waiting job, see it go on to "succeeded"."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.interfaces.web import csrf_token
from tests.conftest import dataset
from tests.interfaces.servers import serve

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
KEYS = {"approver-key": {"role": "approver", "name": "alice"},
        "viewer-key": {"role": "viewer", "name": "victor"}}


@pytest.fixture
def site(request):
    """The API app (with its pages) under uvicorn, its workers in threads (they start at
    once); `request.param` overrides settings."""
    from mlpilot.interfaces.api import create_app

    overrides = getattr(request, "param", {})
    settings = Settings(api_keys=KEYS, workers=1, worker_poll_s=0.1, worker_mode="thread",
                        **overrides)
    app = create_app(settings)
    with serve(app) as url:
        yield url, app.state.jobs


def signed_in(url: str, key: str) -> httpx.Client:
    """A client that signed in the way a browser does: on the login form, with its token."""
    client = httpx.Client(base_url=url, follow_redirects=True)
    form = client.get("/ui/login?next=/ui/approvals").text
    first = client.post("/ui/login", data={"key": key, "csrf": token(form),
                                           "next": "/ui/approvals"}, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/ui/approvals"
    assert "HttpOnly" in first.headers["set-cookie"]
    return client


def token(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


@pytest.mark.parametrize("site", [{"approval_budget_s": 5}], indirect=True)
def test_the_queue_needs_a_key_shows_the_reason_and_only_approvers_decide(site):
    url, jobs = site
    anonymous = httpx.get(f"{url}/ui/approvals", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/ui/login")
    with httpx.Client(base_url=url) as browser:
        form = browser.get("/ui/login").text
        wrong = browser.post("/ui/login", data={"key": "nope", "next": "/ui/jobs",
                                                "csrf": token(form)})
    assert "not+valid" in wrong.headers["location"]

    # A two-minute budget is over the 5 s threshold: the job waits before training.
    job, _ = jobs.submit(TaskRequest(request="predict species, 2 minutes",
                                     data=dataset("penguins.csv")))
    jobs.wait(job.id, until=["waiting_approval"], timeout=60)
    [gate] = jobs.approvals(job_id=job.id)

    viewer = signed_in(url, "viewer-key")
    page = viewer.get("/ui/approvals").text
    assert f"approval-{gate.id}" in page and "train for up to 120 s" in page
    assert "training budget 120 s is over the approval threshold of 5 s" in page
    assert "Only approvers can decide" in page and 'value="approve"' not in page
    refused = viewer.post(f"/ui/approvals/{gate.id}/decide",
                          data={"decision": "approve", "csrf": csrf_token("viewer-key")})
    assert "needs the approver role" in refused.text

    alice = signed_in(url, "approver-key")
    page = alice.get("/ui/approvals").text
    assert 'value="approve"' in page and "from the defaults" in page
    forged = alice.post(f"/ui/approvals/{gate.id}/decide", data={"decision": "approve"})
    assert "The form expired" in forged.text
    no_reason = alice.post(f"/ui/approvals/{gate.id}/decide",
                           data={"decision": "reject", "csrf": token(page)})
    assert "A rejection needs a reason" in no_reason.text
    assert jobs.approval(gate.id).status == "pending"

    done = alice.post(f"/ui/approvals/{gate.id}/decide",
                      data={"decision": "reject", "reason": "two minutes is too long",
                            "csrf": token(page), "next": f"/ui/jobs/{job.id}"})
    assert done.url.path == f"/ui/jobs/{job.id}" and "train for " + job.id in done.text
    decided = jobs.approval(gate.id)
    assert (decided.status, decided.decided_by, decided.decision_reason) == (
        "rejected", "alice", "two minutes is too long")
    assert jobs.wait(job.id, timeout=30).status == "rejected"
    again = alice.post(f"/ui/approvals/{gate.id}/decide",
                       data={"decision": "approve", "csrf": token(page)})
    assert "already rejected by alice" in again.text


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium "
                    "(apt-get install chromium); .ci/run installs it")
def test_approving_in_the_browser_lets_the_job_finish(site):
    from playwright.sync_api import expect, sync_playwright

    url, jobs = site
    # Without pre-approval the job trains, then waits to register its model.
    job, _ = jobs.submit(TaskRequest(request="predict species, 3 seconds",
                                     data=dataset("penguins.csv")))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{url}/ui/approvals")
            page.fill("input[name=key]", "approver-key")
            page.click("button:has-text('Sign in')")
            expect(page.locator("h1")).to_have_text("Approval queue")

            # The job page follows the run live and reloads itself when it stops to ask.
            page.goto(f"{url}/ui/jobs/{job.id}")
            expect(page.locator("#status")).to_have_text("waiting approval", timeout=90_000)
            expect(page.locator("#curve polyline.score")).to_have_count(1, timeout=15_000)

            page.click("nav >> text=Approvals")
            card = page.locator(f"[data-approval] >> text={job.id}").locator(
                "xpath=ancestor::article")
            expect(card.locator("h2")).to_contain_text("make this run's model the registry's champion")
            card.locator("input[name=reason]").fill("scores look right")
            card.locator("button[value=approve]").click()
            expect(page.locator(".notice")).to_contain_text(f"register_champion for {job.id}: approved")
            expect(page.locator("text=Nothing is waiting for a decision.")).to_be_visible()

            page.click(f"table.list a:has-text('{job.id}')")
            expect(page.locator("#status")).to_have_text("succeeded", timeout=60_000)
            expect(page.locator("#summary")).to_contain_text("Registered penguins-species v1")
            page.click("nav >> text=Models")
            expect(page.locator("table.list")).to_contain_text("penguins-species")
        finally:
            browser.close()
    assert jobs.approvals(status="approved", job_id=job.id)[0].decided_by == "alice"


def test_a_job_that_needs_an_answer_shows_the_question_and_its_choices(site):
    from mlpilot.agent.runner import Runner

    url, jobs = site
    # accuracy fits three class columns of penguins: the planner must ask which
    outcome = Runner(jobs.settings).start(TaskRequest(request="build a model, accuracy, 30 seconds",
                                                      data=dataset("penguins.csv")))
    assert outcome.status == "needs_input"
    page = signed_in(url, "viewer-key").get(f"/ui/jobs/{outcome.job_id}").text
    question = page[page.index('id="question"'):]
    assert "Which column" in question
    assert re.search(r'<ol class="choices">(<li><code>\w+</code></li>)*<li><code>species</code>',
                     question)
    assert "not known yet" in page and "accuracy" in page  # read without the target
