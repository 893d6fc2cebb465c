"""The `agent_researching` step: a tool-using (ReAct) agent researching over the brief's corpus.

Each step does one thing and is checkpointed: a model turn (the model reads the transcript
and asks for tool calls) or one tool call. The transcript and counters live in state
(`agent`, small: tool results are truncated), the evidence in the same `sources` artifact the
locked step writes, so a crash resumes at the step in flight without redoing earlier calls,
and drafting and verification do not change. A round ends when the agent calls `done`, stops
calling tools, or spends its step budget (`agent_max_tool_calls`); then, as in locked mode,
enough sources go on to drafting and too few to the `human_input_needed` gate. The round's
time limit and the token budget are checked before every step, as for locked research.

`agent_research` is the sync step; `aagent_research` its async twin (the model call is
awaited), which async graphs bind so LangGraph's `TimeoutPolicy` can bound the step.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ToolMessage,
    messages_from_dict,
    messages_to_dict,
)
from langgraph.runtime import Runtime

from lockstep.agents.faults import TransientError
from lockstep.agents.prompts import RESEARCH
from lockstep.nodes.context import RunContext, context_of, thread_of
from lockstep.nodes.research import DEFAULT_ROUND_TIMEOUT, research_report
from lockstep.research.tools import ResearchDesk, research_tools, run_tool_call
from lockstep.state.brief import AgentProgress, BriefState

__all__ = ["aagent_research", "agent_research", "pending_calls"]

STATE = "agent_researching"


def pending_calls(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """The last model turn's tool calls (valid and invalid, in order) not yet answered."""
    last = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
    if last is None:
        return []
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    calls: list[dict[str, Any]] = [dict(c) for c in last.tool_calls]
    calls += [{**dict(c), "invalid": True} for c in last.invalid_tool_calls]
    for n, call in enumerate(calls):
        call["id"] = call.get("id") or f"call_{len(messages)}_{n}"
    return [c for c in calls if c["id"] not in answered]


@dataclass
class _Step:
    """One execution of the agent step: what it read from state and what it will write."""

    state: BriefState
    ctx: RunContext
    thread: str
    desk: ResearchDesk
    messages: list[BaseMessage]
    progress: AgentProgress
    update: dict[str, Any]

    def action(self) -> str:
        """`finish`, `tool` or `model`: what this step does."""
        if self.progress["finished"]:
            return "finish"
        if self.progress["tool_calls"] >= self.ctx.agent_max_tool_calls:
            self.progress["finished"] = (
                f"step budget of {self.ctx.agent_max_tool_calls} tool calls spent"
            )
            return "finish"
        return "tool" if pending_calls(self.messages) else "model"

    def after_model(self, reply: BaseMessage) -> dict[str, Any]:
        if not isinstance(reply, AIMessage):  # pragma: no cover - chat models answer with one
            reply = AIMessage(content=str(reply.content))
        if not reply.tool_calls and not reply.invalid_tool_calls:
            if not str(reply.content).strip():
                raise TransientError("the model returned an empty completion")
            self.messages.append(reply)
            self.progress["finished"] = "the model stopped calling tools"
            return self.finish()
        self.messages.append(reply)
        return self.result("model_turn")

    def run_tool(self) -> dict[str, Any]:
        call = pending_calls(self.messages)[0]
        tools = {t.name: t for t in research_tools(self.desk)}
        self.messages.append(run_tool_call(tools, call))
        self.progress["tool_calls"] += 1
        if self.desk.changed:
            self.save_report()
        if self.desk.finished:
            self.progress["finished"] = f"done: {self.desk.finished}"
        elif self.progress["tool_calls"] >= self.ctx.agent_max_tool_calls:
            self.progress["finished"] = (
                f"step budget of {self.ctx.agent_max_tool_calls} tool calls spent"
            )
        return self.finish() if self.progress["finished"] else self.result("tool_called")

    def save_report(self) -> None:
        inputs = [self.state["request"]] if self.state.get("request") else []
        ref = self.ctx.artifacts.put(
            self.thread, "sources", self.desk.report, step=STATE, inputs=inputs
        )
        self.update["research"] = ref
        self.update["gathered"] = [s["key"] for s in self.desk.report["sources"]]

    def finish(self) -> dict[str, Any]:
        """End the round: the report, and the transcript as an artifact for the record (state
        drops it when a new round starts)."""
        self.save_report()
        transcript = {
            "finished": self.progress["finished"],
            "tool_calls": self.progress["tool_calls"],
            "messages": messages_to_dict(self.messages),
        }
        self.ctx.artifacts.put(
            self.thread,
            "research-transcript",
            transcript,
            step=STATE,
            inputs=[self.update["research"]],
        )
        on_topic = self.desk.on_topic()
        found = [s for s in self.desk.report["sources"] if s["key"] in on_topic]
        enough = len(found) >= self.ctx.min_sources
        return self.result("sources_gathered" if enough else "insufficient_sources")

    def result(self, event: str) -> dict[str, Any]:
        self.progress["messages"] = messages_to_dict(self.messages)
        return {**self.update, "event": event, "agent": self.progress}


