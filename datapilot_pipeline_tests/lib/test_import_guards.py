"""The import guards: a package left out of one import, in one thread, for that import only; a stand-in that
becomes the real module on first use. Packages written here, in a temporary folder, so no test
imports them first."""

from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path

import pytest

from datapilot_pipeline.lib.import_guards import on_first_use, unavailable


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

