"""One exception type for bad input, so every rule reports the same three facts: file, field, fix."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input a user can fix. The message names the file, the field (if any) and the fix."""

    def __init__(self, path: str | Path | None, problem: str, fix: str | None = None, field: str | None = None):
        self.path = None if path is None else str(path)
        self.problem = problem
        self.fix = fix
        self.field = field
        where = self.path or "<input>"
        if field:
            where += f" (field {field!r})"
        msg = f"{where}: {problem}"
        if fix:
            msg += f". Fix: {fix}"
        super().__init__(msg)

    def __reduce__(self):
        # Rebuilt from its four facts: an error raised in a worker process (the figures job's) reaches the parent
        # as this type, not as a TypeError from re-calling __init__ with the message alone.
        return type(self), (self.path, self.problem, self.fix, self.field)
