"""How `make test` hands test files to its parallel workers (pytest-xdist `--dist loadfile`, see conftest.py).

xdist's own loadfile scheduler queues the files by their number of tests, most first, and gives a worker its next
file while the one it runs still has two tests to go. The long-running files have few tests each, so they came last:
the year ran at the end alone on one worker, and one worker could hold two long files back to back. This scheduler
keeps loadfile's unit (a whole file in one worker, so module fixtures are built once) and changes which file a
worker gets next:

- the files marked `long_running` go first, the longest expected first (`long_running(seconds=N)`: their rough
  time in `make test`), one per worker, so they start at once on different workers;
- a worker still busy with a long-running file gets a short file queued behind it, never a second long one (unless
  only long ones are left), so the next long file goes to whichever worker finishes its long file first;
- the short files then fill in around them, in xdist's order.

The controller process collects no tests, so it reads the mark from each file's module-level `pytestmark`
statement (`ast`, no import).
"""

from __future__ import annotations

import ast
from pathlib import Path

from xdist.scheduler import LoadFileScheduling

MARK = "long_running"


def _mark_seconds(node: ast.AST) -> float | None:
    """The expected seconds of a `pytest.mark.long_running` or `pytest.mark.long_running(seconds=N)` expression
    (0 without N); None when the expression holds no such mark. Lists of marks are searched too."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == MARK:
            for keyword in sub.keywords:
                if keyword.arg == "seconds" and isinstance(keyword.value, ast.Constant):
                    return float(keyword.value.value)
            return 0.0
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr == MARK:
            return 0.0
    return None


def long_running_seconds(path: Path) -> float | None:
    """The expected seconds of a test file whose module-level `pytestmark` holds the `long_running` mark, else None."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for statement in tree.body:
        targets = (statement.targets if isinstance(statement, ast.Assign)
                   else [statement.target] if isinstance(statement, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets) and statement.value is not None:
            return _mark_seconds(statement.value)
    return None


class LongFirstFileScheduling(LoadFileScheduling):
    """`--dist loadfile` with the long-running files started first, on different workers (see the module's doc)."""

    def __init__(self, config, log=None) -> None:
        super().__init__(config, log)
        self.rootpath = Path(config.rootpath)
        self._seconds: dict[str, float | None] = {}

    def expected_seconds(self, scope: str) -> float | None:
        """A work unit's (a file's) expected seconds when it is long-running, else None."""
        if scope not in self._seconds:
            self._seconds[scope] = long_running_seconds(self.rootpath / scope)
        return self._seconds[scope]

    def _busy_with_long(self, node) -> bool:
        return any(self.expected_seconds(scope) is not None and not all(tests.values())
                   for scope, tests in self.assigned_work.get(node, {}).items())

    def _next_scope(self, node) -> str:
        long = [scope for scope in self.workqueue if self.expected_seconds(scope) is not None]
        short = [scope for scope in self.workqueue if self.expected_seconds(scope) is None]
        if long and not (short and self._busy_with_long(node)):
            return max(long, key=lambda scope: self.expected_seconds(scope))  # the first of equals on ties
        return short[0] if short else long[0]

    def _assign_work_unit(self, node) -> None:
        """As xdist's, but the unit is the one `_next_scope` picks instead of the queue's first."""
        assert self.workqueue
        scope = self._next_scope(node)
        self.workqueue.move_to_end(scope, last=False)
        super()._assign_work_unit(node)
