"""The typed syntax tree: frozen records, every node with its source span.

This module is the contract between the parser (which builds it), the engine
(which runs it), the REPL (which highlights and completes from it) and the
planner (which turns pipelines into distributed stage graphs).  Keep it free
of behaviour.

Words keep their quoting structure: a `Word` is a sequence of parts, and only
unquoted `Lit` parts are subject to field splitting, globbing and tilde
expansion.  Quote removal is therefore implicit in the tree.
"""

from __future__ import annotations

from onesh.errors import Span
from onesh.record import Record, field

# ---------------------------------------------------------------- word parts


class Lit(Record, frozen=True):
    """Unquoted literal text.  Glob characters in it are live."""

    text: str
    span: Span


class Escaped(Record, frozen=True):
    """A backslash-escaped character outside quotes (`\\*`): literal, one char."""

    text: str
    span: Span


class SQuoted(Record, frozen=True):
    """'single quoted' — text is the content without quotes."""

    text: str
    span: Span


class AnsiCQuoted(Record, frozen=True):
    """$'ansi c' — text is the decoded content (escapes already applied)."""

    text: str
    span: Span


class DQuoted(Record, frozen=True):
    """"double quoted" — parts are Lit (literal, never split/globbed), Param,
    CmdSub and ArithSub.  Backslash escapes inside are already resolved into Lit."""

    parts: tuple[WordPart, ...]
    span: Span


class Tilde(Record, frozen=True):
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


class Param(Record, frozen=True):
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


class CmdSub(Record, frozen=True):
    """$(...) or `...` — body is a parsed program."""

    body: Program
    span: Span
    backtick: bool = False


class ArithSub(Record, frozen=True):
    """$((...)) — expr is the text as a word (its $-expansions are expanded first,
    then the result is evaluated as an arithmetic expression, like bash)."""

    expr: Word
    span: Span


class ProcSub(Record, frozen=True):
    """<(...) or >(...): the body runs asynchronously with its stdout (or
    stdin for `>(`) on a pipe; the word becomes the pipe's /dev/fd path."""

    body: Program
    span: Span
    out: bool = False  # >(...)


class ArrayWords(Record, frozen=True):
    """`NAME=(a b c)` as an argument of declare, local, export, readonly or
    typeset: the elements are expanded like an array assignment's (split,
    globbed) and reach the builtin as one argument, `COMPOUND_MARK` then
    the shell-quoted list in parentheses."""

    elements: tuple[Word, ...]
    span: Span


# First character of an argument made from ArrayWords: tells a declaration
# builtin `a=(x y)` (an array) from `a='(x y)'` (a string), as bash does.
COMPOUND_MARK = "\x00"


WordPart = (Lit | Escaped | SQuoted | AnsiCQuoted | DQuoted | Tilde | Param | CmdSub | ArithSub | ProcSub
            | ArrayWords)


class Word(Record, frozen=True):
    parts: tuple[WordPart, ...]
    span: Span


# ---------------------------------------------------------------- commands


class Assign(Record, frozen=True):
    """NAME=value, NAME+=value, NAME[i]=value, NAME=(a b c)."""

    name: str
    value: Word | None
    span: Span
    append: bool = False
    index: Word | None = None
    array: tuple[Word, ...] | None = None


class HereDoc(Record, frozen=True):
    """Body of a here-document.  When the delimiter was quoted, body is one Lit
    and is not expanded; otherwise it holds Lit/Param/CmdSub/ArithSub parts."""

    body: Word
    delimiter: str
    quoted: bool
    strip_tabs: bool


TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from typing import Literal

    RedirOp = Literal["<", ">", ">>", ">|", "<>", "<&", ">&", "&>", "&>>", "<<", "<<-", "<<<"]
    CaseTerminator = Literal[";;", ";&", ";;&"]
    AndOrOp = Literal["&&", "||"]
else:
    RedirOp = CaseTerminator = AndOrOp = str


