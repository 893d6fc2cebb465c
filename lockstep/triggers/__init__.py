"""Event-driven triggers: webhooks, cron schedules, human-approval deadlines, completion chains
and outbound notifications. Every trigger enqueues jobs through the queue, so its limits,
retries and audit trail apply to triggered work too.

The modules that touch the queue (`webhooks`, `scheduler`, `approvals`, `chains`, `notify`)
are imported by name, not here: the queue's configuration imports `lockstep.triggers.config`.
"""

from lockstep.triggers.config import (
    Action,
    ApprovalTrigger,
    CompletionTrigger,
    NotifyDecl,
    ScheduleTrigger,
    WebhookTrigger,
    WorkflowDecl,
)
from lockstep.triggers.templates import render_mapping

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
