"""The one chat-model factory every LLM call goes through.

`LOCKSTEP_MODEL` (or an explicit argument) selects the model:
- `offline` (default): the deterministic, extractive OfflineChatModel; no network, no key.
- `openai:<model>`: langchain-openai's ChatOpenAI, with `OPENAI_API_KEY` and optional
  `OPENAI_BASE_URL`, so any OpenAI-compatible server (vLLM, Ollama, llama.cpp) works.
- `<provider>:<model>` for any other provider LangChain's `init_chat_model` knows, once its
  package is installed (see `PROVIDER_PACKAGES`).

Every model gets an explicit timeout and no client-side retries: retrying is the node's
`RetryPolicy`, so there is one retry layer, limited to transient faults.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import os
import re
import sys
import threading
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable
from pydantic import BaseModel

from lockstep.agents.offline import OfflineChatModel
from lockstep.errors import CallCancelled, ConfigError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MODEL_FORMS",
    "PROVIDER_PACKAGES",
    "call",
    "get_chat_model",
    "structured_output",
]

MODEL_FORMS = ("offline", "openai:<model>", "<provider>:<model>")
PROVIDER_PACKAGES = {
    "anthropic": ("langchain-anthropic", "ANTHROPIC_API_KEY"),
    "google_genai": ("langchain-google-genai", "GOOGLE_API_KEY"),
    "mistralai": ("langchain-mistralai", "MISTRAL_API_KEY"),
    "groq": ("langchain-groq", "GROQ_API_KEY"),
    "ollama": ("langchain-ollama", None),
}
"""Providers known to work through `init_chat_model`: the package each needs, and its key."""
DEFAULT_TIMEOUT_S = 60.0
"""Per-call timeout: ChatOpenAI has none by default, and a hung server would block forever."""


def get_chat_model(spec: str | BaseChatModel | None = None) -> BaseChatModel:
    """The chat model for `spec` (a model object passes through), checked before any run."""
    if isinstance(spec, BaseChatModel):
        return spec
    spec = (spec or os.environ.get("LOCKSTEP_MODEL") or "offline").strip()
    if spec == "offline":
        return OfflineChatModel()
    provider, _, name = spec.partition(":")
    if provider == "openai" and name:
        if not os.environ.get("OPENAI_API_KEY"):
            raise ConfigError(
                f"model {spec!r} needs OPENAI_API_KEY set (and OPENAI_BASE_URL "
                "for a non-OpenAI server)"
            )
        from langchain_openai import ChatOpenAI

        timeout = float(os.environ.get("LOCKSTEP_LLM_TIMEOUT", DEFAULT_TIMEOUT_S))
        return ChatOpenAI(
            model=name,
            base_url=os.environ.get("OPENAI_BASE_URL") or None,
            timeout=timeout,
            max_retries=0,  # retries are LangGraph's RetryPolicy on the node (one layer)
            temperature=0,
        )
    if provider and name:
        return _other_provider(spec, provider, name)
    raise ConfigError(f"unknown model {spec!r}: use one of {', '.join(MODEL_FORMS)}")


def _other_provider(spec: str, provider: str, name: str) -> BaseChatModel:
    package, key = PROVIDER_PACKAGES.get(provider, (f"langchain-{provider}", None))
    if key and not os.environ.get(key):
        raise ConfigError(f"model {spec!r} needs {key} set")
    from langchain.chat_models import init_chat_model

    timeout = float(os.environ.get("LOCKSTEP_LLM_TIMEOUT", DEFAULT_TIMEOUT_S))
    try:
        model = init_chat_model(
            name, model_provider=provider, timeout=timeout, max_retries=0, temperature=0
        )
    except ImportError:
        raise ConfigError(
            f"model {spec!r} needs the {package} package: pip install {package}"
        ) from None
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(
            f"unknown model {spec!r} ({first}): use one of {', '.join(MODEL_FORMS)}"
        ) from None
    return model


Schema = TypeVar("Schema", bound=BaseModel)

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, on a daemon thread, for calls that may be cancelled. One
    loop, not one per call: model clients cache async HTTP pools bound to the loop that made
    them."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(
                target=_loop.run_forever, name="lockstep-llm-loop", daemon=True
            ).start()
        return _loop


def call(runnable: Runnable[Any, Any], messages: Any, cancel: threading.Event | None = None) -> Any:
    """`runnable.invoke(messages)`, or, when `cancel` is given (a worker running a job), its
    `ainvoke` on the background loop, cancelled through asyncio as soon as `cancel` is set:
    the HTTP request is dropped, and `CallCancelled` ends the step without a result."""
    if cancel is None:
        return runnable.invoke(messages)
    if cancel.is_set():
        raise CallCancelled("the run was cancelled before this LLM call")
    loop = _background_loop()
    ctx = contextvars.copy_context()  # usage metering and tracing follow the call
    result: concurrent.futures.Future[Any] = concurrent.futures.Future()
    tasks: list[asyncio.Task[Any]] = []

    def settle(task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            result.cancel()
        elif task.exception() is not None:
            result.set_exception(task.exception())
        else:
            result.set_result(task.result())

    def start() -> None:
        task = loop.create_task(runnable.ainvoke(messages), context=ctx)
        task.add_done_callback(settle)
        tasks.append(task)

    loop.call_soon_threadsafe(start)
    while True:
        try:
            return result.result(timeout=0.05)
        except concurrent.futures.TimeoutError:
            if cancel.is_set():
                loop.call_soon_threadsafe(lambda: [t.cancel() for t in tasks])
                raise CallCancelled(
                    "the run was cancelled; its LLM call in flight was dropped"
                ) from None


def _methods(model: BaseChatModel) -> list[str]:
    # A ChatOpenAI exists only once langchain_openai is imported; importing it just to ask
    # costs ~1.5 s (openai, tiktoken) in every process that runs the offline model.
    openai_mod = sys.modules.get("langchain_openai")
    if openai_mod is not None and isinstance(model, openai_mod.ChatOpenAI):
        return ["json_schema", "function_calling", "json_text"]
    return ["default", "json_text"]


def _refused(exc: Exception) -> bool:
    """The server cannot honour this way of asking for structure (so try the next)."""
    if isinstance(exc, NotImplementedError):
        return True
    try:
        import openai
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError)


def _from_text(text: str, schema: type[Schema]) -> Schema:
    match = re.search(r"\{.*\}", text, re.S)
    if match is None:
        raise json.JSONDecodeError("no JSON object in the completion", text, 0)
    return schema.model_validate_json(match.group(0))


def structured_output(
    model: BaseChatModel,
    schema: type[Schema],
    messages: Any,
    cancel: threading.Event | None = None,
) -> Schema:
    """`schema` from the model: json_schema first, then function calling, then JSON parsed from
    plain text, stepping down only when the server refuses a method (a 400 or 422). `cancel`
    as in `call`."""
    methods = _methods(model)
    for n, method in enumerate(methods):
        try:
            if method == "json_text":
                return _from_text(str(call(model, messages, cancel).content), schema)
            runnable = (
                model.with_structured_output(schema)
                if method == "default"
                else model.with_structured_output(schema, method=method)
            )
            result = call(runnable, messages, cancel)
            if not isinstance(result, schema):
                raise json.JSONDecodeError(f"no {schema.__name__} in the response", "", 0)
            return result
        except Exception as exc:
            if n + 1 < len(methods) and _refused(exc):
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover
