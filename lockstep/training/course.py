"""A course module from an objective and its practice activity, as escaped HTML.

Each module teaches one rule: the rule (quoted from the policy), why it exists, an example
scenario and an unscored practice question answered in the page. Policy text is data: every
piece of it is escaped here.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["module", "options_html"]


def options_html(name: str, options: list[str]) -> str:
    """Radio buttons for one question; values are a, b, c... (SCORM 1.2 choice responses)."""
    return "\n".join(
        f'<label><input type="radio" name="{escape(name)}" value="{chr(97 + i)}"> '
        f"{escape(text)}</label>"
        for i, text in enumerate(options)
    )


def module(objective: dict[str, Any], activities: list[dict[str, Any]]) -> dict[str, Any]:
    """The module for `objective`: body HTML, its practice question's key, its media."""
    number = objective["id"][1:]
    practice = [a for a in activities if objective["id"] in a.get("objectives", [])]
    first = practice[0] if practice else {}
    title = first.get("title") or objective["text"]
    body = [
        f'<h1 tabindex="-1">{escape(title)}</h1>',
        f"<p><strong>You will be able to:</strong> {escape(objective['text'])}</p>",
        "<h2>The rule</h2>",
        f"<blockquote><p>{escape(objective['quote'])}</p></blockquote>",
        f'<p class="source">From: {escape(objective.get("policy") or objective["source"])}</p>',
    ]
    if first.get("why"):
        body += ["<h2>Why it exists</h2>", f"<p>{escape(first['why'])}</p>"]
    if first.get("scenario"):
        body += [
            "<h2>Example</h2>",
            f'<div class="scenario"><p>{escape(first["scenario"])}</p></div>',
        ]
    key: dict[str, Any] | None = None
    for activity in practice:
        if activity.get("question") and activity.get("options"):
            pid = f"P{number}"
            body += [
                "<h2>Practice</h2>",
                f'<fieldset class="practice" id="{pid}"><legend>Try it (not scored)</legend>',
                f"<p>{escape(activity['question'])}</p>",
                options_html(pid, activity["options"]),
                '<p><button type="button" class="secondary">Check my answer</button></p>',
                '<p class="feedback" aria-live="polite" hidden></p></fieldset>',
            ]
            key = {
                "id": pid,
                "answer": chr(97 + int(activity.get("answer", 0))),
                "why": activity.get("explanation", ""),
            }
        elif activity.get("instructions"):
            body += [f"<h2>{escape(activity['title'])}</h2>"]
            body += [f"<p>{escape(activity['instructions'])}</p>"]
        for link in activity.get("links", []):
            body.append(f'<p><a href="{escape(link["href"])}">{escape(link["text"])}</a></p>')
    return {
        "id": f"M{number}",
        "title": title,
        "objective": objective["id"],
        "body": "\n".join(body),
        "practice": key,
        "media": [m for a in practice for m in a.get("media", [])],
    }
