"""Importing a large library without the parts of it this project never calls.

Presidio and Great Expectations import, at their own import time, optional dependencies that the way they are used
here never touches (torch behind Presidio's NLP engines, SQLAlchemy behind GX's SQL datasources, SciPy's statistics
behind one GX expectation). Two guards keep those out of one import, and only out of that one:

- `unavailable(names)`: the packages cannot be imported by this thread while the guard holds, so the library takes
  the path it takes where they are not installed (each library here supports that: `except ImportError`);
- `on_first_use(names)`: each module is a stand-in that imports the real one on its first attribute read.

Both leave `sys.modules` and `sys.meta_path` as they found them: afterwards `import torch` or `import scipy.stats`
works as usual, in any thread. A package already imported is left alone (nothing to save).
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class _Unavailable:
    """A meta-path finder that makes the named top-level packages unimportable from one thread."""

    def __init__(self, names: set[str], thread: int) -> None:
        self.names, self.thread = names, thread

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names and threading.get_ident() == self.thread:
            raise ImportError(f"{name} is left out of this import")
        return None


@contextmanager
def unavailable(names: Iterable[str]) -> Iterator[set[str]]:
    """Within the block, this thread cannot import the top-level packages `names` that no one has imported yet
    (another thread imports them as usual); yields the set it blocked."""
    blocked = {name for name in names if name not in sys.modules}
    if not blocked:
        yield blocked
        return
    finder = _Unavailable(blocked, threading.get_ident())
    sys.meta_path.insert(0, finder)
    try:
        yield blocked
    finally:
        sys.meta_path.remove(finder)


class _ModuleOnFirstUse(types.ModuleType):
    """Stands for a module during an import; the first attribute read imports the real one and answers from it."""

    def __getattr__(self, name: str):
        _drop_stand_in(self)
        return getattr(importlib.import_module(self.__name__), name)


def _drop_stand_in(stand_in: types.ModuleType) -> None:
    """Take `stand_in` out of `sys.modules` and off its parent package, where it still is."""
    module = stand_in.__name__
    if sys.modules.get(module) is stand_in:
        del sys.modules[module]
    parent_name, _, attribute = module.rpartition(".")
    parent = sys.modules.get(parent_name) if parent_name else None
    if parent is not None and parent.__dict__.get(attribute) is stand_in:
        delattr(parent, attribute)


@contextmanager
def on_first_use(names: Iterable[str]) -> Iterator[None]:
    """Within the block, each module of `names` not imported yet is a stand-in (also as its parent package's
    attribute, which `from scipy import stats` reads) that imports the real module when an attribute is read.
    The stand-ins leave `sys.modules` and their parents at the end; a module imported before stays imported."""
    stand_ins = [_ModuleOnFirstUse(name) for name in names if name not in sys.modules]
    for stand_in in stand_ins:
        sys.modules[stand_in.__name__] = stand_in
        parent, _, attribute = stand_in.__name__.rpartition(".")
        if parent:
            setattr(importlib.import_module(parent), attribute, stand_in)
    try:
        yield
    finally:
        for stand_in in stand_ins:
            _drop_stand_in(stand_in)

