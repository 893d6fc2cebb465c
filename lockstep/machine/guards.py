"""Guard expressions such as `revision_count < 3 and not proceed_anyway`.

Written by hand on Python's own `ast`: the static checker needs the names a guard reads, and a
whitelist of comparison/boolean nodes keeps evaluation safe without pulling in an evaluator.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

__all__ = ["eval_guard", "guard_names", "parse_guard"]

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ALLOWED = (
    ast.Expression,
    ast.Compare,
    ast.BoolOp,
    ast.UnaryOp,
    ast.Name,
    ast.Constant,
    ast.Load,
    ast.And,
    ast.Or,
    ast.Not,
    ast.Tuple,
    ast.List,
    *_COMPARE,
)


@lru_cache(maxsize=256)
def parse_guard(expr: str) -> ast.Expression:
    """Parse a guard, raising ValueError on syntax or on anything but comparisons and logic."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"guard {expr!r} is not a valid expression: {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            kind = type(node).__name__
            raise ValueError(f"guard {expr!r} uses {kind}; only comparisons and and/or/not")
    return tree


def guard_names(expr: str) -> set[str]:
    """The state fields and counters a guard reads."""
    return {n.id for n in ast.walk(parse_guard(expr)) if isinstance(n, ast.Name)}


def eval_guard(expr: str, values: Mapping[str, Any]) -> bool:
    """Evaluate a guard; a name missing from `values` reads as 0 (counters start at zero)."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            value = values.get(node.id)
            return 0 if value is None else value
        if isinstance(node, ast.Tuple | ast.List):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.UnaryOp):
            return not ev(node.operand)
        if isinstance(node, ast.BoolOp):
            results = (ev(v) for v in node.values)
            return all(results) if isinstance(node.op, ast.And) else any(results)
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = ev(comparator)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        raise ValueError(f"unsupported guard node {type(node).__name__}")  # pragma: no cover

    return bool(ev(parse_guard(expr)))
