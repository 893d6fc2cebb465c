"""Event-driven triggers: webhooks, cron schedules, human-approval deadlines, completion chains
and outbound notifications. Every trigger enqueues jobs through the queue, so its limits,
retries and audit trail apply to triggered work too.

The declarations (`lockstep.queue.trigger_config`, `lockstep.queue.templates`) live in the
queue layer, which loads them with its configuration; this package runs them. Importing it
registers the job-end hook (`chains.FOLLOW_UPS`) with the queue, which fires completion
triggers and queues notifications in each job's end transaction, and the `notify` action's
hook (`notify.action_notify`) with the machine, which queues a machine's own announcements
(`on_enter: [notify]`, an expired session) in the action's transaction.
"""

from lockstep.machine.actions import on_notify
from lockstep.queue.store import on_job_end
from lockstep.queue.templates import render_mapping
from lockstep.queue.trigger_config import (
    Action,
    ApprovalTrigger,
    CompletionTrigger,
    NotifyDecl,
    ScheduleTrigger,
    WebhookTrigger,
    WorkflowDecl,
)
from lockstep.triggers.chains import FOLLOW_UPS
from lockstep.triggers.notify import action_notify

on_job_end(FOLLOW_UPS)
on_notify(action_notify)

__all__ = [
    "Action",
    "ApprovalTrigger",
    "CompletionTrigger",
    "NotifyDecl",
    "ScheduleTrigger",
    "WebhookTrigger",
    "WorkflowDecl",
    "render_mapping",
]
