"""The web page at `/`, in a real browser: Debian's chromium driven headless by Playwright,
against a real `lockstep serve` and a real `lockstep worker` on a temp SQLite database.

The browser tests skip only when /usr/bin/chromium is absent (`.ci/run` installs it); the
page's own routes are also checked over plain HTTP, without a browser.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockstep import Lockstep
from tests.conftest import CORPUS, ROOT
from tests.servers import free_port, healthy

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
POLICIES = ROOT / "examples" / "training-policies"
ARTIFACTS = Path(os.environ.get("LOCKSTEP_TEST_ARTIFACTS", ROOT / ".lockstep" / "test-artifacts"))
WAIT_MS = 90_000
"""Upper bound for a run to reach the next stop (never asserted as a timing)."""


class Site:
    """A `lockstep serve` and a `lockstep worker` on one database, with API keys."""

    def __init__(self, db: str, tmp: Path) -> None:
        self.db, self.tmp = db, tmp
        self.keys: dict[str, str] = {}
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.base = ""
        self.env = {**os.environ, "NO_COLOR": "1"}
        self.env.pop("LOCKSTEP_MODEL", None)  # the offline model: deterministic runs

    def key(self, user: str, roles: str) -> str:
        from lockstep.db import Database
        from lockstep.server.auth import create_key

        database = Database(self.db)
        try:
            self.keys[user] = create_key(database, user, roles.split(","))[1]
        finally:
            database.close()
        return self.keys[user]

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as sink:  # a file, not a pipe: nobody has to drain it
            proc = subprocess.Popen(
                [sys.executable, "-m", "lockstep", *args, "--db", self.db],
                cwd=self.tmp,  # no ./lockstep.yaml from the repository
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.procs.append((proc, log))
        return proc

    def serve(self, *flags: str) -> None:
        port = free_port()
        proc = self._spawn("server", "serve", "--port", str(port), *flags)
        self.base = f"http://127.0.0.1:{port}"
        self.wait("the server to answer", lambda: healthy(self.base), proc)

    def worker(self) -> None:
        proc = self._spawn("worker", "worker")
        log = self.procs[-1][1]
        self.wait("the worker to start", lambda: b"worker " in log.read_bytes(), proc)

    def wait(self, what: str, ready: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 60
        while not ready():
            assert proc.poll() is None, f"{what}: exited\n{self.logs()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}\n{self.logs()}"
            time.sleep(0.1)

    def http(self, user: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[user]}"} if user else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=120)

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for _, log in self.procs)

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def site(sqlite_url: str, tmp_path: Path) -> Iterator[Site]:
    s = Site(sqlite_url, tmp_path)
    try:
        yield s
    finally:
        s.stop()
        assert "Traceback" not in s.logs(), s.logs()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _page(browser: Any, errors: list[str]) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


def _record_statuses(page: Any) -> None:
    """Keep every status the job list shows, in order (rows are redrawn on each event)."""
    page.evaluate(
        """() => {
          window.seenStatuses = [];
          new MutationObserver(() => {
            for (const row of document.querySelectorAll('#jobs tbody tr')) {
              const s = row.dataset.job + ':' + row.dataset.status;
              if (window.seenStatuses[window.seenStatuses.length - 1] !== s)
                window.seenStatuses.push(s);
            }
          }).observe(document.querySelector('#jobs tbody'), {childList: true, subtree: true});
        }"""
    )


def _fill_run(page: Any, workflow: str, topic: str, sources: Path) -> None:
    page.select_option("#f-workflow", workflow)
    page.fill("#f-topic", topic)
    page.fill("#f-sources", str(sources))


def test_page_submits_a_brief_watches_it_live_and_approves_a_training_gate(
    site: Site, browser: Any
) -> None:
    from playwright.sync_api import expect

    site.key("ana", "submitter,approver")
    site.serve()
    site.worker()
    errors: list[str] = []
    page = _page(browser, errors)
    page.goto(site.base)

    # The key is asked for once; a wrong one is refused, the right one opens the page.
    expect(page.locator("#login")).to_be_visible()
    page.fill("#key-input", "ls_wrong")
    page.click("#key-form button")
    expect(page.locator("#key-error")).to_contain_text("refused")
    page.fill("#key-input", site.keys["ana"])
    page.click("#key-form button")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#conn")).to_have_text("live")
    _record_statuses(page)

    # A brief, submitted through the form, completes in the list without a reload.
    _fill_run(page, "brief", "Should Calder Bay cap short-term rentals?", CORPUS)
    page.click("#f-submit")
    expect(page.locator("#submit-msg")).to_contain_text("Queued job")
    brief_row = page.locator("#jobs tbody tr").first
    brief_id = brief_row.get_attribute("data-job")
    expect(brief_row).to_have_attribute("data-status", "succeeded")
    seen = [s.split(":", 1)[1] for s in page.evaluate("window.seenStatuses") if brief_id in s]
    assert seen[0] == "queued" and seen[-1] == "succeeded", seen
    expect(page.locator("#d-path li.current")).to_have_attribute("data-state", "completed")
    expect(page.locator("#d-events")).to_contain_text("succeeded")

    # Artifacts: the sources report has versions; the diff view shows what v2 added.
    page.click("#d-artifacts button[data-artifact^='sources-'][data-version='2']")
    expect(page.locator("#v-title")).to_contain_text("@2")
    page.click("#v-diff")
    expect(page.locator("#v-title")).to_contain_text("Changes from v1 to v2")
    expect(page.locator("#v-body .add").first).to_contain_text("sources[")

    # A training run stops at its objectives gate; the page shows the objectives.
    page.select_option("#f-workflow", "training")
    _fill_run(page, "training", "Gifts, bribery and conflicts of interest", POLICIES)
    page.fill("#f-audience", "All office and depot staff")
    page.fill("#f-duration", "30")
    page.fill("#f-deadline", "2027-01-31")
    page.click("#f-submit")
    training_row = page.locator("#jobs tbody tr.selected")
    expect(training_row).to_have_attribute("data-status", "waiting_human")
    gate = page.locator("#d-gate")
    expect(gate).to_be_visible()
    expect(page.locator("#g-title")).to_contain_text("awaiting_objectives_approval")
    expect(page.locator("#g-review .objectives > li")).to_have_count(3)
    expect(page.locator("#d-path li.current")).to_have_attribute(
        "data-state", "awaiting_objectives_approval"
    )

    # A decision the gate refuses (a rejection needs a comment) shows the server's 409.
    page.click("#g-buttons button[data-decision='rejected']")
    expect(page.locator("#g-msg")).to_contain_text("requires a comment")
    expect(page.locator("#g-msg")).to_have_class("msg error")
    expect(page.locator("#d-path li.current")).to_have_attribute(
        "data-state", "awaiting_objectives_approval"
    )

    # Approve through the button: the run goes on to the final approval gate.
    page.fill("#g-comment", "Objectives match the policies.")
    page.click("#g-buttons button[data-decision='approved']")
    expect(page.locator("#d-notice")).to_contain_text("a worker continues the run")
    expect(page.locator("#d-path li.current")).to_have_attribute(
        "data-state", "awaiting_final_approval"
    )
    expect(page.locator("#g-title")).to_contain_text("awaiting_final_approval")
    expect(page.locator("#g-buttons button[data-decision='minor_changes']")).to_be_visible()
    expect(page.locator("#d-path li[data-state='designing_assessments']")).to_have_count(1)
    thread_id = page.locator("#d-meta dd[data-field='thread']").inner_text()
    with site.http("ana") as http:
        thread = http.get(f"/threads/{thread_id}").json()
    assert thread["status"] == "awaiting_final_approval"
    assert thread["gate"]["gate"] == "awaiting_final_approval"

    # The diagram: an SVG drawn on the server, shown through the page.
    page.click("#d-diagram-box summary")
    page.wait_for_function("document.querySelector('#d-diagram').naturalWidth > 0")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "web-page.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000

    # The final approval: the job succeeds, live, and the SCORM package is listed.
    page.click("#g-buttons button[data-decision='approved']")
    expect(training_row).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#d-path li.current")).to_have_attribute("data-state", "completed")
    expect(gate).to_be_hidden()
    page.click("#d-artifacts button[data-artifact^='package-'][data-version='1']")
    expect(page.locator("#v-body")).to_contain_text("binary zip")
    with Lockstep(site.db) as client:  # the audit log names who decided what
        decisions = [
            (
                row["actor"],
                row["detail"]["gate"],
                row["detail"]["decision"],
                row["detail"]["comment"],
            )
            for row in client.audit(thread_id)
            if row["kind"] == "decision"
        ]
    assert decisions == [
        ("ana", "awaiting_objectives_approval", "approved", "Objectives match the policies."),
        ("ana", "awaiting_final_approval", "approved", None),
    ]
    assert errors == [], errors


@pytest.fixture
def fabricating_worker(site: Site) -> Iterator[None]:
    """A real `Worker`, in this process so it can run a chat model that breaks every
    citation (tests/models.py): briefs then stop at `human_review` with a draft to judge."""
    from lockstep.queue import Worker
    from tests.models import FabricatingModel

    worker = Worker(site.db, model=FabricatingModel(revisions_fabricated=99))
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        worker.stop()
        thread.join(60)


def test_page_without_auth_reviews_a_brief_draft_and_shows_markup_as_text(
    site: Site, browser: Any, fabricating_worker: None
) -> None:
    from playwright.sync_api import expect

    site.serve("--no-auth")
    errors: list[str] = []
    page = _page(browser, errors)
    page.goto(site.base)
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#change-key")).to_be_hidden()

    topic = 'Rent caps <img src=x onerror="window.pwned=1"> & <b>bold</b>?'
    _fill_run(page, "brief", topic, CORPUS)
    page.click("#f-submit")
    row = page.locator("#jobs tbody tr").first
    expect(row).to_have_attribute("data-status", "waiting_human")
    expect(row.locator(".sub").first).to_have_text(topic)
    expect(page.locator("#d-title")).to_have_text(f"brief · {topic}")

    # Markup is not a topic term, but the topic's visible words ("bold", ...) are in no
    # document, so too few sources count as relevant: the first gate asks for more sources
    # (its page shows the topic as text); cancel it.
    expect(page.locator("#g-title")).to_contain_text("human_input_needed")
    assert page.locator("main img:not(#d-diagram), main b").count() == 0
    page.click("#g-buttons button[data-decision='cancel']")
    expect(row).not_to_have_attribute("data-status", "waiting_human", timeout=WAIT_MS)

    # A brief on the corpus's own topic reaches the review gate (the worker's model alters
    # quotes, so verification fails).
    _fill_run(page, "brief", "Should Calder Bay cap and register short-term rentals?", CORPUS)
    page.click("#f-submit")
    row = page.locator("#jobs tbody tr").first
    expect(row).to_have_attribute("data-status", "waiting_human", timeout=WAIT_MS)

    # The review material: the draft with its footnoted citations, and what failed.
    expect(page.locator("#g-title")).to_contain_text("human_review")
    draft = page.locator("#g-review details[open] pre.material")
    expect(draft).to_contain_text("[^")
    expect(draft).to_contain_text("allegedly.")  # the altered quotes the verifier caught
    expect(page.locator("#g-review")).to_contain_text("Citation failures")
    expect(page.locator("#g-review ul li").first).to_be_visible()
    expect(page.locator("#g-buttons button")).to_have_text(["approve", "revise", "abandon"])
    page.click("#g-buttons button[data-decision='revise']")
    expect(page.locator("#g-msg")).to_contain_text("requires a comment")
    page.click("#g-buttons button[data-decision='approve']")
    expect(row).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#d-path li.current")).to_have_attribute("data-state", "completed")

    assert page.locator("main img:not(#d-diagram), main b").count() == 0
    assert page.evaluate("window.pwned") is None
    assert errors == [], errors


def _svg_fill(svg: bytes, state: str) -> str | None:
    """The fill of the node drawn for `state` in graphviz's SVG."""
    ns = {"s": "http://www.w3.org/2000/svg"}
    for group in ET.fromstring(svg).iterfind(".//s:g[@class='node']", ns):
        title = group.find("s:title", ns)
        if title is not None and title.text == state:
            shapes = [e for e in group if e.tag.split("}")[1] in ("path", "polygon", "ellipse")]
            return shapes[0].get("fill") if shapes else None
    raise AssertionError(f"no node {state!r} in the SVG")


