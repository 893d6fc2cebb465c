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

import os

from langchain_core.language_models import BaseChatModel

from lockstep.agents.offline import OfflineChatModel
from lockstep.errors import ConfigError

__all__ = ["DEFAULT_TIMEOUT_S", "MODEL_FORMS", "PROVIDER_PACKAGES", "get_chat_model"]

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
