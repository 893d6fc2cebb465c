"""Chat models for tests: the offline model with its citations deliberately broken."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatResult
from pydantic import PrivateAttr

from lockstep.agents.offline import OfflineChatModel

_DEFINITION = re.compile(r'^(\[\^[A-Za-z0-9_-]+\]:\s+.+?\s+")(.*)("\s*)$', re.M)


def _alter(quote: str) -> str:
    """Change the quote's last word: close enough to repair, wrong enough to fail."""
    words = quote.split(" ")
    return " ".join([*words[:-1], "allegedly."]) if len(words) > 3 else "fabricated claim"


class FabricatingModel(OfflineChatModel):
    """Alters every footnote quote it writes in sections, and in its first
    `revisions_fabricated` revisions; later revisions repair them as the offline model does."""

    revisions_fabricated: int = 0
    _revisions: int = PrivateAttr(default=0)

    def _generate(
        self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        result = super()._generate(messages, stop, run_manager, **kwargs)
        prompt = "\n".join(str(m.content) for m in messages)
        task = re.search(r"^Task: (\w+)", prompt, re.M)
        name = task.group(1) if task else ""
        if name == "revise":
            self._revisions += 1
            if self._revisions > self.revisions_fabricated:
                return result
        if name in ("section", "revise"):
            message = result.generations[0].message
            text = _DEFINITION.sub(
                lambda m: m.group(1) + _alter(m.group(2)) + m.group(3), str(message.content)
            )
            result.generations[0].message = AIMessage(
                content=text, usage_metadata=message.usage_metadata
            )
        return result


class ThinOutlineModel(OfflineChatModel):
    """Plans outlines with a summary and a single body section (too thin for a brief) in its
    first `thin_outlines` outline calls; later outlines are the offline model's own."""

    thin_outlines: int = 99
    _outlines: int = PrivateAttr(default=0)

    def _outline(self, prompt: str) -> dict[str, Any]:
        planned = super()._outline(prompt)
        self._outlines += 1
        if self._outlines > self.thin_outlines:
            return planned
        sections = planned["sections"]
        summary = [s for s in sections if s["heading"].lower() == "summary"][:1]
        body = [s for s in sections if s["heading"].lower() != "summary"][:1]
        return {**planned, "sections": summary + body}
