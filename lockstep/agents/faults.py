"""Which failures are worth retrying: the transient ones, and nothing else.

A retry cannot fix a bad request, a validation error or a bug; it can outlast a dropped
connection, a timeout, a rate limit or a server error. LangGraph's `RetryPolicy(retry_on=...)`
takes `is_transient`, so only those are retried, with backoff and jitter.
"""

from __future__ import annotations

import json
import os
import time

from langgraph.types import RetryPolicy

__all__ = ["MAX_RETRY_AFTER_S", "TransientError", "is_transient", "retry_policy"]

MAX_RETRY_AFTER_S = 60.0
"""Longest `Retry-After` honoured; a server asking for more fails the step instead."""


class TransientError(Exception):
    """A failure that may not happen again: raise it from a tool to ask for a retry."""


def _retry_after(exc: BaseException) -> float:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else 0.0
    except ValueError:
        return 0.0


def is_transient(exc: BaseException) -> bool:
    """True for connection drops, timeouts, rate limits, 5xx and garbled responses.

    LangGraph's `RetryPolicy` has no hook for a server's `Retry-After`, so for a rate limit
    this predicate first waits out what the server asked for (up to `MAX_RETRY_AFTER_S`);
    LangGraph's own jittered backoff follows."""
    if isinstance(exc, TransientError | ConnectionError | TimeoutError | json.JSONDecodeError):
        return True
    # langchain-core's provider-neutral errors (langchain-openai and others raise these), and a
    # structured output that does not validate (the next sample may)
    from langchain_core.exceptions import (
        ModelConnectionError,
        ModelTimeoutError,
        OutputParserException,
    )
    from pydantic import ValidationError

    if isinstance(exc, ModelConnectionError | ModelTimeoutError | OutputParserException):
        return True
    if isinstance(exc, ValidationError):
        return True
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai brings it
        return False
    if isinstance(exc, openai.RateLimitError):
        wait = _retry_after(exc)
        if wait > MAX_RETRY_AFTER_S:
            return False
        time.sleep(wait)
        return True
    if isinstance(exc, openai.APIConnectionError | openai.APIResponseValidationError):
        return True  # APITimeoutError is an APIConnectionError
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def retry_policy(max_attempts: int = 4, initial_interval: float | None = None) -> RetryPolicy:
    """Exponential backoff with jitter, for transient failures only. The first interval comes
    from `LOCKSTEP_RETRY_INTERVAL` (seconds, default 0.5) unless given."""
    if initial_interval is None:
        initial_interval = float(os.environ.get("LOCKSTEP_RETRY_INTERVAL", "0.5"))
    return RetryPolicy(
        max_attempts=max_attempts,
        initial_interval=initial_interval,
        backoff_factor=2.0,
        jitter=True,
        retry_on=is_transient,
    )
