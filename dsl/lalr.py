"""A fast driver for the grammar's LALR tables: text -> AST in one pass, with no parse tree.

Lark's own run over a flow file spends most of its time on generic machinery: a ``Token``
object per token, a ``Tree`` per rule, positions propagated through tree metadata, then a
second walk to turn the tree into AST nodes. This driver uses the very same compiled pieces
(the per-state lexer patterns of Lark's contextual lexer, the LALR parse table, the grammar's
rule shapes) and calls ``dsl.transform.Builder`` as each rule is reduced, with the rule's
position computed exactly as ``propagate_positions`` would.

It only handles the happy path. On anything else (a character no pattern takes, a token the
table does not expect, an indentation that matches no block, input nested deeper than
``MAX_STACK``) it raises ``GiveUp``, and the caller runs Lark itself, which produces the error
(and its diagnostic) exactly as before. tests/dsl/test_lalr.py holds the two drivers to the
same trees, spans included, and to the same verdicts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lark import Lark
from lark.indenter import Indenter
from lark.lexer import PatternStr
from lark.parsers.lalr_analysis import Shift

from dsl.transform import Builder, Tok

MAX_STACK = 200  # deeper than any real flow; beyond it Lark's path decides (and may refuse)

Pos = tuple[int, int, int, int]


class GiveUp(Exception):
    """This text is not for the fast path: let Lark parse it."""


@dataclass(frozen=True, slots=True)
class RuleShape:
    """What reducing one grammar rule does: pop ``size`` entries, keep ``keep`` of them (and
    splice the parts of ``splice`` ones, Lark's inlined ``_rules``), then pass a single part on
    (``expand1``: a ``?rule``) or build with ``method`` (None: an inlined rule's part list)."""

    size: int
    origin: str
    keep: tuple[int, ...]
    splice: frozenset[int]
    expand1: bool
    method: str | None
    unit: bool = False  # a `?rule` of one part: reducing it changes nothing but the state
    keep_all: bool = False  # every part kept, none spliced
    build: Callable[[Builder, list[Any], Pos], Any] | None = None


@dataclass(frozen=True, slots=True)
class StateLexer:
    """One parser state's lexer: Lark's compiled alternation, and keywords that the ``NAME``
    pattern also matches (Lark's "unless" rule: a keyword acceptable here wins over a name)."""

    patterns: tuple[Any, ...]
    keywords: dict[str, dict[str, str]]  # terminal -> {text: keyword terminal}
    newline_types: frozenset[str]
    ignore_types: frozenset[str]


class Tables:
    """The driver's view of a Lark LALR parser built with ``lexer="contextual"`` and the
    ``FlowIndenter`` post-lexer; state lexers are prepared on first use, as Lark does."""

    def __init__(self, lark: Lark) -> None:
        opts = lark.options
        if (opts.parser, opts.lexer, opts.maybe_placeholders) != ("lalr", "contextual", False) \
                or not opts.propagate_positions or opts.transformer is not None:
            raise ValueError("the fast driver mirrors an LALR parser with the contextual lexer, "
                             "positions and no placeholders")
        frontend = lark.parser
        table = frontend.parser._parse_table
        self.states: dict[int, dict[str, tuple[Any, Any]]] = table.states
        self._rows: list[dict[str, Any] | None] = [None] * (max(self.states) + 1)
        self.start_state: int = table.start_states["start"]
        self.end_state: int = table.end_states["start"]
        self._contextual = frontend.lexer.lexer
        self._lexers: dict[int, StateLexer] = {}
        self._by_lexer: dict[int, StateLexer] = {}
        postlex = lark.options.postlex
        if not isinstance(postlex, Indenter):
            raise ValueError("the fast driver needs the grammar's indentation post-lexer")
        self.nl_type: str = postlex.NL_type
        self.indent_type: str = postlex.INDENT_type
        self.dedent_type: str = postlex.DEDENT_type
        self.open_types = frozenset(postlex.OPEN_PAREN_types)
        self.close_types = frozenset(postlex.CLOSE_PAREN_types)
        self.tab_len: int = postlex.tab_len
        self.shapes: dict[Any, RuleShape] = {}
        kept: set[str] = set()
        for rule in lark.rules:
            if rule.options.keep_all_tokens:
                raise ValueError(f"rule {rule} keeps all tokens; the fast driver does not")
            keep, splice = [], set()
            for i, sym in enumerate(rule.expansion):
                if sym.is_term and getattr(sym, "filter_out", False):
                    continue
                keep.append(i)
                if sym.is_term:
                    kept.add(sym.name)
                elif sym.name.startswith("_"):
                    splice.add(i)
            origin = rule.origin.name
            name = rule.alias or rule.options.template_source or origin
            method = None if origin.startswith("_") else str(name)
            if method is not None and not hasattr(Builder, method) and not (
                    rule.options.expand1 and not rule.alias):
                raise ValueError(f"no builder for rule {rule}")
            expand1 = bool(rule.options.expand1 and not rule.alias)
            size = len(rule.expansion)
            unit = expand1 and size == 1 and keep == [0] and not splice
            keep_all = keep == list(range(size)) and not splice
            build = getattr(Builder, method, None) if method is not None else None
            self.shapes[rule] = RuleShape(size, origin, tuple(keep), frozenset(splice), expand1,
                                          method, unit, keep_all, build)
        self.kept_types = frozenset(kept)
        self.blanks = _blanks(lark)

    def row(self, state: int) -> dict[str, Any]:
        """A state's actions: terminal or rule name -> the next state (a shift or a goto) or
        the ``RuleShape`` to reduce."""
        row = self._rows[state]
        if row is None:
            row = {}
            for symbol, (action, arg) in self.states[state].items():
                if action is Shift and symbol == "$END":
                    continue  # Lark refuses to shift the end; so does the driver (GiveUp)
                row[symbol] = arg if action is Shift else self.shapes[arg]
            self._rows[state] = row
        return row

    def lexer(self, state: int) -> StateLexer:
        found = self._lexers.get(state)
        if found is None:
            basic = self._contextual.lexers[state]
            found = self._by_lexer.get(id(basic))
            if found is None:
                try:
                    found = _state_lexer(basic)
                except (AttributeError, ValueError) as exc:  # another Lark than we know
                    raise GiveUp(f"state lexer: {exc}") from exc
                self._by_lexer[id(basic)] = found
            self._lexers[state] = found
        return found


BLANKS = "[ \t]+"


def _blanks(lark: Lark) -> re.Pattern[str] | None:
    """The pattern of a run of spaces and tabs, when the grammar ignores exactly such runs and
    no other terminal starts with a space or a tab (tried on a few texts; the grammar's are
    names, numbers, texts, keywords and newlines): then the driver skips the runs without
    asking the state's lexer (a third of all matches), as the lexer would."""
    ignored = set(lark.lexer_conf.ignore)
    for term in lark.terminals:
        regexp = term.pattern.to_regexp()
        if term.name in ignored:
            if regexp not in (BLANKS, f"(?:{BLANKS})"):
                return None
        elif any(re.match(regexp, blank + tail) for blank in " \t"
                 for tail in ("", "x", "1", '"', "#", "\n", " ", "\t")):
            return None
    return re.compile(BLANKS)


def _state_lexer(basic: Any) -> StateLexer:
    scanner = basic.scanner  # built by Lark on first use, with its callbacks
    keywords: dict[str, dict[str, str]] = {}
    for type_, callback in basic.callback.items():
        words = getattr(getattr(callback, "scanner", None), "terminals", None)
        if words is None:
            raise ValueError(f"unexpected lexer callback for {type_}")
        table: dict[str, str] = {}
        for term in words:
            if not isinstance(term.pattern, PatternStr) or term.pattern.flags:
                raise ValueError(f"keyword {term.name} is not a plain text")
            table.setdefault(term.pattern.value, term.name)
        keywords[type_] = table
    return StateLexer(tuple(scanner._mres), keywords, frozenset(basic.newline_types),
                      frozenset(basic.ignore_types))


def parse(tables: Tables, text: str, builder: Builder) -> Any:
    """The value of the ``start`` rule for ``text``, or ``GiveUp``.

    One loop, written for speed: the post-lexer (indentation) and the parser are inlined, and
    a rule that only passes its one part on costs a goto and nothing else."""
    rows = tables._rows
    make_row = tables.row
    lexers = tables._lexers
    make_lexer = tables.lexer
    kept_types = tables.kept_types
    nl_type, indent_type, dedent_type = tables.nl_type, tables.indent_type, tables.dedent_type
    open_types, close_types = tables.open_types, tables.close_types
    tab_len = tables.tab_len
    end_state = tables.end_state
    stack: list[int] = [tables.start_state]
    values: list[Any] = []
    places: list[Pos | None] = []

    def feed(ttype: str, value: Any, place: Pos | None) -> Any:
        """Shift one token, after the reductions it completes (for ``$END``: until the start
        rule is complete, whose value is returned)."""
        while True:
            row = rows[stack[-1]] or make_row(stack[-1])
            action = row.get(ttype)
            if action is None:
                raise GiveUp(ttype)
            if action.__class__ is int:  # a shift (never of `$END`: see Tables.row)
                stack.append(action)
                values.append(value)
                places.append(place)
                if len(stack) > MAX_STACK:
                    raise GiveUp("nested too deeply")
                return None
            shape: RuleShape = action
            if shape.unit:  # `?rule: part`: the part goes on as it is, in place and value
                stack.pop()
                goto = (rows[stack[-1]] or make_row(stack[-1])).get(shape.origin)
                if goto is None:
                    raise GiveUp(shape.origin)
                stack.append(goto)
                continue
            size = shape.size
            made: Pos | None = None
            if size:
                first, final = places[-size], places[-1]
                if first is None or final is None:
                    found = [w for w in places[-size:] if w is not None]
                    first, final = (found[0], found[-1]) if found else (None, None)
                if first is not None and final is not None:
                    made = (first[0], first[1], final[2], final[3])
                base = len(values) - size
                if shape.keep_all:
                    parts = values[base:]
                elif shape.splice:
                    parts = []
                    for i in shape.keep:
                        if i in shape.splice:
                            parts.extend(values[base + i])
                        else:
                            parts.append(values[base + i])
                else:
                    parts = [values[base + i] for i in shape.keep]
                del stack[base + 1:], values[base:], places[base:]
            else:
                parts = []
            if shape.expand1 and len(parts) == 1:
                result = parts[0]
                if result.__class__ is Tok:  # a token passed on keeps its own place
                    made = (result.line, result.column, result.end_line, result.end_column)
            elif shape.build is not None:
                result = shape.build(builder, parts, made if made is not None else (0, 0, 0, 0))
            elif shape.method is None:
                result = parts  # an inlined rule: its parent splices these
            else:  # a `?rule` with several parts and no builder: Lark would keep a tree
                raise GiveUp(shape.method)
            goto = (rows[stack[-1]] or make_row(stack[-1])).get(shape.origin)
            if goto is None or goto.__class__ is not int:
                raise GiveUp(shape.origin)
            stack.append(goto)
            values.append(result)
            places.append(made)
            if ttype == "$END" and goto == end_state:
                return result

    indents = [0]
    parens = 0
    pos, line, line_start = 0, 1, 0
    end = len(text)
    last: Pos | None = None  # the last token read (dedents at the end borrow its place)
    blanks = tables.blanks
    while pos < end:
        if blanks is not None and text[pos] in " \t":
            found = blanks.match(text, pos)
            if found is not None:
                pos = found.end()
                if pos >= end:
                    break
        state = stack[-1]
        lexer = lexers.get(state) or make_lexer(state)
        match = None
        for pattern in lexer.patterns:
            match = pattern.match(text, pos)
            if match is not None:
                break
        if match is None:
            raise GiveUp("no token")
        ttype = match.lastgroup
        value = match.group()
        words = lexer.keywords.get(ttype)  # type: ignore[arg-type]
        if words is not None:
            ttype = words.get(value, ttype)
        start_line, start_col = line, pos - line_start + 1
        pos += len(value)
        if ttype in lexer.newline_types and "\n" in value:
            line += value.count("\n")
            line_start = pos - len(value) + value.rindex("\n") + 1
        if ttype in lexer.ignore_types:
            continue
        place = (start_line, start_col, line, pos - line_start + 1)
        last = place
        if ttype == nl_type:
            if parens > 0:
                continue
            feed(nl_type, None, place)
            nl = value.rfind("\n")
            if nl < 0:
                raise GiveUp("a newline token without a newline")
            spaces = value[nl + 1:]
            indent = spaces.count(" ") + spaces.count("\t") * tab_len
            if indent > indents[-1]:
                indents.append(indent)
                feed(indent_type, None, place)
            else:
                while indent < indents[-1]:
                    indents.pop()
                    feed(dedent_type, None, place)
                if indent != indents[-1]:
                    raise GiveUp("dedent")
            continue
        if ttype in kept_types:
            feed(ttype, Tok(ttype, value, *place), place)  # type: ignore[arg-type]
        else:
            feed(ttype, None, place)  # type: ignore[arg-type]
        if ttype in open_types:
            parens += 1
        elif ttype in close_types:
            parens -= 1
            if parens < 0:
                raise GiveUp("parenthesis")
    while len(indents) > 1:
        indents.pop()
        feed(dedent_type, None, last if last is not None else (0, 0, 0, 0))
    return feed("$END", None, None)
