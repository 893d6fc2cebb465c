"""The durable job queue: jobs, leases, retries, dead letters, limits and workers.

Importing it gives `Lockstep.queue` its queue (the client, a layer below, cannot import it).
"""

from lockstep.client import set_queue_factory
from lockstep.queue.config import PRIORITIES, QueueConfig, load_config, parse_priority
from lockstep.queue.limits import RateLimiter
from lockstep.queue.store import Job, JobQueue
from lockstep.queue.worker import Worker

set_queue_factory(JobQueue.of)

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