class Redir(Record, frozen=True):
    """fd op target.  fd None means the op's default (0 for input, 1 for output).
    For `<<`/`<<-`, `heredoc` holds the body and `target` is the delimiter word.
    For `>&`/`<&` the target is a word expanding to an fd number or `-`."""

    op: RedirOp
    target: Word
    span: Span
    fd: int | None = None
    heredoc: HereDoc | None = None


class SimpleCommand(Record, frozen=True):
    assigns: tuple[Assign, ...]
    words: tuple[Word, ...]
    redirs: tuple[Redir, ...]
    span: Span
    # Explicit placement pin (`cmd @node`, `cmd @tag=value`); None = scheduler decides.
    pin: str | None = None


class BraceGroup(Record, frozen=True):
    body: CommandList
    span: Span
    redirs: tuple[Redir, ...] = ()


class Subshell(Record, frozen=True):
    body: CommandList
    span: Span
    redirs: tuple[Redir, ...] = ()


class IfClause(Record, frozen=True):
    cond: CommandList
    body: CommandList


class If(Record, frozen=True):
    clauses: tuple[IfClause, ...]  # if + elifs
    else_body: CommandList | None
    span: Span
    redirs: tuple[Redir, ...] = ()


class While(Record, frozen=True):
    cond: CommandList
    body: CommandList
    span: Span
    until: bool = False
    redirs: tuple[Redir, ...] = ()


class For(Record, frozen=True):
    """for NAME [in WORDS]; do BODY; done — words None means "$@"."""

    var: str
    words: tuple[Word, ...] | None
    body: CommandList
    span: Span
    redirs: tuple[Redir, ...] = ()


class Select(Record, frozen=True):
    """select NAME [in WORDS]; do BODY; done — a numbered menu on stderr,
    a line read from stdin per round; words None means "$@"."""

    var: str
    words: tuple[Word, ...] | None
    body: CommandList
    span: Span
    redirs: tuple[Redir, ...] = ()


class ArithFor(Record, frozen=True):
    """for ((init; cond; step)); do BODY; done — each part may be empty (None)."""

    init: Word | None
    cond: Word | None
    step: Word | None
    body: CommandList
    span: Span
    redirs: tuple[Redir, ...] = ()




class CaseArm(Record, frozen=True):
    patterns: tuple[Word, ...]
    body: CommandList
    span: Span
    terminator: CaseTerminator = ";;"


class Case(Record, frozen=True):
    word: Word
    arms: tuple[CaseArm, ...]
    span: Span
    redirs: tuple[Redir, ...] = ()


class ArithCommand(Record, frozen=True):
    """((expr)) — status 0 if the value is non-zero."""

    expr: Word
    span: Span
    redirs: tuple[Redir, ...] = ()


class CondCommand(Record, frozen=True):
    """[[ ... ]] — words as written; operators (`&&`, `||`, `!`, `(`, `)`, `==`,
    `=~`, `<`, `-f`, ...) arrive as unquoted Lit words.  The right side of
    `==`/`!=` keeps its quoting so quoted parts match literally."""

    words: tuple[Word, ...]
    span: Span
    redirs: tuple[Redir, ...] = ()


class FunctionDef(Record, frozen=True):
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
    | Select
    | ArithFor
    | Case
    | ArithCommand
    | CondCommand
    | FunctionDef
)


class Pipeline(Record, frozen=True):
    """cmd | cmd |& cmd — `stderr_too[i]` is True when the pipe after
    commands[i] was `|&`.  `negated` for a leading `!`; `timed` for `time`."""

    commands: tuple[Command, ...]
    span: Span
    negated: bool = False
    stderr_too: tuple[bool, ...] = ()
    timed: bool = False


class AndOr(Record, frozen=True):
    """first (&& | ||) p2 (&& | ||) p3 ..., evaluated left to right."""

    first: Pipeline
    rest: tuple[tuple[AndOrOp, Pipeline], ...]
    span: Span


class ListItem(Record, frozen=True):
    command: AndOr
    span: Span
    background: bool = False


class CommandList(Record, frozen=True):
    items: tuple[ListItem, ...]
    span: Span


class Program(Record, frozen=True):
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
