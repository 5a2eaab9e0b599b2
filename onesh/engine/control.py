"""Non-local control flow, raised by builtins and caught by the interpreter.

These are not errors: `exit`, `return`, `break` and `continue` unwind the
Python stack to the construct that owns them.
"""

from __future__ import annotations


class ControlFlow(Exception):
    """Base for exit/return/break/continue."""


class ExitShell(ControlFlow):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class ReturnFromFunction(ControlFlow):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class BreakLoop(ControlFlow):
    def __init__(self, levels: int = 1) -> None:
        super().__init__(levels)
        self.levels = levels


class ContinueLoop(ControlFlow):
    def __init__(self, levels: int = 1) -> None:
        super().__init__(levels)
        self.levels = levels
