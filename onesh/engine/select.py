"""`select NAME in WORDS; do ...; done`: bash's numbered menu.

The menu and the PS3 prompt go to stderr, laid out in columns the way bash
lays them out (COLUMNS wide, 80 by default, column by column, tabs between);
each round reads one line into REPLY with the `read` builtin.  An empty
line shows the menu again; end of input ends the loop with status 1.
"""

from __future__ import annotations

from onesh.engine.compiled import BREAK, CONTINUE, run_body
from onesh.errors import OneshError
from onesh.parser import ast as A

TYPE_CHECKING = False
if TYPE_CHECKING:
    from onesh.engine.interp import Interpreter

_TAB = 8


def menu_text(items: list[str], columns: int) -> str:
    """bash's print_select_list, as text."""
    if not items:
        return "\n"
    n = len(items)
    index_width = len(str(n))
    max_len = max(len(x) for x in items) + index_width + 2 + 2  # ") " and two spaces
    cols = max(1, columns // max_len) if max_len else 1
    rows = n // cols + (n % cols != 0)
    cols = n // rows + (n % rows != 0)
    if rows == 1:
        rows, cols = cols, 1
    first_width = len(str(rows))
    out: list[str] = []
    for row in range(rows):
        ind, pos = row, 0
        line: list[str] = []
        while True:
            width = first_width if pos == 0 else index_width
            entry = f"{ind + 1:>{width}}) {items[ind]}"
            line.append(entry)
            ind += rows
            if ind >= n:
                break
            line.append(_indent(pos + len(entry), pos + max_len))
            pos += max_len
        out.append("".join(line) + "\n")
    return "".join(out)


def _indent(frm: int, to: int) -> str:
    out: list[str] = []
    while frm < to:
        if to // _TAB > frm // _TAB:
            out.append("\t")
            frm += _TAB - frm % _TAB
        else:
            out.append(" ")
            frm += 1
    return "".join(out)


def run_select(interp: Interpreter, cmd: A.Select, body: A.CommandList) -> int:
    """Rounds of menu, answer and body until break or end of input."""
    state = interp.state
    try:
        items = interp.expander.words(cmd.words) if cmd.words is not None else list(state.positional)
    except OneshError as e:
        interp.report(e)
        return 1
    status = 0
    show_menu = True
    code = interp.code(body)
    state.loop_depth += 1
    try:
        while True:
            choice = _ask(interp, items, show_menu)
            if choice is None:
                return 1
            show_menu = False
            state.set(cmd.var, choice)
            r = run_body(code)
            if r == BREAK:
                return 0
            if r != CONTINUE:
                status = r
    finally:
        state.loop_depth -= 1
    return status


def _ask(interp: Interpreter, items: list[str], show_menu: bool) -> str | None:
    """One round: menu (when due), prompt, a line.  The chosen word, "" for
    an answer that is not a number of the menu, None at end of input."""
    state = interp.state
    columns = state.get("COLUMNS") or ""
    width = int(columns) if columns.isdigit() and int(columns) > 0 else 80
    while True:
        if show_menu:
            interp.write_err(menu_text(items, width))
        ps3 = state.get("PS3")
        interp.write_err("#? " if ps3 is None else ps3)
        if interp.run_builtin("read", ["read"]) != 0:
            interp.write_out("\n")  # bash ends the prompt's line on stdout
            return None
        reply = state.get("REPLY")
        if reply is None:
            return None
        if reply == "":
            show_menu = True
            continue
        text = reply.strip()
        if not text.isdigit() or not 1 <= int(text) <= len(items):
            return ""
        return items[int(text) - 1]
