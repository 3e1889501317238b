"""The import guards: a package left out of one import, in one thread, for that import only; a stand-in that
becomes the real module on first use. Packages written here, in a temporary folder, so no test
imports them first. Slot-by-slot deep copies: the same copies as `copy`'s generic path, on classes written here and
on every pydantic v1 field Great Expectations defines. A module patched for the rest of its package's import only,
and Presidio imported so, in a fresh interpreter."""

from __future__ import annotations

import copy
import copyreg
import importlib
import re
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

from datapilot_pipeline.lib.import_guards import on_first_use, patched_while_importing, slot_by_slot_deepcopy, unavailable


@pytest.fixture
def packages(tmp_path: Path, monkeypatch):
    """Two packages on `sys.path`: `extra_<n>` (with a submodule) and `lib_<n>`, which imports the extra when it
    can, as a library with an optional dependency does (`except ImportError`)."""
    suffix = tmp_path.name.replace("-", "_")
    extra, lib = f"extra_{suffix}", f"lib_{suffix}"
    (tmp_path / extra).mkdir()
    (tmp_path / extra / "__init__.py").write_text("VALUE = 7\n")
    (tmp_path / extra / "part.py").write_text("WHAT = 'part'\n")
    (tmp_path / f"{lib}.py").write_text(
        f"try:\n    import {extra}.part as found\nexcept ImportError:\n    found = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield extra, lib
    for name in [m for m in sys.modules if m.split(".")[0] in (extra, lib)]:
        del sys.modules[name]


def test_a_package_left_out_of_an_import_is_importable_after_it(packages) -> None:
    extra, lib = packages
    with unavailable([extra]) as blocked:
        assert blocked == {extra}
        module = importlib.import_module(lib)
        with pytest.raises(ImportError):
            importlib.import_module(extra)
    assert module.found is None  # the library took its path for a missing package
    assert extra not in sys.modules and f"{extra}.part" not in sys.modules
    assert importlib.import_module(f"{extra}.part").WHAT == "part"
    assert sys.modules[extra].VALUE == 7


def test_another_thread_imports_the_package_while_the_guard_holds(packages) -> None:
    extra, _ = packages
    got = []
    with unavailable([extra]):
        worker = threading.Thread(target=lambda: got.append(importlib.import_module(extra).VALUE))
        worker.start()
        worker.join()
    assert got == [7]


def test_a_package_already_imported_is_left_alone(packages) -> None:
    extra, lib = packages
    importlib.import_module(f"{extra}.part")
    finders = list(sys.meta_path)
    with unavailable([extra]) as blocked:
        assert blocked == set() and sys.meta_path == finders
        assert importlib.import_module(lib).found.WHAT == "part"


def test_the_guard_is_removed_when_the_import_fails(packages) -> None:
    extra, _ = packages
    finders = list(sys.meta_path)
    with pytest.raises(RuntimeError):
        with unavailable([extra]):
            raise RuntimeError("the import failed")
    assert sys.meta_path == finders
    assert importlib.import_module(extra).VALUE == 7


def test_a_stand_in_imports_the_real_module_on_first_use(packages) -> None:
    extra, _ = packages
    with on_first_use([f"{extra}.part"]):
        stand_in = sys.modules[f"{extra}.part"]
        assert getattr(sys.modules[extra], "part") is stand_in  # what `from extra import part` reads
        assert "WHAT" not in vars(stand_in)
    assert f"{extra}.part" not in sys.modules and "part" not in vars(sys.modules[extra])
    assert stand_in.WHAT == "part"  # a holder of the stand-in gets the real module's attribute
    assert sys.modules[f"{extra}.part"].__file__.endswith("part.py")



class _Base:
    __slots__ = ("a", "b")


class _Leaf(_Base):
    __slots__ = ("c", "__hidden")  # a mangled name (`_Leaf__hidden`) and a slot left unset in some instances

    def __init__(self, a, b, c=None, hidden=None) -> None:
        self.a, self.b = a, b
        if c is not None:
            self.c = c
        if hidden is not None:
            self.__hidden = hidden


class _WithDict:
    def __init__(self) -> None:
        self.x = [1]


class _OwnReduce(_Base):
    __slots__ = ()

    def __reduce__(self):
        return (_OwnReduce, ())


_ATOMS = (str, int, float, bool, type(None))


def _shape(obj, seen: dict | None = None):
    """A copy's structure: types, slot names and values, with each mutable object replaced by the place it was
    first met, so two structures are equal when their sharing and cycles are too. Functions and classes by identity
    (a deep copy keeps them), other objects (typing forms, which both ways rebuild alike) by their repr."""
    seen = {} if seen is None else seen
    kind = type(obj)
    if kind in _ATOMS:
        return ("atom", obj)
    if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return ("same", id(obj))
    if id(obj) in seen:
        return ("seen", seen[id(obj)])
    seen[id(obj)] = len(seen)
    if kind is dict:
        return ("dict", tuple((_shape(k, seen), _shape(v, seen)) for k, v in obj.items()))
    if kind in (list, tuple):
        return (kind.__name__, tuple(_shape(v, seen) for v in obj))
    names = copyreg._slotnames(kind)
    if names:
        return (kind.__qualname__, tuple((n, _shape(getattr(obj, n), seen)) for n in names if hasattr(obj, n)))
    return (kind.__qualname__, re.sub(r" at 0x[0-9a-f]+", "", repr(obj)))


def _objects() -> list:
    shared = [1, 2, {"k": "v"}]
    cyclic = _Leaf("x", shared)
    cyclic.c = cyclic
    return [cyclic, _Leaf(len, shared, c={"nested": _Leaf(1.5, None, hidden=[shared])}, hidden=_Base),
            _Leaf("unset", shared), {"again": shared}]


def test_slot_by_slot_copies_are_the_generic_copies(monkeypatch) -> None:
    generic_calls = []
    real_reconstruct = copy._reconstruct

    def counted(x, *args, **kwargs):
        generic_calls.append(type(x))
        return real_reconstruct(x, *args, **kwargs)

    monkeypatch.setattr(copy, "_reconstruct", counted)
    objects = _objects()
    generic = copy.deepcopy(objects)
    assert _Leaf in generic_calls  # the generic path copied them
    generic_calls.clear()
    with slot_by_slot_deepcopy([_Leaf, _Base]):
        fast = copy.deepcopy(objects)
    assert _Leaf not in generic_calls and _Base not in generic_calls  # the slot-by-slot path copied them
    assert _shape(fast) == _shape(generic) == _shape(objects)
    assert fast[0] is not objects[0] and fast[0].c is fast[0]  # a new object, its cycle kept
    assert fast[1].b is fast[2].b is fast[3]["again"] and fast[1].b is not objects[1].b  # shared once, and copied
    assert not hasattr(fast[2], "c") and "__deepcopy__" not in _Leaf.__dict__  # unset stays unset; class restored


def test_a_block_inside_another_leaves_the_outer_copy_in_place() -> None:
    """Two imports at once (two threads) nest their blocks: the inner one finds the class patched and leaves it."""
    with slot_by_slot_deepcopy([_Leaf]):
        outer = _Leaf.__dict__["__deepcopy__"]
        with slot_by_slot_deepcopy([_Leaf]):
            assert _Leaf.__dict__["__deepcopy__"] is outer
        assert _Leaf.__dict__["__deepcopy__"] is outer
        assert _shape(copy.deepcopy(_objects())) == _shape(_objects())
    assert "__deepcopy__" not in _Leaf.__dict__


def test_a_class_not_copied_by_its_slots_alone_is_left_as_it_is() -> None:
    with slot_by_slot_deepcopy([_WithDict, _OwnReduce, dict]):
        assert all("__deepcopy__" not in cls.__dict__ for cls in (_WithDict, _OwnReduce, dict))
        copied = copy.deepcopy(_WithDict())
    assert copied.x == [1]


def test_great_expectations_pydantic_fields_copy_the_same_slot_by_slot() -> None:
    """Every field of every pydantic v1 model GX defines (what its import deep-copies), copied both ways."""
    from datapilot_pipeline.lib.validation.gx_suite import _pydantic_v1_field_classes, preload

    preload()
    import pydantic.v1 as pydantic_v1

    models, todo = [], [pydantic_v1.BaseModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            models.append(sub)
            todo.append(sub)
    fields = [model.__fields__ for model in models if model.__module__.startswith(("great_expectations", "pydantic"))]
    assert sum(len(f) for f in fields) > 1000  # GX's own models were found
    generic = copy.deepcopy(fields)
    with slot_by_slot_deepcopy(_pydantic_v1_field_classes()):
        fast = copy.deepcopy(fields)
    assert _shape(fast) == _shape(generic)


@pytest.fixture
def checked_package(tmp_path: Path, monkeypatch):
    """`pkg_<n>`, whose `__init__` imports `pkg_<n>.rules` and builds rules with it at import time, as Presidio's
    recognizer modules build `Pattern`s; each rule is checked (`rules.check`) as it is built."""
    name = f"pkg_{tmp_path.name.replace('-', '_')}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "rules.py").write_text(
        "checked = []\n"
        "def check(text):\n    checked.append(text)\n"
        "class Rule:\n    def __init__(self, text):\n        check(text)\n        self.text = text\n")
    (tmp_path / name / "__init__.py").write_text(f"from {name}.rules import Rule\nBUILT = [Rule('a'), Rule('b')]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in [m for m in sys.modules if m.split(".")[0] == name]:
        del sys.modules[module]


def _skip_checks(rules_module):
    real = rules_module.check
    rules_module.check = lambda text: None

    def undo() -> None:
        rules_module.check = real

    return undo


def test_a_module_is_patched_for_the_rest_of_its_package_import_only(checked_package) -> None:
    with patched_while_importing(f"{checked_package}.rules", _skip_checks) as pending:
        assert pending
        package = importlib.import_module(checked_package)
        assert [r.text for r in package.BUILT] == ["a", "b"]
    rules = sys.modules[f"{checked_package}.rules"]
    assert rules.checked == []  # the package's own rules were built unchecked
    rules.Rule("c")
    assert rules.checked == ["c"]  # and a rule built afterwards is checked
    assert type(rules.__loader__).__name__ == "SourceFileLoader" and rules.__spec__.loader is rules.__loader__
    assert not any(type(f).__name__ == "_PatchOnImport" for f in sys.meta_path)


def test_a_module_already_imported_is_not_patched(checked_package) -> None:
    importlib.import_module(checked_package)
    with patched_while_importing(f"{checked_package}.rules", _skip_checks) as pending:
        assert not pending
    assert sys.modules[f"{checked_package}.rules"].checked == ["a", "b"]


def test_another_thread_imports_the_module_unpatched(checked_package) -> None:
    with patched_while_importing(f"{checked_package}.rules", _skip_checks):
        thread = threading.Thread(target=importlib.import_module, args=(checked_package,))
        thread.start()
        thread.join()
    assert sys.modules[f"{checked_package}.rules"].checked == ["a", "b"]


def test_presidio_is_imported_without_checking_its_patterns_and_checks_them_afterwards() -> None:
    """In a fresh interpreter: Presidio's own patterns are not compiled while it is imported (each recognizer compiles
    them when it first analyzes), the analyzer finds what it finds, and a `Pattern` built afterwards is checked."""
    script = """
import sys, regex
calls = []
real = regex.compile
def counted(*args, **kwargs):
    calls.append(sys._getframe(1).f_code.co_filename)
    return real(*args, **kwargs)
regex.compile = counted
from datapilot_pipeline.lib.pii import get_analyzer, mask_text
get_analyzer()
print(sum(f.endswith("presidio_analyzer/pattern.py") for f in calls))
print(mask_text("Mail jane.doe@example.com or call +1 415 555 2671; card 4111 1111 1111 1111, ip 10.1.2.3"))
from presidio_analyzer import Pattern
try:
    Pattern("bad", "(", 0.5)
except ValueError:
    print("checked")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split("\n")
    plain = subprocess.run([sys.executable, "-c", script.replace("from datapilot_pipeline.lib.pii import get_analyzer, "
                                                                 "mask_text\nget_analyzer()", "import presidio_analyzer")],
                           capture_output=True, text=True).stdout.split("\n")
    assert int(plain[0]) > 150  # a plain import compiles every pattern of Presidio's recognizer modules
    assert int(out[0]) <= 10  # only the project's own patterns, built after the import (`build_recognizers`)
    assert out[1] == "Mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>; card <CREDIT_CARD>, ip <IP_ADDRESS>"
    assert out[2] == "checked"
