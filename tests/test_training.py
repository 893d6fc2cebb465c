"""The compliance-training workflow: gates, loops, escalation, parallel design, checks, SCORM.

Every scenario records the transitions its threads took; `test_every_declared_transition_is_
exercised` reads `training.yaml`, runs every scenario on a fresh database and fails if any
declared transition was never taken.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatResult
from pydantic import PrivateAttr

from lockstep import InvalidDecision, Lockstep, OfflineChatModel
from lockstep.agents.faults import TransientError
from lockstep.errors import RequestError
from lockstep.gates import claim_gate
from lockstep.graphs import workflow_machine
from lockstep.graphs.training import check_inputs
from lockstep.training.checks import accessibility_report, alignment_gaps, objective_problems
from lockstep.training.scorm import SCHEMAS, build_package, package_problems
from tests.conftest import ROOT

POLICIES = ROOT / "examples" / "training-policies"
REQUEST = {
    "topic": "Gifts, bribery and conflicts of interest",
    "audience": "All office and depot staff",
    "sources": [str(POLICIES)],
    "duration": 30,
    "deadline": "2027-01-31",
}
TAKEN: set[tuple[str, str, str]] = set()


def _took(client: Lockstep, thread: str) -> list[tuple[str, str, str]]:
    path = [(t["from"], t["event"], t["to"]) for t in client.transitions(thread)]
    TAKEN.update(path)
    return path


class DesignFaults(OfflineChatModel):
    """The offline designer with scripted faults: a transient error on the first activities
    call, activities that skip an objective, or a vague link."""

    fault: str = ""
    _calls: int = PrivateAttr(default=0)

    def _generate(
        self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        prompt = "\n".join(str(m.content) for m in messages)
        if "Task: activities" in prompt:
            self._calls += 1
            if self.fault == "transient" and self._calls == 1:
                raise TransientError("connection reset by the model server")
        result = super()._generate(messages, stop, run_manager, **kwargs)
        message = result.generations[0].message
        if "Task: activities" in prompt and self.fault in ("gap", "link"):
            args = dict(message.tool_calls[0]["args"])  # type: ignore[attr-defined]
            if self.fault == "gap":
                args["activities"] = args["activities"][1:]
            else:
                args["activities"][0]["links"] = [{"text": "click here", "href": "#policy"}]
            call = {**message.tool_calls[0], "args": args}  # type: ignore[attr-defined]
            result.generations[0].message = AIMessage(content="", tool_calls=[call])
        return result


def _to_final_gate(client: Lockstep) -> str:
    st = client.run("training", **REQUEST)
    assert st.status == "awaiting_objectives_approval"
    st = client.resume(st.thread_id, "approved", by="ana")
    assert st.status == "awaiting_final_approval", st
    return st.thread_id


def _cli(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "lockstep", *args, "--db", db],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_happy_path_with_both_gates_answered_from_new_processes(db_url: str) -> None:
    run = _cli(
        "run",
        "training",
        "--request",
        "examples/training-request.yaml",
        "--thread-id",
        "h1",
        db=db_url,
    )
    assert run.returncode == 0 and "status  awaiting_objectives_approval" in run.stdout
    gate = json.loads(_cli("status", "h1", "--json", db=db_url).stdout)["gate"]
    assert gate["decisions"] == ["approved", "rejected", "timeout"]
    assert datetime.fromisoformat(gate["deadline"]) > datetime.now(UTC) + timedelta(hours=47)
    assert all(o["text"].lower().startswith(o["verb"]) for o in gate["review"]["objectives"])
    first = _cli("resume", "h1", "--decision", "approved", "--by", "ana", db=db_url)
    assert "status  awaiting_final_approval" in first.stdout
    done = _cli("resume", "h1", "--decision", "approved", "--by", "carla", db=db_url)
    assert "status  completed" in done.stdout
    with Lockstep(db_url) as client:
        _took(client, "h1")
        meta, data = client.artifact("h1", "package")
        assert meta.format == "zip" and package_problems(data) == []
        assert {"index.html", "scorm.js", "course.css", "imsmanifest.xml", *SCHEMAS} == set(
            zipfile.ZipFile(io.BytesIO(data)).namelist()
        )
        ancestors = {a["name"] for a in client.lineage(f"{meta.id}@{meta.version}")["ancestors"]}
        assert {"objectives", "design", "assessments", "activities", "request"} <= ancestors
        decisions = [
            (r["actor"], r["detail"]["decision"])
            for r in client.audit("h1")
            if r["kind"] == "decision"
        ]
        assert decisions == [("ana", "approved"), ("carla", "approved")]
        again = _cli("resume", "h1", "--decision", "approved", db=db_url)
        assert again.returncode == 1 and "is completed" in again.stderr


def test_reject_loops_carry_the_comment(db_url: str) -> None:
    with Lockstep(db_url) as client:
        st = client.run("training", **REQUEST)
        thread = st.thread_id
        before = st.checkpoint_id
        with pytest.raises(InvalidDecision, match="requires a comment"):
            client.resume(thread, "rejected", by="ana")
        assert client.status(thread).checkpoint_id == before  # refused: nothing changed
        first = client.artifacts.json(client.artifacts.latest(thread, "objectives"))
        st = client.resume(thread, "rejected", comment="Start with the gifts register", by="ana")
        assert st.status == "awaiting_objectives_approval"
        second = client.artifacts.json(client.artifacts.latest(thread, "objectives"))
        assert second["feedback"] == "Start with the gifts register"
        assert [o["text"] for o in second["objectives"]] != [o["text"] for o in first["objectives"]]
        st = client.resume(thread, "approved", by="ana")
        st = client.resume(thread, "minor_changes", comment="Shorter questions", by="carla")
        assert st.status == "awaiting_final_approval"
        st = client.resume(thread, "rejected", comment="Wrong focus", by="carla")
        assert st.status == "awaiting_objectives_approval"
        assert st.counters == {"objective_rounds": 1, "final_rounds": 2}
        path = _took(client, thread)
        assert ("awaiting_final_approval", "minor_changes", "designing_assessments") in path
        assert ("awaiting_final_approval", "rejected", "designing_objectives") in path


def test_guard_limits_lead_to_escalated(db_url: str) -> None:
    with Lockstep(db_url) as client:
        thread = client.run("training", **REQUEST).thread_id
        for n in range(3):
            st = client.resume(thread, "rejected", comment=f"again {n}", by="ana")
            assert st.status == "awaiting_objectives_approval"
        st = client.resume(thread, "rejected", comment="still wrong", by="ana")
        assert st.status == "escalated" and st.gate["review"]["escalated_from"] == "objectives"
        assert st.gate["decisions"] == ["extend", "approve", "abandon"]
        st = client.resume(thread, "extend", comment="one more try", by="boss")
        assert st.status == "awaiting_objectives_approval"
        assert st.counters["objective_rounds"] == 0  # the extension grants new rounds
        st = client.resume(thread, "rejected", comment="no", by="ana")
        st = client.resume(thread, "approved", by="ana")
        for n in range(3):
            decision = "minor_changes" if n % 2 else "rejected"
            st = client.resume(thread, decision, comment=f"round {n}", by="carla")
            if st.status == "awaiting_objectives_approval":
                st = client.resume(thread, "approved", by="ana")
            assert st.status == "awaiting_final_approval"
        st = client.resume(thread, "minor_changes", comment="one more", by="carla")
        assert st.status == "escalated" and st.gate["review"]["escalated_from"] == "final"
        st = client.resume(thread, "approve", by="boss")
        assert st.status == "completed"
        _took(client, thread)

        other = _to_final_gate(client)
        for n in range(3):
            st = client.resume(other, "rejected", comment=f"r{n}", by="carla")
            st = client.resume(other, "approved", by="ana")
        st = client.resume(other, "rejected", comment="last", by="carla")
        assert st.status == "escalated"
        st = client.resume(other, "extend", by="boss")
        assert st.status == "awaiting_final_approval"
        st = client.resume(other, "timeout", by="sweeper")
        st = client.resume(other, "abandon", comment="out of time", by="boss")
        assert st.status == "abandoned" and st.final
        _took(client, other)


def test_design_loops_escalate_and_resume(db_url: str) -> None:
    with Lockstep(db_url, model=DesignFaults(fault="gap")) as client:
        st = client.run("training", **REQUEST)
        st = client.resume(st.thread_id, "approved", by="ana")
        thread = st.thread_id
        assert st.status == "escalated" and st.gate["review"]["escalated_from"] == "design"
        assert any("has no activity" in f for f in st.gate["review"]["findings"])
        gaps = [p for p in _took(client, thread) if p[1] == "gaps_found"]
        assert gaps[-1][2] == "escalated" and len(gaps) == 4
        report = client.artifacts.json(client.artifacts.latest(thread, "alignment"))
        assert report["ok"] is False and "objective O1 has no activity" in report["gaps"]
        st = client.resume(thread, "extend", by="boss")
        assert st.status == "escalated"  # the same faulty designer: three more rounds, back here
        st = client.resume(thread, "approve", comment="ship it as is", by="boss")
        assert st.status == "awaiting_final_approval"
        _took(client, thread)
    with Lockstep(db_url, model=DesignFaults(fault="link")) as client:
        st = client.run("training", **REQUEST)
        st = client.resume(st.thread_id, "approved", by="ana")
        assert st.status == "escalated"
        report = client.artifacts.json(client.artifacts.latest(st.thread_id, "accessibility"))
        link = next(c for c in report["checks"] if c["name"] == "link_text")
        assert link["ok"] is False and "click here" in link["problems"][0]
        anchors = next(c for c in report["checks"] if c["name"] == "links_resolve")
        assert anchors["problems"] == [
            "M1: link '#policy' points to nothing in the course",
            "A1: link '#policy' points to nothing in the course",
        ]
        assert {c["name"] for c in report["checks"]} == {
            "alt_text",
            "captions_or_transcript",
            "no_colour_only_instructions",
            "heading_order",
            "reading_level",
            "link_text",
            "links_resolve",
        }
        st = client.resume(st.thread_id, "abandon", by="boss")
        assert st.status == "abandoned"
        _took(client, st.thread_id)


def test_gate_timeouts_through_sweep_with_a_fake_clock(db_url: str) -> None:
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with Lockstep(db_url, clock=lambda: t0) as client:
        thread = client.run("training", **REQUEST).thread_id
        assert client.gates(overdue=True) == []
    with Lockstep(db_url, clock=lambda: t0 + timedelta(hours=47)) as client:
        assert client.sweep() == []
    with Lockstep(db_url, clock=lambda: t0 + timedelta(hours=49)) as late:
        (gate,) = late.gates(overdue=True)
        assert gate["thread_id"] == thread and gate["gate"] == "awaiting_objectives_approval"
        assert late.sweep() == [
            {
                "thread_id": thread,
                "gate": "awaiting_objectives_approval",
                "outcome": "timed_out",
                "status": "escalated",
            }
        ]
        assert late.sweep() == []  # idempotent
        st = late.resume(thread, "extend", by="boss")
        assert st.gate is not None
        assert st.gate["deadline"] == (t0 + timedelta(hours=49 + 48)).isoformat()
        st = late.resume(thread, "approved", by="ana")
        assert st.status == "awaiting_final_approval"
    t1 = t0 + timedelta(hours=49 + 73)
    with Lockstep(db_url, clock=lambda: t1) as later:
        # a person's answer and the sweep at the same instant: the first claim wins
        claim_gate(later.db, later.status(thread), "approved", "carla")
        (skipped,) = later.sweep()
        assert (
            skipped["outcome"] == "skipped"
            and "already answered 'approved' by carla" in (skipped["reason"])
        )
        assert later.status(thread).status == "awaiting_final_approval"
        with pytest.raises(InvalidDecision, match="already answered"):
            later.resume(thread, "rejected", comment="late", by="dave")
        later.db.execute("DELETE FROM lockstep_gate_answers WHERE thread_id = ?", (thread,))
        (timed_out,) = later.sweep()
        assert timed_out["status"] == "escalated"
        st = later.resume(thread, "approve", by="boss")
        assert st.status == "completed"
        _took(later, thread)


def test_manager_approves_objectives_after_a_timeout(db_url: str) -> None:
    with Lockstep(db_url) as client:
        thread = client.run("training", **REQUEST).thread_id
        st = client.resume(thread, "timeout", by="sweeper")
        assert st.status == "escalated" and st.gate["review"]["escalated_from"] == "objectives"
        st = client.resume(thread, "approve", comment="objectives are fine", by="boss")
        assert st.status == "awaiting_final_approval"
        _took(client, thread)


def test_a_failing_branch_is_retried(db_url: str) -> None:
    model = DesignFaults(fault="transient")
    with Lockstep(db_url, model=model) as client:
        st = client.run("training", **REQUEST)
        st = client.resume(st.thread_id, "approved", by="ana")
        assert st.status == "awaiting_final_approval"
        assert model._calls == 2  # failed once, retried once
        values = client.values(st.thread_id)
        assert sorted(values["branch_log"]) == ["activities", "assessments"]
        assert client.artifacts.latest(st.thread_id, "assessments").version == 1
        _took(client, st.thread_id)


def test_invalid_requests_name_their_fields(db_url: str) -> None:
    with pytest.raises(RequestError, match=r"duration: input should be greater than 0"):
        check_inputs({**REQUEST, "duration": -5})
    with pytest.raises(RequestError, match=r"audience: field required"):
        check_inputs({k: v for k, v in REQUEST.items() if k != "audience"})
    with Lockstep(db_url) as client:
        with pytest.raises(RequestError, match="language"):
            client.run("training", **{**REQUEST, "language": "English!"})
        assert list(client.threads()) == []  # refused before any work
        # a request that reaches intake directly (no client checks) is rejected with reasons
        graph = client.graph("training")
        config = {"configurable": {"thread_id": "raw"}}
        client.db.register_thread("raw", "training", "2026-11-01T00:00:00+00:00", {}, None)
        graph.invoke({**REQUEST, "duration": 0}, config, context=client.context())
        st = client.status("raw")
        assert st.status == "rejected" and "duration" in (st.rejection_reason or "")
        _took(client, "raw")


def test_checks_against_crafted_bad_designs() -> None:
    assert objective_problems(
        [
            {
                "id": "O1",
                "text": "Understand the policy",
                "level": "understand",
                "verb": "understand",
            },
            {"id": "O2", "text": "Explain the rule", "level": "wonder", "verb": "explain"},
            {"id": "O3", "text": "The rule, explained", "level": "understand", "verb": "explain"},
        ]
    ) == [
        "objective O1: verb 'understand' does not fit level 'understand'",
        "objective O2 has unknown Bloom level 'wonder'",
        "objective O3 does not start with its verb 'explain'",
    ]
    good = {"id": "O1", "text": "Explain the rule", "level": "understand", "verb": "explain"}
    design = {
        "objectives": [good, {**good, "id": "O2"}],
        "assessments": [{"id": "Q1", "objectives": ["O1", "O9"]}, {"id": "Q2", "objectives": []}],
        "activities": [{"id": "A1", "objectives": ["O2"]}],
    }
    assert alignment_gaps(design) == [
        "assessment Q1 maps to unknown objective O9",
        "assessment Q2 maps to no objective",
        "objective O2 has no assessment item",
        "objective O1 has no activity",
    ]
    bad = {
        "modules": [
            {
                "id": "M1",
                "body": "<h1>Gifts</h1><h3>Detail</h3><p>Press the red button.</p>"
                '<p><a href="/policy">Click here</a></p>',
                "media": [{"type": "image", "src": "poster.png", "alt": " "}],
            },
        ],
        "activities": [
            {
                "id": "A1",
                "instructions": "Items shown in green are allowed.",
                "media": [{"type": "video", "src": "talk.mp4"}],
                "links": [{"text": "here", "href": "#"}],
            },
        ],
    }
    report = accessibility_report(bad, reading_grade=1.0)
    problems = {c["name"]: c["problems"] for c in report["checks"]}
    assert report["ok"] is False
    assert problems["alt_text"] == ["M1: image poster.png has no alt text"]
    assert problems["captions_or_transcript"] == [
        "A1: video talk.mp4 has no captions or transcript"
    ]
    assert len(problems["no_colour_only_instructions"]) == 2
    assert problems["heading_order"] == ["M1: h3 follows h1"]
    assert problems["link_text"] == ["M1: link text 'Click here'", "A1: link text 'here'"]
    assert problems["links_resolve"] == [
        "M1: link '/policy' points to nothing in the course",
        "A1: link '#' points to nothing in the course",
    ]
    policy_anchor = {"modules": [{"id": "M1", "body": '<a href="#policy">Read the policy</a>'}]}
    assert accessibility_report(policy_anchor, reading_grade=12)["ok"] is False
    assert problems["reading_level"] and "above the audience's 1" in problems["reading_level"][0]
    fixed = {
        "modules": [
            {
                "id": "M1",
                "body": "<h1>Gifts</h1><h2>Detail</h2><p>Say no to cash.</p>"
                '<p id="rule">No cash.</p><p><a href="#rule">The rule on cash</a></p>'
                '<p><a href="#quiz">Knowledge check</a></p>',
                "media": [{"type": "image", "src": "p.png", "alt": "Poster: say no"}],
            }
        ],
        "activities": [
            {
                "id": "A1",
                "instructions": "Pick the allowed gifts.",
                "media": [{"type": "video", "src": "t.mp4", "transcript": "t.txt"}],
            }
        ],
    }
    assert accessibility_report(fixed, reading_grade=12)["ok"] is True


def test_scorm_structure() -> None:
    design = {
        "title": "Gifts </script><b>",
        "objectives": [{"id": "O1"}],
        "modules": [
            {"id": "M1", "title": "Gifts", "body": "<h1>Gifts</h1>"},
            {"id": "M2", "title": "Bribes", "body": "<h1>Bribes</h1>"},
        ],
        "assessments": [
            {"id": "Q1", "objectives": ["O1"], "stem": "Which?", "options": ["a", "b"],
             "answer": 1},
            {"id": "Q2", "objectives": ["O1"], "type": "true-false", "stem": "True?",
             "options": ["True", "False"], "answer": 0},
        ],
    }  # fmt: skip
    data = build_package(design, "course-1")
    assert package_problems(data) == []
    assert build_package(design, "course-1") == data  # deterministic
    zf = zipfile.ZipFile(io.BytesIO(data))
    manifest = zf.read("imsmanifest.xml").decode()
    assert "<schemaversion>1.2</schemaversion>" in manifest
    assert "<adlcp:masteryscore>80</adlcp:masteryscore>" in manifest
    assert manifest.count('adlcp:scormtype="sco"') == 1  # one course SCO
    assert "answer" not in manifest and "Q1" not in manifest  # no answer key in the manifest
    page = zf.read("index.html").decode()
    assert "Gifts &lt;/script&gt;&lt;b&gt;" in page and "</script><b>" not in page
    data_block = page.split('id="course-data">')[1].split("</script>")[0]
    key = json.loads(data_block)["questions"]
    assert [(q["id"], q["type"], q["answer"]) for q in key] == [
        ("Q1", "choice", "b"), ("Q2", "true-false", "t"),
    ]  # fmt: skip
    assert '<a href="#M2">Next: Bribes</a>' in page and '<a href="#quiz">' in page

    def repack(drop: str | None = None, edit: tuple[str, str] | None = None) -> bytes:
        src = zipfile.ZipFile(io.BytesIO(data))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            for name in src.namelist():
                if name == drop:
                    continue
                body = src.read(name)
                if edit and name == "imsmanifest.xml":
                    body = body.replace(edit[0].encode(), edit[1].encode())
                zf.writestr(name, body)
        return out.getvalue()

    assert package_problems(repack(drop="scorm.js")) == ["href scorm.js is not in the package"]
    assert package_problems(repack(edit=("ITEM-COURSE", "RES-COURSE"))) == [
        "identifiers are not unique: RES-COURSE"
    ]
    assert package_problems(repack(edit=(">1.2<", ">2004<"))) == [
        "metadata/schemaversion must be '1.2'"
    ]
    assert package_problems(repack(drop="imsmanifest.xml")) == ["imsmanifest.xml is missing"]
    assert package_problems(b"not a zip") == ["not a zip file"]
    # the XSDs catch what the structural checks do not
    assert package_problems(repack(drop="adlcp_rootv1p2.xsd")) == [
        "schema file adlcp_rootv1p2.xsd is missing"
    ]
    bad_type = package_problems(repack(edit=('scormtype="sco"', 'scormtype="lesson"')))
    assert bad_type[0].startswith("resource RES-COURSE has no adlcp:scormtype")
    bad_id = package_problems(repack(edit=("RES-COURSE", "1 bad")))  # not an xsd:ID
    assert any("not valid SCORM 1.2" in p for p in bad_id), bad_id
    extra = package_problems(repack(edit=("<organizations", "<surprise /><organizations")))
    assert len(extra) == 1 and "not valid SCORM 1.2" in extra[0], extra


SCENARIOS = (
    test_happy_path_with_both_gates_answered_from_new_processes,
    test_reject_loops_carry_the_comment,
    test_guard_limits_lead_to_escalated,
    test_design_loops_escalate_and_resume,
    test_gate_timeouts_through_sweep_with_a_fake_clock,
    test_manager_approves_objectives_after_a_timeout,
    test_a_failing_branch_is_retried,
    test_invalid_requests_name_their_fields,
)


@pytest.mark.slow
def test_every_declared_transition_is_exercised(tmp_path: Path) -> None:
    """Reads training.yaml: each (from, event, to) must be taken by one of the scenarios."""
    TAKEN.clear()
    for n, scenario in enumerate(SCENARIOS):
        scenario(f"sqlite:///{tmp_path / f'tour-{n}.db'}")
    declared = {(t.source, t.event, t.target) for t in workflow_machine("training").transitions}
    assert declared, "the declaration has transitions"
    missing = sorted(declared - TAKEN)
    assert not missing, f"transitions never exercised: {missing}"


def test_preview_folder(tmp_path: Path) -> None:
    from lockstep.errors import ConfigError
    from lockstep.training.preview import build_preview

    data = build_package(
        {"title": "T", "modules": [{"id": "M1", "title": "T", "body": "<h1>T</h1>"}]}, "c"
    )
    runtime = tmp_path / "dist"
    runtime.mkdir()
    (runtime / "scorm12.min.js").write_text("this.Scorm12API = function () {};")
    page = build_preview(data, tmp_path / "preview", runtime=runtime)
    assert page == tmp_path / "preview" / "lms.html"
    assert (
        "Scorm12API" in page.read_text() and 'src="scorm-again/scorm12.min.js"' in page.read_text()
    )
    assert (
        (tmp_path / "preview" / "course" / "index.html").read_text().startswith("<!DOCTYPE html>")
    )
    assert (tmp_path / "preview" / "scorm-again" / "scorm12.min.js").is_file()
    with pytest.raises(ConfigError, match="not empty"):
        build_preview(data, tmp_path / "preview", runtime=runtime)
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../escape.html", "x")
    with pytest.raises(ConfigError, match="outside"):
        build_preview(evil.getvalue(), tmp_path / "evil", runtime=runtime)


def test_content_rests_on_obligations_and_varies(tmp_path: Path) -> None:
    """Objectives quote obligations only; items vary in type and stem; wrong options are
    misreadings of the policies' own rules, numbers near misses (never x10)."""
    from lockstep.research.corpus import load_corpus
    from lockstep.research.quotes import sentences
    from lockstep.training.rules import is_obligation, parse_rule

    request = {
        **REQUEST,
        "topic": "Protecting customer data and accounts",
        "sources": [str(ROOT / "examples" / "data-policies")],
    }
    with Lockstep(f"sqlite:///{tmp_path / 'c.db'}") as client:
        st = client.run("training", **request)
        objectives = st.gate["review"]["objectives"]
        assert objectives and all(is_obligation(o["quote"]) for o in objectives)
        assert not any(w in o["quote"] for o in objectives for w in ("means", "applies to"))
        st = client.resume(st.thread_id, "approved", by="ana")
        design = client.artifacts.json(client.artifacts.latest(st.thread_id, "design"))
    items = design["assessments"]
    assert len(items) == 2 * len(objectives)
    policy_rules = {
        " ".join(q.text.split())
        for doc in load_corpus(ROOT / "examples" / "data-policies")[0]
        for q in sentences(doc)
    }
    assert {i["type"] for i in items} == {"choice", "true-false"}
    assert len({i["stem"] for i in items}) == len(items)
    assert any(i["stem"].startswith("True or false?") for i in items)
    assert any(", is dealing with " in i["stem"] for i in items)  # a workplace scenario
    assert any(i["stem"].startswith("Which of these") for i in items)
    for item in items:
        if item["type"] != "choice":
            continue
        right = item["options"][item["answer"]]
        rule = parse_rule(right)
        assert rule is not None
        for wrong in item["options"]:
            if wrong == right:
                continue
            assert not any(g in wrong for g in ("new employees", "own judgement"))
            if wrong in policy_rules:  # another of the policies' rules, verbatim
                continue
            numbers = [int(n) for n in re.findall(r"\d+", right)]
            theirs = [int(n) for n in re.findall(r"\d+", wrong)]
            for mine, other in zip(numbers, theirs, strict=False):
                assert other != mine * 10
                assert other in (mine * 2, mine // 2, mine + 2, mine) or "within" in wrong
    for module in design["modules"]:
        body = module["body"]
        for part in ("The rule", "Why it exists", "Example", "Practice"):
            assert f"<h2>{part}</h2>" in body, (module["id"], part)


def test_a_reviewers_comment_changes_the_named_objective(tmp_path: Path) -> None:
    with Lockstep(f"sqlite:///{tmp_path / 'r.db'}") as client:
        st = client.run("training", **REQUEST)
        before = st.gate["review"]["objectives"]
        assert not any("vouchers" in o["quote"] for o in before)
        st = client.resume(
            st.thread_id, "rejected", by="ana",
            comment="O3 should be about gifts of cash or vouchers instead",
        )  # fmt: skip
        after = st.gate["review"]["objectives"]
    assert [o["id"] for o in after] == [o["id"] for o in before]
    assert "vouchers" in after[2]["quote"]
    assert [o["quote"] for o in after[:2]] == [o["quote"] for o in before[:2]]
