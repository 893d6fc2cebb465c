"""Input mappings: `{{ event.x }}` and `{{ previous.outputs.x }}` rendered by jinja2's sandbox.

A trigger's `input_mapping` is a mapping whose string values may hold templates. A value that is
one whole `{{ expression }}` keeps the expression's type (an artifact ref stays a mapping, a
number stays a number); any other string is rendered as text. Templates are never `eval`ed:
jinja2's `SandboxedEnvironment` refuses attributes such as `__class__`, and `StrictUndefined`
makes a missing field an error instead of an empty string. Payload values are data: they are
inserted, never rendered as templates themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from lockstep.errors import TriggerError

__all__ = ["check_templates", "render_mapping", "template_names"]

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_WHOLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)


def _templates(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, text) of every templated string inside a mapping value."""
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _templates(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _templates(item, f"{path}[{index}]")


def _whole(text: str) -> str | None:
    """The expression of a string that is exactly one `{{ ... }}`, else None."""
    match = _WHOLE.match(text)
    if match and "}}" not in match.group(1) and "{{" not in match.group(1):
        return match.group(1)
    return None


def template_names(mapping: Mapping[str, Any], root: str = "input_mapping") -> dict[str, set[str]]:
    """Top-level names (`event`, `previous`) each template uses, by path; raises TriggerError
    on a template that does not parse."""
    used: dict[str, set[str]] = {}
    for path, text in _templates(dict(mapping), root):
        try:
            ast = _ENV.parse(text)
        except TemplateSyntaxError as exc:
            raise TriggerError(f"{path}: invalid template {text!r}: {exc.message}") from None
        used[path] = set(meta.find_undeclared_variables(ast))
    return used


def check_templates(mapping: Mapping[str, Any], allowed: set[str], kind: str) -> None:
    """Refuse (at config load) templates that do not parse or use a name this kind of trigger
    does not provide."""
    for path, names in template_names(mapping).items():
        unknown = sorted(names - allowed)
        if unknown:
            offer = ", ".join(sorted(allowed))
            raise TriggerError(
                f"{path}: a {kind} trigger provides {offer}, not {', '.join(unknown)}"
            )


def _render(text: str, context: Mapping[str, Any], path: str) -> Any:
    expression = _whole(text)
    try:
        if expression is not None:
            value = _ENV.compile_expression(expression, undefined_to_none=False)(**context)
            if isinstance(value, Undefined):
                value._fail_with_undefined_error()
        else:
            value = _ENV.from_string(text).render(**context)
    except SecurityError as exc:
        raise TriggerError(f"{path}: template {text!r} refused by the sandbox: {exc}") from None
    except UndefinedError as exc:
        raise TriggerError(f"{path}: template {text!r} names a missing field: {exc}") from None
    except TemplateSyntaxError as exc:
        raise TriggerError(f"{path}: invalid template {text!r}: {exc.message}") from None
    except Exception as exc:  # a filter or operator failing on the data (e.g. int('x'))
        raise TriggerError(
            f"{path}: template {text!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    if value is None or (isinstance(value, str) and not value.strip()):
        raise TriggerError(f"{path}: template {text!r} rendered an empty value")
    return value


def _walk(value: Any, context: Mapping[str, Any], path: str) -> Any:
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            return _render(value, context, path)
        return value
    if isinstance(value, Mapping):
        return {k: _walk(v, context, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, context, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def render_mapping(
    mapping: Mapping[str, Any], context: Mapping[str, Any], *, where: str = "input_mapping"
) -> dict[str, Any]:
    """The workflow input a trigger submits: every template rendered against `context`
    (`event`, `previous`). A missing field, an empty result or a template the sandbox refuses
    raises TriggerError naming the field, so a trigger never starts a run with a hole in it."""
    rendered = _walk(dict(mapping), context, where)
    assert isinstance(rendered, dict)
    return rendered
