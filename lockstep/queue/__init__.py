"""The durable job queue: jobs, leases, retries, dead letters, limits and workers."""

from lockstep.queue.config import PRIORITIES, QueueConfig, load_config, parse_priority
from lockstep.queue.limits import RateLimiter
from lockstep.queue.store import Job, JobQueue
from lockstep.queue.worker import Worker

__all__ = [
    "PRIORITIES",
    "Job",
    "JobQueue",
    "QueueConfig",
    "RateLimiter",
    "Worker",
    "load_config",
    "parse_priority",
]
