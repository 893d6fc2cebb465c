"""A real HTTP server on 127.0.0.1 that speaks OpenAI's chat-completions API, for fault tests.

It is not a mock of the client: ChatOpenAI talks to it over a socket. Successful answers are
made by lockstep's offline model from the same messages (so a brief written through it is a
real brief); faults are scripted per request: `script` is consumed first, then a fraction
`fault_rate` of requests fault, spread evenly (request n faults when floor((n+1)*rate) passes
floor(n*rate)), cycling through `faults`, so every run sees the same faults. `replies` are
scripted assistant messages (OpenAI form, e.g. with `tool_calls`) served, in order, to the
requests that offer the research tools; every request body is kept in `requests`.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from lockstep.agents.offline import OfflineChatModel

FAULTS = ("429", "500", "503", "reset", "malformed", "empty", "slow")


class FakeOpenAI:
    def __init__(
        self,
        *,
        script: list[str] | None = None,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] = ("429", "500", "503", "reset", "malformed"),
        slow_seconds: float = 3.0,
        refuse: tuple[str, ...] = (),
        replies: list[dict[str, Any]] | None = None,
    ) -> None:
        self.script = list(script or [])
        self.replies = list(replies or [])
        self.requests: list[dict[str, Any]] = []
        self.fault_rate = fault_rate
        self.faults = faults
        self.served = 0
        self.refuse = refuse
        """Request features answered with 400, like a server without them: `response_format`
        (json_schema) and/or `tools` (function calling)."""
        self.slow_seconds = slow_seconds
        self.log: list[str] = []
        self.lock = threading.Lock()
        self.hanging = threading.Event()
        """Set when a `hang` request arrived; it is answered only if `release` is set, and
        logs `client disconnected` if the client drops it first."""
        self.release = threading.Event()
        self.model = OfflineChatModel()

    def next_outcome(self) -> str:
        with self.lock:
            if self.script:
                outcome = self.script.pop(0)
            else:
                n, rate = self.served, self.fault_rate
                self.served += 1
                if int((n + 1) * rate) > int(n * rate):
                    outcome = self.faults[int(n * rate) % len(self.faults)]
                else:
                    outcome = "ok"
            self.log.append(outcome)
            return outcome

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        tools = body.get("tools") or []
        offers_research = any(t["function"]["name"] == "search" for t in tools)
        if offers_research and self.replies:
            reply = {"role": "assistant", "content": None, **self.replies.pop(0)}
            self.log.append("scripted")
            usage: dict[str, int] = {"input_tokens": 50, "output_tokens": 10}
        else:
            result = self.model._generate(_messages(body), tools=tools)
            message: AIMessage = result.generations[0].message  # type: ignore[assignment]
            reply = {"role": "assistant", "content": message.content or None}
            if message.tool_calls:
                reply["tool_calls"] = [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": json.dumps(c["args"])},
                    }
                    for c in message.tool_calls
                ]
            usage = dict(message.usage_metadata or {"input_tokens": 1, "output_tokens": 1})
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": reply,
                    "finish_reason": "tool_calls" if reply.get("tool_calls") else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": usage["input_tokens"],
                "completion_tokens": usage["output_tokens"],
                "total_tokens": usage["input_tokens"] + usage["output_tokens"],
            },
        }


def _messages(body: dict[str, Any]) -> list[BaseMessage]:
    """The request's messages as LangChain messages, tool calls and tool results included."""
    messages: list[BaseMessage] = []
    for m in body.get("messages", []):
        content = m.get("content") or ""
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content)
        if m["role"] == "system":
            messages.append(SystemMessage(content))
        elif m["role"] == "assistant":
            calls = []
            for c in m.get("tool_calls") or []:
                try:
                    args = json.loads(c["function"]["arguments"])
                except json.JSONDecodeError:
                    args = {}
                calls.append({"name": c["function"]["name"], "args": args, "id": c["id"]})
            messages.append(AIMessage(content, tool_calls=calls))
        elif m["role"] == "tool":
            messages.append(ToolMessage(content, tool_call_id=m.get("tool_call_id", "")))
        else:
            messages.append(HumanMessage(content))
    return messages


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.requests.append(body)
            refused = [f for f in fake.refuse if body.get(f)]
            if refused:
                fake.log.append(f"refused {refused[0]}")
                error = {"error": {"message": f"{refused[0]} is not supported", "type": "invalid"}}
                self._send(400, json.dumps(error).encode())
                return
            outcome = fake.next_outcome()
            if outcome == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                self.connection.close()
                self.close_connection = True
                return
            if outcome in ("429", "500", "503"):
                error = json.dumps({"error": {"message": f"scripted {outcome}", "type": "fault"}})
                headers = {"Retry-After": "0"} if outcome == "429" else {}
                self._send(int(outcome), error.encode(), headers)
                return
            if outcome == "malformed":
                self._send(200, b'{"id": "chatcmpl-fake", "choices": [')
                return
            if outcome == "hang":
                fake.hanging.set()
                while not fake.release.is_set():
                    readable, _, _ = select.select([self.connection], [], [], 0.05)
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):
                        fake.log.append("client disconnected")
                        self.close_connection = True
                        return
            if outcome == "slow":
                time.sleep(fake.slow_seconds)
            answer = fake.answer(body)
            if outcome == "empty":
                answer["choices"][0]["message"] = {"role": "assistant", "content": ""}
            self._send(200, json.dumps(answer).encode())

    return Handler


@contextmanager
def serve(fake: FakeOpenAI) -> Iterator[str]:
    """Run `fake` on a free loopback port; yields its base URL (…/v1)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
