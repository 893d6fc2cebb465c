"""`ThreadWorkflow`: one Temporal workflow per lockstep thread (workflow ID = thread ID).

It loops one activity per superstep until the thread is final, remembering only the checkpoint
ID it last saw (the state lives in lockstep's checkpointer, never in Temporal's history). At a
human gate it waits for an answer, an Update (its validator refuses a decision the gate does
not allow, so nothing is recorded) or a signal (webhooks; checked the same way, an invalid one
ignored), with the gate's deadline as `wait_condition(timeout=...)`: on expiry the gate gets
its `timeout` decision, so no sweeper is needed. A cancel reaches the running activity through
its heartbeats; the workflow then saves the partial work `incomplete` and ends cancelled.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.exceptions import TimeoutError as StepTimedOut

with workflow.unsafe.imports_passed_through():
    from lockstep.machine.compile import decision_problem
    from lockstep.temporal.types import (
        PARTIAL_ACTIVITY,
        STEP_ACTIVITY,
        WORKFLOW_NAME,
        GateAnswer,
        JobInput,
        PartialCall,
        StepCall,
        StepResult,
    )

__all__ = ["ThreadWorkflow"]

SLOT_WAIT_FIRST = 0.5
SLOT_WAIT_MAX = 10.0
"""Seconds a step waits for a free slot before asking again (backing off to the max)."""


@workflow.defn(name=WORKFLOW_NAME)
class ThreadWorkflow:
    def __init__(self) -> None:
        self._gate: dict[str, Any] | None = None
        self._answers: list[GateAnswer] = []
        self._status = "started"
        self._steps = 0
        self._next: list[str] = []

    @workflow.run
    async def run(self, job: JobInput) -> StepResult:
        seen: str | None = None
        answer: GateAnswer | None = None
        waits = 0
        try:
            while True:
                result = await self._step(job, seen, answer)
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # a cancel that arrived while a
                    raise asyncio.CancelledError  # short step finished: stop at its boundary
                if result.full is not None:  # a concurrency limit: wait, then ask again
                    self._status = f"waiting for a slot: {result.full}"
                    await workflow.sleep(min(SLOT_WAIT_MAX, SLOT_WAIT_FIRST * 1.5**waits))
                    waits += 1
                    continue
                waits = 0
                if result.timed_out is not None:
                    raise ApplicationError(
                        f"thread {job.thread_id} timed out: {result.timed_out}",
                        type="TimedOut",
                        non_retryable=True,
                    )
                answer, seen, self._status = None, result.checkpoint_id, result.status
                self._steps += result.ran
                if result.final:
                    if result.failed:
                        raise ApplicationError(
                            f"thread {job.thread_id} ended {result.status}: {result.error}",
                            type="WorkflowFailed",
                            non_retryable=True,
                        )
                    return result
                if result.gate is not None:
                    self._gate = result.gate
                    answer = await self._await_answer(result.gate)
                    self._gate = None
        except (asyncio.CancelledError, CancelledError):
            await self._save_partial(job, "cancelled")
            raise
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):
                await self._save_partial(job, "cancelled")
                raise
            if isinstance(exc.cause, StepTimedOut):
                await self._save_partial(job, "timed_out")
                raise ApplicationError(
                    f"a step of thread {job.thread_id} ran past its time limit",
                    type="TimedOut",
                    non_retryable=True,
                ) from exc
            raise

    async def _step(self, job: JobInput, seen: str | None, answer: GateAnswer | None) -> StepResult:
        step = (self._next or [""])[0].split(".")[0] if answer is None else ""
        seconds = job.step_timeouts.get(step, job.default_step_timeout)
        if not job.per_superstep:  # a run of steps: room for the longest step, each time
            seconds = max([seconds, *job.step_timeouts.values()]) * 50
        result: StepResult = await workflow.execute_activity(
            STEP_ACTIVITY,
            StepCall(job=job, seen=seen, answer=answer),
            result_type=StepResult,
            start_to_close_timeout=timedelta(seconds=seconds),
            heartbeat_timeout=timedelta(seconds=job.heartbeat_timeout),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=job.retry_base),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(seconds=job.retry_max),
                maximum_attempts=job.max_attempts,
            ),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        self._next = result.next
        return result

    async def _save_partial(self, job: JobInput, reason: str) -> None:
        await workflow.execute_activity(
            PARTIAL_ACTIVITY,
            PartialCall(job=job, reason=reason),
            start_to_close_timeout=timedelta(seconds=job.default_step_timeout),
            heartbeat_timeout=None,
            retry_policy=RetryPolicy(maximum_attempts=job.max_attempts),
        )

    # -- the gate --------------------------------------------------------------------------

    def _pick(self, gate: dict[str, Any]) -> GateAnswer | None:
        """The first answer received for this gate that the gate allows."""
        for answer in self._answers:
            if answer.interrupt_id not in (None, gate.get("interrupt_id")):
                continue
            problem = decision_problem(gate, answer.as_mapping())
            if problem is None:
                return answer
            workflow.logger.warning("ignored an answer: %s", problem)
        return None

    async def _await_answer(self, gate: dict[str, Any]) -> GateAnswer:
        timeout: timedelta | None = None
        if gate.get("deadline"):
            left = datetime.fromisoformat(str(gate["deadline"])) - workflow.now()
            timeout = max(left, timedelta(0))
        try:
            if timeout is not None and timeout <= timedelta(0):
                raise TimeoutError
            await workflow.wait_condition(lambda: self._pick(gate) is not None, timeout=timeout)
        except TimeoutError:
            if "timeout" in gate.get("decisions", ()):
                return GateAnswer("timeout", by="deadline", interrupt_id=gate.get("interrupt_id"))
            await workflow.wait_condition(lambda: self._pick(gate) is not None)
        answer = self._pick(gate)
        assert answer is not None
        return answer

    @workflow.update(name="answer")
    async def answer(self, answer: GateAnswer) -> str:
        """Answer the pending gate; accepted only when the gate allows it (see the validator)."""
        self._answers.append(answer)
        return f"{answer.decision} accepted at gate {(self._gate or {}).get('gate')}"

    @answer.validator
    def _validate(self, answer: GateAnswer) -> None:
        gate = self._gate
        if gate is None:
            raise ValueError("the thread is not waiting at a gate")
        if answer.interrupt_id not in (None, gate.get("interrupt_id")):
            raise ValueError(f"the answer is for another gate than {gate.get('gate')!r}")
        problem = decision_problem(gate, answer.as_mapping())
        if problem is not None:
            raise ValueError(problem)

    @workflow.signal(name="answer-signal")
    def answer_signal(self, answer: GateAnswer) -> None:
        """Answer a gate by signal (webhooks, or while no worker runs): kept, and applied when
        it names the pending gate and the gate allows it."""
        self._answers.append(answer)

    @workflow.query(name="where")
    def where(self) -> dict[str, Any]:
        return {"status": self._status, "gate": self._gate, "steps_run": self._steps}
