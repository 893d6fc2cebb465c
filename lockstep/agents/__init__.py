"""The agent layer: one chat-model factory, the offline model, and the prompts."""

from lockstep.agents.models import MODEL_FORMS, get_chat_model
from lockstep.agents.offline import OfflineChatModel

__all__ = ["MODEL_FORMS", "OfflineChatModel", "get_chat_model"]
