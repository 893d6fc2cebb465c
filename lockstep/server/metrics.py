"""`GET /metrics` in Prometheus' text format, read from the database at scrape time.

A custom collector (prometheus-client's `Collector` protocol) runs a few aggregate queries per
scrape instead of keeping in-process counters: jobs are submitted by any server, run by any
worker on any machine, so only the shared database knows the totals, and its numbers survive
restarts. Counters here only fall when rows are deleted (`lockstep dlq purge`, `lockstep prune`
keeps the audit log), which Prometheus' `rate()` reads as a counter reset.

    lockstep_queue_jobs{queue, status}                 jobs by queue and status (queue depth)
    lockstep_jobs_running{queue, workflow}             jobs a worker holds now
    lockstep_job_outcomes_total{workflow, outcome}     times jobs ended: succeeded, failed, ...
    lockstep_job_retries_total{workflow}               failed attempts queued for a retry
    lockstep_step_duration_seconds{workflow, step}     a histogram: worker time per step
    lockstep_llm_tokens_total{workflow, step, kind}    LLM tokens in and out (audit `usage`)
    lockstep_llm_calls_total{workflow, step}           LLM calls
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from lockstep.db import Database
from lockstep.queue.store import FINAL, JobQueue
from lockstep.server.api import authenticated, client_of, require
from lockstep.server.auth import Principal

__all__ = ["BUCKETS", "QueueCollector", "router"]

BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)
"""Upper bounds (seconds) of the step-duration histogram."""


def _json(db: Database, column: str, key: str, *, number: bool = False) -> str:
    """SQL reading `key` from a JSON text column, in the database's dialect."""
    if db.dialect == "sqlite":
        return f"json_extract({column}, '$.{key}')"
    text = f"({column}::json ->> '{key}')"
    return f"CAST({text} AS BIGINT)" if number else text


