"""The typed syntax tree: frozen dataclasses, every node with its source span.

This module is the contract between the parser (which builds it), the engine
(which runs it), the REPL (which highlights and completes from it) and the
planner (which turns pipelines into distributed stage graphs).  Keep it free
of behaviour.

Words keep their quoting structure: a `Word` is a sequence of parts, and only
unquoted `Lit` parts are subject to field splitting, globbing and tilde
expansion.  Quote removal is therefore implicit in the tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal as TLiteral

from onesh.parser.errors import Span

# ---------------------------------------------------------------- word parts


@dataclass(frozen=True, slots=True)
class Lit:
    """Unquoted literal text.  Glob characters in it are live."""

    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Escaped:
    """A backslash-escaped character outside quotes (`\\*`): literal, one char."""

    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class SQuoted:
    """'single quoted' — text is the content without quotes."""

    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class AnsiCQuoted:
    """$'ansi c' — text is the decoded content (escapes already applied)."""

    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class DQuoted:
    """"double quoted" — parts are Lit (literal, never split/globbed), Param,
    CmdSub and ArithSub.  Backslash escapes inside are already resolved into Lit."""

    parts: tuple[WordPart, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Tilde:
    """`~` or `~user` at the start of a word (or after `:`/`=` in assignments)."""

    user: str
    span: Span


# Parameter operators, as written after the name inside ${...}:
#   None         $x ${x}
#   "-" ":-" "=" ":=" "?" ":?" "+" ":+"   defaults / assign / error / alternative
#   "%" "%%" "#" "##"                        remove suffix / prefix pattern
#   "/" "//" "/#" "/%"                        substitute (arg = pattern, arg2 = replacement)
#   "^" "^^" "," ",,"                         case modification
#   ":"                                       substring (arg = offset, arg2 = length)
ParamOp = str


@dataclass(frozen=True, slots=True)
class Param:
    """A parameter expansion.

    name: a variable name, a positional number ("1", "10") or a special
    parameter ("@", "*", "#", "?", "-", "$", "!", "0").
    length: `${#x}` (or `${#arr[@]}`).
    index: `${a[i]}` — a word evaluated arithmetically, or `@`/`*` as Lit.
    braced: written as ${...} (for highlighting and lossless printing).
    """

    name: str
    span: Span
    op: ParamOp | None = None
    arg: Word | None = None
    arg2: Word | None = None
    length: bool = False
    index: Word | None = None
    braced: bool = False


@dataclass(frozen=True, slots=True)
class CmdSub:
    """$(...) or `...` — body is a parsed program."""

    body: Program
    span: Span
    backtick: bool = False


@dataclass(frozen=True, slots=True)
class ArithSub:
    """$((...)) — expr is the text as a word (its $-expansions are expanded first,
    then the result is evaluated as an arithmetic expression, like bash)."""

    expr: Word
    span: Span


WordPart = Lit | Escaped | SQuoted | AnsiCQuoted | DQuoted | Tilde | Param | CmdSub | ArithSub


@dataclass(frozen=True, slots=True)
class Word:
    parts: tuple[WordPart, ...]
    span: Span


# ---------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class Assign:
    """NAME=value, NAME+=value, NAME[i]=value, NAME=(a b c)."""

    name: str
    value: Word | None
    span: Span
    append: bool = False
    index: Word | None = None
    array: tuple[Word, ...] | None = None


@dataclass(frozen=True, slots=True)
class HereDoc:
    """Body of a here-document.  When the delimiter was quoted, body is one Lit
    and is not expanded; otherwise it holds Lit/Param/CmdSub/ArithSub parts."""

    body: Word
    delimiter: str
    quoted: bool
    strip_tabs: bool


RedirOp = TLiteral["<", ">", ">>", ">|", "<>", "<&", ">&", "&>", "&>>", "<<", "<<-", "<<<"]


@dataclass(frozen=True, slots=True)
class Redir:
    """fd op target.  fd None means the op's default (0 for input, 1 for output).
    For `<<`/`<<-`, `heredoc` holds the body and `target` is the delimiter word.
    For `>&`/`<&` the target is a word expanding to an fd number or `-`."""

    op: RedirOp
    target: Word
    span: Span
    fd: int | None = None
    heredoc: HereDoc | None = None


@dataclass(frozen=True, slots=True)
class SimpleCommand:
    assigns: tuple[Assign, ...]
    words: tuple[Word, ...]
    redirs: tuple[Redir, ...]
    span: Span
    # Explicit placement pin (`cmd @node`, `cmd @tag=value`); None = scheduler decides.
    pin: str | None = None


@dataclass(frozen=True, slots=True)
class BraceGroup:
    body: CommandList
    span: Span
    redirs: tuple[Redir, ...] = ()


@dataclass(frozen=True, slots=True)
class Subshell:
    body: CommandList
    span: Span
    redirs: tuple[Redir, ...] = ()


@dataclass(frozen=True, slots=True)
class IfClause:
    cond: CommandList
    body: CommandList


@dataclass(frozen=True, slots=True)
class If:
    clauses: tuple[IfClause, ...]  # if + elifs
    else_body: CommandList | None
    span: Span
    redirs: tuple[Redir, ...] = ()


@dataclass(frozen=True, slots=True)
class While:
    cond: CommandList
    body: CommandList
    span: Span
    until: bool = False
    redirs: tuple[Redir, ...] = ()


@dataclass(frozen=True, slots=True)
class For:
    """for NAME [in WORDS]; do BODY; done — words None means "$@"."""

    var: str
    words: tuple[Word, ...] | None
    body: CommandList
    span: Span
    redirs: tuple[Redir, ...] = ()


@dataclass(frozen=True, slots=True)
class ArithFor:
    """for ((init; cond; step)); do BODY; done — each part may be empty (None)."""

    init: Word | None
    cond: Word | None
    step: Word | None
    body: CommandList
    span: Span
    redirs: tuple[Redir, ...] = ()


CaseTerminator = TLiteral[";;", ";&", ";;&"]


@dataclass(frozen=True, slots=True)
class CaseArm:
    patterns: tuple[Word, ...]
    body: CommandList
    span: Span
    terminator: CaseTerminator = ";;"


@dataclass(frozen=True, slots=True)
class Case:
    word: Word
    arms: tuple[CaseArm, ...]
    span: Span
    redirs: tuple[Redir, ...] = ()


@dataclass(frozen=True, slots=True)
class ArithCommand:
    """((expr)) — status 0 if the value is non-zero."""

    expr: Word
    span: Span
    redirs: tuple[Redir, ...] = ()


@dataclass(frozen=True, slots=True)
class CondCommand:
    """[[ ... ]] — words as written; operators (`&&`, `||`, `!`, `(`, `)`, `==`,
    `=~`, `<`, `-f`, ...) arrive as unquoted Lit words.  The right side of
    `==`/`!=` keeps its quoting so quoted parts match literally."""

    words: tuple[Word, ...]
    span: Span
    redirs: tuple[Redir, ...] = ()


@dataclass(frozen=True, slots=True)
class FunctionDef:
    name: str
    body: Command
    span: Span


Command = (
    SimpleCommand
    | BraceGroup
    | Subshell
    | If
    | While
    | For
    | ArithFor
    | Case
    | ArithCommand
    | CondCommand
    | FunctionDef
)


@dataclass(frozen=True, slots=True)
class Pipeline:
    """cmd | cmd |& cmd — `stderr_too[i]` is True when the pipe after
    commands[i] was `|&`.  `negated` for a leading `!`; `timed` for `time`."""

    commands: tuple[Command, ...]
    span: Span
    negated: bool = False
    stderr_too: tuple[bool, ...] = ()
    timed: bool = False


@dataclass(frozen=True, slots=True)
class AndOr:
    """first (&& | ||) p2 (&& | ||) p3 ..., evaluated left to right."""

    first: Pipeline
    rest: tuple[tuple[TLiteral["&&", "||"], Pipeline], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ListItem:
    command: AndOr
    span: Span
    background: bool = False


@dataclass(frozen=True, slots=True)
class CommandList:
    items: tuple[ListItem, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Program:
    body: CommandList
    span: Span
    # Text the program was parsed from (for error carets and `declare -f`).
    source_name: str = field(default="<stdin>", compare=False)


Node = (
    Program
    | CommandList
    | ListItem
    | AndOr
    | Pipeline
    | Command
    | Word
    | WordPart
    | Assign
    | Redir
    | IfClause
    | CaseArm
)
