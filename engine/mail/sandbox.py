"""The Jinja environment templates run in: sandboxed, immutable, and bounded in time and size.

Templates are written by marketers, not by the engine's developers, so they run in Jinja's
``ImmutableSandboxedEnvironment`` (jinja2>=3.1.6: CVE-2024-56326 and CVE-2025-27516 are fixed
there), and see only plain data (invariant I9, RELIABILITY 3.2). The sandbox alone stops attribute
escapes (``''.__class__``) but not a template that asks for a gigabyte (``'x' * 10**9``) or loops
for an hour, so this module adds what a mail engine needs:

- operators ``*``, ``**``, ``+`` and ``%`` are intercepted: no text or list past
  :data:`MAX_TEXT`, no number past :data:`MAX_POWER_BITS` bits, no printf-style formatting of
  texts (a width such as ``%0999999999d`` is a memory bomb); ``str.format`` is refused likewise;
- every call checks the render's deadline and refuses huge arguments; methods of texts and
  lists refuse integer arguments over :data:`MAX_METHOD_INT` (``'x'.center(10**8)``);
- every ``for`` loop counts its iterations against a per-render budget and the deadline, and every
  ``~`` concatenation and ``{% set %}`` capture is capped (the templates' syntax trees are
  rewritten once, when they are compiled, so the cost is paid per loop and per concatenation,
  not per output);
- only an allowlist of filters exists, each capped in what it returns; no ``lipsum``, ``cycler``,
  ``joiner`` or ``namespace`` globals.

A render runs inside :func:`limits`, which sets the deadline and the iteration budget; whatever a
template does wrong surfaces as an exception (``SecurityError`` for the guards) that the renderer
turns into a :class:`engine.mail.errors.TemplateError` for that one message.
"""

from __future__ import annotations

import functools
import time
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import BaseLoader, ChainableUndefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from engine.mail.context import Record

MAX_TEXT = 1_000_000  # characters (or items) in any one value a template builds
MAX_OUTPUT = 2_000_000  # characters in one rendered part
MAX_ITERATIONS = 20_000  # loop iterations in one render, all loops together
MAX_METHOD_INT = 10_000  # integer arguments to methods of texts and lists
MAX_POWER_BITS = 1024
RENDER_SECONDS = 2.0

_MISSING = object()
_OWN_MODULES = frozenset({"engine.mail.links", "engine.mail.context", __name__})
ITER_GUARD = "__loop_guard"
CAP_GUARD = "__cap"

# Filters a mail template may use. Left out on purpose: format (printf widths), center, indent,
# wordwrap, batch, slice (sizes from arguments), attr, xmlattr, pprint, tojson, urlize, random,
# and safe (a lead's data marked safe would put their HTML into the email).
SAFE_FILTERS = (
    "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "filesizeformat",
    "first", "float", "forceescape", "groupby", "int", "items", "join", "last", "length", "list",
    "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round",
    "select", "selectattr", "sort", "string", "striptags", "sum", "title", "trim", "truncate",
    "unique", "upper", "urlencode", "wordcount",
)


@dataclass
class Budget:
    deadline: float
    iterations: int


_budget: ContextVar[Budget | None] = ContextVar("mail_render_budget", default=None)


@contextmanager
def limits(seconds: float | None = None, iterations: int | None = None) -> Iterator[None]:
    """Run the renders inside with a deadline and a loop budget (one message's worth)."""
    token = _budget.set(Budget(time.monotonic() + (RENDER_SECONDS if seconds is None else seconds),
                               MAX_ITERATIONS if iterations is None else iterations))
    try:
        yield
    finally:
        _budget.reset(token)


def _check_deadline() -> None:
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise SecurityError("the template took too long to render (over "
                            f"{RENDER_SECONDS:g} s): a loop or a recursion without end?")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 0


def capped(value: Any) -> Any:
    if _size(value) > MAX_TEXT:
        raise SecurityError(f"the template built a value of {_size(value):,} characters or "
                            f"items (at most {MAX_TEXT:,})")
    return value


def loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every loop of a template iterates through this: a budget of iterations per render."""
    budget = _budget.get()
    for n, item in enumerate(iterable):
        if budget is not None:
            budget.iterations -= 1
            if budget.iterations < 0:
                raise SecurityError(f"the template's loops ran more than {MAX_ITERATIONS:,} "
                                    "times in one message")
            if n % 256 == 255:
                _check_deadline()
        yield item


class _Guards(NodeTransformer):
    """Rewrites a parsed template so loops, concatenations and captures go through the guards."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(nodes.Name(ITER_GUARD, "load", lineno=node.lineno), [node.iter],
                               [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(nodes.Name(CAP_GUARD, "load", lineno=node.lineno), [node], [], None,
                          None, lineno=node.lineno)

    def visit_AssignBlock(self, node: nodes.AssignBlock) -> nodes.Node:
        self.generic_visit(node)
        node.filter = nodes.Filter(node.filter, CAP_GUARD, [], [], None, None,
                                   lineno=node.lineno)
        return node


def _capped_filter(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return capped(fn(*args, **kwargs))

    return wrapper


def _safe_replace(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``replace`` that refuses before building a result past the cap (``'aaaa'|replace('a',
    long)`` grows as the product of the two lengths)."""

    @functools.wraps(fn)
    def wrapper(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> Any:
        text, old_s, new_s = str(s), str(old), str(new)
        hits = text.count(old_s) if old_s else len(text) + 1
        if count is not None and count >= 0:
            hits = min(hits, count)
        if len(text) + hits * max(0, len(new_s) - len(old_s)) > MAX_TEXT:
            raise SecurityError("replace would build a text longer than "
                                f"{MAX_TEXT:,} characters")
        return fn(eval_ctx, s, old, new, count)

    return wrapper


class MailEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with the guards described in the module docstring."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, loader: BaseLoader | None = None,
                 autoescape: bool | Callable[[str | None], bool] = True) -> None:
        super().__init__(loader=loader, autoescape=autoescape, undefined=ChainableUndefined,
                         auto_reload=False, cache_size=400, keep_trailing_newline=True)
        for name in ("lipsum", "cycler", "joiner", "namespace"):
            self.globals.pop(name, None)
        self.globals[ITER_GUARD] = loop_guard
        self.globals[CAP_GUARD] = capped
        self.filters = {name: _capped_filter(FILTERS[name]) for name in SAFE_FILTERS}
        self.filters["replace"] = _capped_filter(_safe_replace(FILTERS["replace"]))
        self.filters[CAP_GUARD] = capped

    # ------------------------------------------------------------ compile-time rewrite

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        guarded = _Guards().visit(tree)
        assert isinstance(guarded, nodes.Template)
        return guarded

    # ------------------------------------------------------------ run-time guards

    def getattr(self, obj: Any, attribute: str) -> Any:
        # The context's records hold plain data only: read it without the general checks,
        # which cost more than the rest of a render (30 lookups per message).
        if type(obj) is Record:
            if attribute.startswith("_"):
                raise SecurityError(f"access to attribute {attribute!r} is not allowed")
            value = obj.get(attribute, _MISSING)
            return self.undefined(obj=obj, name=attribute) if value is _MISSING else value
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if type(obj) is Record and isinstance(argument, str):
            return self.getattr(obj, argument)
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise SecurityError("printf-style formatting of texts (`%`) is not available in "
                                "templates; join values with `~`")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) \
                        and len(seq) * n > MAX_TEXT:
                    raise SecurityError(f"repeating a value {n:,} times builds more than "
                                        f"{MAX_TEXT:,} characters or items")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) \
                    and right * max(abs(left), 1).bit_length() > MAX_POWER_BITS:
                raise SecurityError(f"the number {left}**{right} is too large for a template")
        elif operator == "+":
            if _size(left) + _size(right) > MAX_TEXT:
                raise SecurityError(f"adding these values builds more than {MAX_TEXT:,} "
                                    "characters or items")
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        for value in (*args, *kwargs.values()):
            if _size(value) > MAX_TEXT:
                raise SecurityError(f"a value of {_size(value):,} characters or items passed to "
                                    f"a call (at most {MAX_TEXT:,})")
        if isinstance(obj, types.BuiltinMethodType) \
                and isinstance(getattr(obj, "__self__", None), str | list | tuple | dict):
            for value in (*args, *kwargs.values()):
                if isinstance(value, int) and abs(value) > MAX_METHOD_INT:
                    raise SecurityError(f"{obj.__name__}() with {value:,}: numbers over "
                                        f"{MAX_METHOD_INT:,} are refused in text methods")
        if getattr(obj, "__module__", None) in _OWN_MODULES:
            return obj(*args, **kwargs)  # the engine's helpers: plain functions, no context
        return super().call(context, obj, *args, **kwargs)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Jinja returns an undefined that raises only when printed or called; with a forgiving
        # undefined (missing lead data renders empty) it would pass silently. Refuse at once.
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__!r} "
                            "value is not allowed in templates")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if isinstance(value, types.MethodType | types.BuiltinMethodType) \
                and value.__name__ in ("format", "format_map") \
                and isinstance(getattr(value, "__self__", None), str):
            def refused(*_args: Any, **_kwargs: Any) -> str:
                raise SecurityError("str.format is not available in templates; join values "
                                    "with `~`")

            return refused
        return None