def test_page_routes_config_path_and_diagram(site: Site) -> None:
    site.key("ana", "submitter,approver")
    site.key("bob", "submitter")
    site.serve()
    with site.http() as anonymous:
        assert anonymous.get("/ui/config").json() == {
            "auth": True,
            "workflows": ["brief", "brief_digest", "training"],
        }
        index = anonymous.get("/")
        assert index.status_code == 200 and "text/html" in index.headers["content-type"]
        assert "/ui/static/app.js" in index.text
        script = anonymous.get("/ui/static/app.js")
        assert script.status_code == 200 and "readEvents" in script.text
        assert anonymous.get("/ui/static/style.css").status_code == 200
        assert anonymous.get("/ui/threads/x/path").status_code == 401
    with site.http("ana") as ana:
        started = ana.post(
            "/threads",
            json={
                "workflow": "training",
                "thread_id": "web-t1",
                "inputs": {
                    "topic": "Gifts and bribery",
                    "audience": "All staff",
                    "sources": [str(POLICIES)],
                    "duration": 30,
                    "deadline": "2027-01-31",
                    "language": "en",
                },
            },
        )
        assert started.json()["status"] == "awaiting_objectives_approval", started.text
        path = ana.get("/ui/threads/web-t1/path").json()
        assert path["current"] == "awaiting_objectives_approval" and path["final"] is False
        assert [t["event"] for t in path["path"]] == ["validated", "objectives_ready"]
        kinds = {s["name"]: s["type"] for s in path["states"]}
        assert kinds["exporting"] == "step" and kinds["awaiting_final_approval"] == "human_gate"
        diagram = ana.get("/ui/threads/web-t1/diagram.svg")
        assert diagram.headers["content-type"] == "image/svg+xml"
        assert _svg_fill(diagram.content, "awaiting_objectives_approval") == "#d3f9d8"
        assert _svg_fill(diagram.content, "intake") == "#dbe4ff"
        assert _svg_fill(diagram.content, "exporting") != "#dbe4ff"
        assert ana.get("/ui/threads/nope/path").status_code == 404
    with site.http("bob") as bob:  # another user's thread reads as unknown
        assert bob.get("/ui/threads/web-t1/path").status_code == 404
        assert bob.get("/ui/threads/web-t1/diagram.svg").status_code == 404
