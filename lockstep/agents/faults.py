"""Which failures are worth retrying: the transient ones, and nothing else.

A retry cannot fix a bad request, a validation error or a bug; it can outlast a dropped
connection, a timeout, a rate limit or a server error. LangGraph's `RetryPolicy(retry_on=...)`
takes `is_transient`, so only those are retried, with backoff and jitter.
"""

from __future__ import annotations

from langgraph.types import RetryPolicy

__all__ = ["TransientError", "is_transient", "retry_policy"]


class TransientError(Exception):
    """A failure that may not happen again: raise it from a tool to ask for a retry."""


def is_transient(exc: BaseException) -> bool:
    """True for connection drops, timeouts, rate limits and 5xx from an LLM provider."""
    if isinstance(exc, TransientError | ConnectionError | TimeoutError):
        return True
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai brings it
        return False
    if isinstance(exc, openai.APIConnectionError | openai.APITimeoutError | openai.RateLimitError):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def retry_policy(max_attempts: int = 3, initial_interval: float = 0.5) -> RetryPolicy:
    """Exponential backoff with jitter, for transient failures only."""
    return RetryPolicy(
        max_attempts=max_attempts,
        initial_interval=initial_interval,
        backoff_factor=2.0,
        jitter=True,
        retry_on=is_transient,
    )