class QueueCollector:
    """Queue, step and token metrics computed from the database on each collect()."""

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue
        self.db = queue.db

    def collect(self) -> Iterator[Metric]:
        yield self._depth()
        yield self._running()
        yield from self._outcomes()
        yield self._durations()
        yield from self._tokens()

    def _depth(self) -> GaugeMetricFamily:
        depth = GaugeMetricFamily(
            "lockstep_queue_jobs", "Jobs by queue and status.", labels=["queue", "status"]
        )
        counts = {(q, s): 0 for q in self.queue.config.queue_system.queues for s in ("queued",)}
        for row in self.db.query(
            "SELECT queue, status, COUNT(*) AS n FROM lockstep_jobs GROUP BY queue, status"
        ):
            counts[(row["queue"], row["status"])] = int(row["n"])
        for (queue, status), n in sorted(counts.items()):
            depth.add_metric([queue, status], n)
        return depth

    def _running(self) -> GaugeMetricFamily:
        running = GaugeMetricFamily(
            "lockstep_jobs_running", "Jobs held by a worker now.", labels=["queue", "workflow"]
        )
        for row in self.db.query(
            "SELECT queue, workflow, COUNT(*) AS n FROM lockstep_jobs WHERE status = 'running' "
            "GROUP BY queue, workflow ORDER BY queue, workflow"
        ):
            running.add_metric([row["queue"], row["workflow"]], int(row["n"]))
        return running

    def _outcomes(self) -> Iterator[CounterMetricFamily]:
        outcomes = CounterMetricFamily(
            "lockstep_job_outcomes",
            "Times jobs ended, by outcome (a continued job can end again).",
            labels=["workflow", "outcome"],
        )
        retries = CounterMetricFamily(
            "lockstep_job_retries", "Failed attempts queued for a retry.", labels=["workflow"]
        )
        kinds = (*FINAL, "retrying")
        marks = ", ".join("?" for _ in kinds)
        for row in self.db.query(
            "SELECT j.workflow AS workflow, e.kind AS kind, COUNT(*) AS n "
            "FROM lockstep_job_events e JOIN lockstep_jobs j ON j.id = e.job_id "
            f"WHERE e.kind IN ({marks}) GROUP BY j.workflow, e.kind ORDER BY 1, 2",
            kinds,
        ):
            if row["kind"] == "retrying":
                retries.add_metric([row["workflow"]], int(row["n"]))
            else:
                outcomes.add_metric([row["workflow"], row["kind"]], int(row["n"]))
        yield outcomes
        yield retries

    def _durations(self) -> HistogramMetricFamily:
        """Each step's worker time: from the attempt's start or the previous step's checkpoint
        to this step's checkpoint (job events `started` / `checkpointed`)."""
        family = HistogramMetricFamily(
            "lockstep_step_duration_seconds",
            "Worker time per workflow step, from the jobs' lifecycle events.",
            labels=["workflow", "step"],
        )
        counts = ", ".join(
            f"SUM(CASE WHEN took <= {bound!r} THEN 1 ELSE 0 END) AS le{i}"
            for i, bound in enumerate(BUCKETS)
        )
        rows = self.db.query(
            f"SELECT workflow, step, COUNT(*) AS n, SUM(took) AS total, {counts} FROM ("
            f"  SELECT j.workflow AS workflow, {_json(self.db, 's.detail', 'step')} AS step,"
            "   s.at - s.prev_at AS took FROM ("
            "    SELECT job_id, kind, detail, at,"
            "     LAG(at) OVER (PARTITION BY job_id ORDER BY seq) AS prev_at,"
            "     LAG(kind) OVER (PARTITION BY job_id ORDER BY seq) AS prev_kind"
            "    FROM lockstep_job_events) s"
            "  JOIN lockstep_jobs j ON j.id = s.job_id"
            "  WHERE s.kind = 'checkpointed' AND s.prev_kind IN ('started', 'checkpointed')"
            ") d GROUP BY workflow, step ORDER BY workflow, step"
        )
        for row in rows:
            buckets = [(repr(bound), float(row[f"le{i}"] or 0)) for i, bound in enumerate(BUCKETS)]
            buckets.append(("+Inf", float(row["n"])))
            family.add_metric(
                [row["workflow"], str(row["step"])], buckets, float(row["total"] or 0.0)
            )
        return family

    def _tokens(self) -> Iterator[CounterMetricFamily]:
        """LLM usage from the audit log's `usage` rows (one per step that called a model)."""
        tokens = CounterMetricFamily(
            "lockstep_llm_tokens", "LLM tokens, by direction.", labels=["workflow", "step", "kind"]
        )
        calls = CounterMetricFamily("lockstep_llm_calls", "LLM calls.", labels=["workflow", "step"])
        d = "a.detail"
        rows = self.db.query(
            "SELECT COALESCE(t.workflow, 'unknown') AS workflow,"
            f" {_json(self.db, d, 'step')} AS step,"
            f" SUM({_json(self.db, d, 'input_tokens', number=True)}) AS input_tokens,"
            f" SUM({_json(self.db, d, 'output_tokens', number=True)}) AS output_tokens,"
            f" SUM({_json(self.db, d, 'calls', number=True)}) AS calls"
            " FROM lockstep_audit a LEFT JOIN lockstep_threads t ON t.thread_id = a.thread_id"
            " WHERE a.kind = 'usage' GROUP BY 1, 2 ORDER BY 1, 2"
        )
        for row in rows:
            labels = [row["workflow"], str(row["step"])]
            tokens.add_metric([*labels, "input"], int(row["input_tokens"] or 0))
            tokens.add_metric([*labels, "output"], int(row["output_tokens"] or 0))
            calls.add_metric(labels, int(row["calls"] or 0))
        yield tokens
        yield calls


def render(queue: JobQueue) -> bytes:
    """The exposition text of every lockstep metric, as of now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(queue))
    return generate_latest(registry)


router = APIRouter(tags=["metrics"])
Caller = Depends(authenticated)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
)
def metrics(request: Request, principal: Principal = Caller) -> Response:
    """Prometheus metrics (operators and admins): queue depth, running jobs, job outcomes,
    step durations, LLM tokens."""
    require(principal, "operator")
    return Response(render(client_of(request).sync.queue), media_type=CONTENT_TYPE_LATEST)
