"""Importing a large library without the parts of it this project never calls.

Presidio and Great Expectations import, at their own import time, optional dependencies that the way they are used
here never touches (torch behind Presidio's NLP engines, SQLAlchemy behind GX's SQL datasources, SciPy's statistics
behind one GX expectation). Two guards keep those out of one import, and only out of that one:

- `unavailable(names)`: the packages cannot be imported by this thread while the guard holds, so the library takes
  the path it takes where they are not installed (each library here supports that: `except ImportError`);
- `on_first_use(names)`: each module is a stand-in that imports the real one on its first attribute read.

Both leave `sys.modules` and `sys.meta_path` as they found them: afterwards `import torch` or `import scipy.stats`
works as usual, in any thread. A package already imported is left alone (nothing to save).

Two more make costly steps of an import cheaper: `slot_by_slot_deepcopy(classes)` (GX's import deep-copies
thousands of pydantic v1 fields, one per field of every model subclass it defines) gives the same copies faster;
`patched_while_importing(module, patch)` changes one module of a package for the rest of that package's import only
(Presidio's recognizer modules check each of their ~170 patterns by compiling it, and then drop the compiled form).
"""

from __future__ import annotations

import copy
import copyreg
import importlib
import sys
import threading
import types
from collections.abc import Callable, Iterable, Iterator
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


def _copies_slot_by_slot(cls: type) -> bool:
    """Whether `copy.deepcopy` copies a `cls` instance through the generic reduce path by its slots alone: its
    instances have no `__dict__` (`__dictoffset__` 0), and it has no copy, pickle or construction hook but `object`'s."""
    hooks = ("__deepcopy__", "__reduce__", "__reduce_ex__", "__getstate__", "__setstate__", "__new__", "__setattr__")
    return cls.__dictoffset__ == 0 and all(getattr(cls, hook, None) is getattr(object, hook, None) for hook in hooks)


def _slotwise_deepcopy(cls: type):
    names = tuple(copyreg._slotnames(cls))  # what `object.__getstate__` and `copy` read: every slot, mangled names too
    atomic, dispatch, deepcopy, new = copy._deepcopy_atomic, copy._deepcopy_dispatch, copy.deepcopy, object.__new__

    def __deepcopy__(self, memo):
        twin = new(cls)
        memo[id(self)] = twin  # as `copy._reconstruct` does, before the state: a cycle back to `self` finds it
        for name in names:
            try:
                value = getattr(self, name)
            except AttributeError:  # an unset slot stays unset
                continue
            kind = type(value)
            setattr(twin, name, value if dispatch.get(kind) is atomic or issubclass(kind, type)
                    else deepcopy(value, memo))
        return twin

    return __deepcopy__


@contextmanager
def slot_by_slot_deepcopy(classes: Iterable[type]) -> Iterator[None]:
    """Within the block, `copy.deepcopy` copies an instance of each of `classes` slot by slot, as its generic path
    does (`__reduce_ex__`, then `copy._reconstruct` setting each slot's deep copy) but without building the reduce
    tuple and state dict for every object, and without a `deepcopy` call for a value `copy` keeps as it is (strings,
    numbers, functions, classes). The copies are the same: a new instance, every set slot deep-copied with the same
    memo, so shared and cyclic references come out shared and cyclic as before. A class that is not copied by its
    slots alone (`_copies_slot_by_slot`) is left as it is. Afterwards the classes are as they were; a copy made
    meanwhile in another thread is made the same way, with the same result."""
    patched = {cls: _slotwise_deepcopy(cls) for cls in dict.fromkeys(classes) if _copies_slot_by_slot(cls)}
    for cls, method in patched.items():
        cls.__deepcopy__ = method
    try:
        yield
    finally:
        for cls, method in patched.items():
            if cls.__dict__.get("__deepcopy__") is method:  # not if another block (another thread's) replaced it
                del cls.__deepcopy__


class _ThenPatch:
    """A module loader that runs `then(module)` right after the module's own code."""

    def __init__(self, loader, then: Callable[[types.ModuleType], None]) -> None:
        self.loader, self.then = loader, then

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__loader__ = module.__spec__.loader = self.loader  # the module names its real loader, as usual
        self.loader.exec_module(module)
        self.then(module)


class _PatchOnImport:
    """A meta-path finder that finds one module as the other finders do, with a loader that patches it."""

    def __init__(self, name: str, then: Callable[[types.ModuleType], None], thread: int) -> None:
        self.name, self.then, self.thread = name, then, thread

    def find_spec(self, name, path=None, target=None):
        if name != self.name or threading.get_ident() != self.thread:
            return None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _ThenPatch(spec.loader, self.then)
                    return spec
        return None


@contextmanager
def patched_while_importing(module: str, patch: Callable[[types.ModuleType], Callable[[], None]]) -> Iterator[bool]:
    """Within the block, when this thread imports `module`, `patch(module)` runs right after the module's code and
    returns what undoes it, which runs when the block ends: the rest of the import (the package that imports
    `module`) sees the patched module, and everyone afterwards the module as it is. Yields whether the module was
    still to be imported (False: already imported, nothing is patched)."""
    if module in sys.modules:
        yield False
        return
    undo: list[Callable[[], None]] = []
    finder = _PatchOnImport(module, lambda loaded: undo.append(patch(loaded)), threading.get_ident())
    sys.meta_path.insert(0, finder)
    try:
        yield True
    finally:
        sys.meta_path.remove(finder)
        for step in undo:
            step()
