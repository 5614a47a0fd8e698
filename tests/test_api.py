"""The public API is curated: exactly what `__init__` exports, every module documented."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import flowrx


def _modules() -> list[str]:
    return [
        m.name
        for m in pkgutil.walk_packages(flowrx.__path__, "flowrx.")
        if not m.name.rsplit(".", 1)[-1].startswith("_")
    ]


def test_every_public_module_has_all_and_a_docstring() -> None:
    """Each public module says what it is for and what it exports."""
    for name in ["flowrx", *_modules()]:
        module = importlib.import_module(name)
        assert module.__doc__, name
        assert len(module.__doc__.strip()) > 20, name
        assert isinstance(getattr(module, "__all__", None), list), name


def test_every_name_in_all_exists_and_is_documented() -> None:
    """No dangling export; every exported class and function has a docstring."""
    for name in ["flowrx", *_modules()]:
        module = importlib.import_module(name)
        for export in getattr(module, "__all__", []):
            value = getattr(module, export)
            if inspect.isclass(value) or inspect.isfunction(value):
                assert getattr(value, "__doc__", None), f"{name}.{export}"


def test_the_package_exports_exactly_its_curated_api() -> None:
    """`from flowrx import *` gives the documented entry points, nothing else."""
    assert sorted(flowrx.__all__) == sorted(
        [
            "Change",
            "Config",
            "FlowGraph",
            "FlowState",
            "GraphError",
            "RecordingError",
            "VirtualClock",
            "connect",
            "dump_snapshot",
            "load_graph",
            "parse",
            "read_recording",
            "replay",
        ]
    )
    public = {n for n in vars(flowrx) if not n.startswith("_")}
    submodules = {
        "cli",
        "html",
        "testing",
        "graph",
        "config",
        "concerns",
        "protocols",
        "messages",
        "operators",
        "pipeline",
        "runtime",
        "sinks",
        "streams",
        "logger",
    }
    assert public - submodules - {"annotations"} == set(flowrx.__all__)
