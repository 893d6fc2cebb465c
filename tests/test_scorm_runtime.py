"""The SCORM 1.2 course in a real LMS runtime: scorm-again (npm) as `window.API` in the preview's
LMS page, served by a real HTTP server on 127.0.0.1, driven in Debian's chromium by Playwright.

Each course is built by the training workflow (offline model) from a request, validated against
the SCORM 1.2 XSDs it carries, then taken twice: a failing attempt that suspends, and a resumed
attempt that passes. What the runtime POSTs to the LMS commit URL is what is asserted.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from lockstep import Lockstep
from lockstep.training.preview import build_preview, scorm_again
from lockstep.training.scorm import MASTERY_SCORE, package_problems
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("scorm-browser")]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 60_000
"""Upper bound for the page to reach a state (never asserted as a timing)."""
SESSION_TIME = re.compile(r"^\d{2,4}:\d{2}:\d{2}(\.\d{1,2})?$")
SCREENSHOT = ROOT / "docs" / "training-course.png"


class LMS:
    """A static server for the preview folder that also takes scorm-again's commits."""

    def __init__(self, folder: Path) -> None:
        self.commits: list[dict[str, Any]] = []
        lms = self

        class Handler(SimpleHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                commit = json.loads(body)
                commit["final"] = "final=true" in self.path
                lms.commits.append(commit)
                self._reply(200, b'{"result": true, "errorCode": 0}')

            def do_GET(self) -> None:
                if self.path.startswith("/lms/state"):
                    state = lms.commits[-1] if lms.commits else {}
                    self._reply(200 if state else 404, json.dumps(state).encode())
                    return
                super().do_GET()

            def _reply(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=folder))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def launch_url(self) -> str:
        return (
            f"{self.url}/lms.html?course=course/index.html&commit=/lms/commit"
            "&state=/lms/state&name=Okafor,%20Ada"
        )

    def wait_for(self, status: str) -> dict[str, Any]:
        """LMSFinish's commit with `status` (polled, generous deadline)."""
        deadline = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < deadline:
            for commit in self.commits:
                core = commit.get("cmi", {}).get("core", {})
                if core.get("lesson_status") == status and commit["final"]:
                    return commit
            time.sleep(0.1)
        raise AssertionError(f"no commit with lesson_status {status}: {self.commits[-1:]}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def runtime() -> Path:
    """scorm-again from npm, installed once into .lockstep/npm (gitignored)."""
    return scorm_again(ROOT / ".lockstep" / "npm")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _package(request: Path, db: Path) -> bytes:
    """The SCORM package the workflow exports for `request`, both gates approved."""
    inputs = yaml.safe_load(request.read_text())
    inputs["sources"] = [str(ROOT / s) for s in inputs["sources"]]
    with Lockstep(f"sqlite:///{db}") as client:
        st = client.run("training", **inputs)
        assert st.status == "awaiting_objectives_approval", st
        st = client.resume(st.thread_id, "approved", by="ana")
        assert st.status == "awaiting_final_approval", st
        st = client.resume(st.thread_id, "approved", by="carla")
        assert st.status == "completed", st
        _meta, data = client.artifact(st.thread_id, "package")
    return data


def _answer(frame: Any, key: list[dict[str, str]], right: int) -> None:
    """Answer the quiz: the first `right` questions correctly, the rest wrongly."""
    for n, q in enumerate(key):
        values = frame.locator(f'input[name="{q["id"]}"]').evaluate_all(
            "els => els.map(e => e.value)"
        )
        value = q["answer"] if n < right else next(v for v in values if v != q["answer"])
        frame.locator(f'input[name="{q["id"]}"][value="{value}"]').check()


def _take_course(browser: Any, data: bytes, tmp: Path, screenshot: Path | None) -> None:
    folder = tmp / "preview"
    page_path = build_preview(data, folder, runtime=scorm_again(ROOT / ".lockstep" / "npm"))
    assert page_path == folder / "lms.html"
    lms = LMS(folder)
    try:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(WAIT_MS)
        page.goto(lms.launch_url())
        frame = page.frame_locator("#sco")
        sco = page.wait_for_function(
            "() => document.querySelector('#sco').contentWindow.document"
            ".getElementById('learner')?.textContent"
        )
        assert sco.json_value() == "Welcome, Ada."
        # the runtime found window.API through the parent chain and initialised once
        log = page.evaluate("window.lmsLog")
        assert [c[0] for c in log].count("LMSInitialize") == 1
        assert ["LMSGetValue", "cmi.core.student_name", ""] in log
        # a practice question gives feedback in the page, unscored
        first = frame.locator("section.page").first
        practice = first.locator(".practice")
        if practice.count():
            practice.locator("input").first.check()
            practice.locator("button").click()
            assert re.match(r"^(Correct|Not quite)\. ", practice.locator(".feedback").inner_text())
        if screenshot:
            page.screenshot(path=str(screenshot))
        frame.get_by_role("link", name="Knowledge check").first.click()
        assert frame.locator("#quiz").is_visible() and not first.is_visible()
        key = json.loads(frame.locator("#course-data").text_content() or "{}")["questions"]
        assert len(key) >= 4 and {q["type"] for q in key} == {"choice", "true-false"}
        # attempt 1: fails (all but two right is under the mastery score)
        right = len(key) - 2
        _answer(frame, key, right)
        frame.get_by_role("button", name="Submit answers").click()
        raw = round(100 * right / len(key))
        assert raw < MASTERY_SCORE
        assert f"You scored {raw}%" in frame.locator("#result").inner_text()
        assert frame.locator(".question .feedback.wrong").count() == 2
        frame.get_by_role("button", name="Finish").click()
        failed = lms.wait_for("failed")
        core = failed["cmi"]["core"]
        assert (core["score"]["raw"], core["score"]["min"], core["score"]["max"]) == (
            str(raw), "0", "100",
        )  # fmt: skip
        assert SESSION_TIME.match(core["session_time"]), core["session_time"]
        sent = [c[2] for c in page.evaluate("window.lmsLog") if c[1] == "cmi.core.session_time"]
        assert len(sent) == 1 and re.match(r"^\d{4}:\d{2}:\d{2}\.\d{2}$", sent[0]), sent
        assert core["exit"] == "suspend" and core["lesson_location"] == "quiz"
        interactions = failed["cmi"]["interactions"]
        recorded = [interactions[str(i)] for i in range(len(key))]
        assert [i["id"] for i in recorded] == [q["id"] for q in key]
        assert [i["result"] for i in recorded] == ["correct"] * right + ["wrong"] * 2
        assert [i["type"] for i in recorded] == [q["type"] for q in key]
        assert recorded[0]["objectives"]["0"]["id"] == key[0]["objective"]
        assert recorded[0]["correct_responses"]["0"]["pattern"] == key[0]["answer"]
        suspended = json.loads(failed["cmi"]["suspend_data"])
        assert suspended["result"] == "failed" and len(suspended["answers"]) == len(key)
        assert "LMSFinish" in [c[0] for c in page.evaluate("window.lmsLog")]
        page.close()

        # attempt 2: a new launch resumes from suspend_data, then passes
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(WAIT_MS)
        page.goto(lms.launch_url())
        frame = page.frame_locator("#sco")
        page.wait_for_function(
            "() => document.querySelector('#sco').contentWindow.document"
            ".getElementById('learner')?.textContent === 'Welcome back, Ada.'"
        )
        assert frame.locator("#quiz").is_visible()  # back where the learner left off
        last = key[-1]
        assert (
            frame.locator(f'input[name="{last["id"]}"]:checked').get_attribute("value")
            == (suspended["answers"][last["id"]])
        )
        assert frame.get_by_role("button", name="Try again").is_visible()
        frame.get_by_role("button", name="Try again").click()
        _answer(frame, key, len(key))
        frame.get_by_role("button", name="Submit answers").click()
        assert "you passed" in frame.locator("#result").inner_text()
        frame.get_by_role("button", name="Finish").click()
        passed = lms.wait_for("passed")
        core = passed["cmi"]["core"]
        assert core["score"]["raw"] == "100" and core["exit"] == ""
        assert SESSION_TIME.match(core["session_time"]), core["session_time"]
        results = [passed["cmi"]["interactions"][str(i)]["result"] for i in range(len(key))]
        assert results == ["correct"] * len(key)
        page.close()
    finally:
        lms.close()


@pytest.mark.parametrize(
    "request_file", ["training-request.yaml", "data-training-request.yaml"], ids=["gifts", "data"]
)
def test_course_in_scorm_again(
    request_file: str, runtime: Path, browser: Any, tmp_path: Path
) -> None:
    data = _package(ROOT / "examples" / request_file, tmp_path / "t.db")
    assert package_problems(data) == []  # structure, and the manifest against the XSDs
    shot = SCREENSHOT if request_file == "training-request.yaml" else None
    _take_course(browser, data, tmp_path, shot)