def _begin(state: BriefState, runtime: Runtime[Any], timeout: float) -> _Step | dict[str, Any]:
    """Open this step: start a round, or stop on the round's time limit."""
    ctx = context_of(runtime)
    now = ctx.clock()
    report = research_report(state, ctx)
    desk = ResearchDesk(
        folders=list(state.get("sources") or []),
        topic=state["topic"],
        report=report,
        blobs=ctx.artifacts.blobs,
        quotes_per_source=ctx.quotes_per_source,
        acquire=ctx.acquire,
        index_cache=ctx.index_cache,
    )
    update: dict[str, Any] = {}
    agent = state.get("agent")
    started = state.get("research_started_at")
    new_round = agent is None
    if agent is None:
        report["rounds"] += 1
        prompt = RESEARCH.format_messages(
            topic=state["topic"],
            extra=" | ".join(state.get("extra_queries") or []) or "(nothing else)",
            gathered=", ".join(s["key"] for s in report["sources"]) or "(none yet)",
            budget=ctx.agent_max_tool_calls,
            min_sources=ctx.min_sources,
        )
        agent = {"messages": messages_to_dict(prompt), "tool_calls": 0, "finished": None}
        update["research_started_at"] = now.isoformat()
    elif started is None:  # a person chose to retry after the time limit
        update["research_started_at"] = now.isoformat()
    else:
        limit = ctx.research_timeout or timeout
        if (now - datetime.fromisoformat(started)).total_seconds() > limit:
            return {"event": "timeout"}
    step = _Step(
        state=state,
        ctx=ctx,
        thread=thread_of(runtime),
        desk=desk,
        messages=messages_from_dict(agent["messages"]),
        progress={**agent},
        update=update,
    )
    if new_round:
        step.save_report()  # the new round is on record before its first model call
    return step


def agent_research(
    state: BriefState, runtime: Runtime[Any], *, timeout: float = DEFAULT_ROUND_TIMEOUT
) -> dict[str, Any]:
    """One agent step: a model turn or one tool call; raises the event that says what's next.
    `timeout` is the round's limit (the state's declared `timeout`, bound by the graph)."""
    step = _begin(state, runtime, timeout)
    if isinstance(step, dict):
        return step
    action = step.action()
    if action == "finish":
        return step.finish()
    if action == "tool":
        return step.run_tool()
    return step.after_model(step.ctx.invoke(step.messages, tools=research_tools(step.desk)))


async def aagent_research(
    state: BriefState, runtime: Runtime[Any], *, timeout: float = DEFAULT_ROUND_TIMEOUT
) -> dict[str, Any]:
    """The async twin: the model call is awaited (so a `TimeoutPolicy` can cancel it); the
    corpus and database work runs in a thread, off the event loop."""
    step = await asyncio.to_thread(_begin, state, runtime, timeout)
    if isinstance(step, dict):
        return step
    action = step.action()
    if action == "finish":
        return await asyncio.to_thread(step.finish)
    if action == "tool":
        return await asyncio.to_thread(step.run_tool)
    reply = await step.ctx.model.bind_tools(research_tools(step.desk)).ainvoke(step.messages)
    return await asyncio.to_thread(step.after_model, reply)
