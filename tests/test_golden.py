"""Golden files: flowrx's snapshots and changes on fixed inputs, written before a refactoring.

Each case replays a recording (the examples, and simulated runs with bad frames, duplicates,
heartbeats and eviction) in virtual time and compares, with the file under ``tests/golden/``:
the snapshot at a few moments, the final snapshot, and every visible change with its time.
A refactoring that keeps behaviour keeps these files byte-identical. A deliberate behaviour
change rewrites them with ``FLOWRX_WRITE_GOLDEN=1 python -m pytest tests/test_golden.py``; the
diff of ``tests/golden/`` then shows, and must explain, exactly what changed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from helpers import EXAMPLES

from flowrx import load_graph, read_recording
from flowrx.config import Config
from flowrx.graph import FlowGraph
from flowrx.streams.replay import RecordedFrame
from flowrx.streams.simulate import demo_flow, simulate
from flowrx.testing import run_frames

GOLDEN = Path(__file__).resolve().parent / "golden"


def _jsonable(value: Any) -> Any:
    """A change's value as plain JSON data (attrs records as their fields, sets sorted)."""
    if attrs.has(type(value)):
        return {
            "type": type(value).__name__,
            **{f.name: _jsonable(getattr(value, f.name)) for f in attrs.fields(type(value))},
        }
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted((_jsonable(v) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@attrs.frozen
class Case:
    """One golden input: its frames, graph, config and the moments to snapshot."""

    frames: Callable[[], list[RecordedFrame]]
    graph: Callable[[], FlowGraph | None]
    moments: tuple[float, ...]
    config: Config = Config()


def _example(name: str, *moments: float) -> Case:
    return Case(
        lambda: list(read_recording(EXAMPLES / f"{name}.jsonl").frames),
        lambda: load_graph(EXAMPLES / f"{name}.flow.json"),
        moments,
    )


CASES = {
    "groups-tools-error": _example("groups-tools-error", 0.07, 0.57, 1.0),
    "agent-chat": _example("agent-chat", 0.5, 2.0, 5.0),
    "simulated-noisy": Case(
        lambda: simulate(6, seed=3, bad_frames=0.05, duplicates=0.05, heartbeats=True),
        demo_flow,
        (1.0, 4.0, 9.0),
    ),
    "simulated-evicting": Case(
        lambda: simulate(9, seed=11, duplicates=0.02), demo_flow, (3.0,), Config(max_runs=4)
    ),
    "simulated-no-graph": Case(lambda: simulate(3, seed=5), lambda: None, (2.0,)),
}


def _outcome(case: Case) -> dict[str, Any]:
    harness = run_frames(case.frames(), graph=case.graph(), config=case.config)
    moments = {f"{t:g}": harness.at(t) for t in case.moments}
    final = harness.finish()
    changes = [
        [
            round(t, 6),
            c.concern,
            c.what,
            c.run_id,
            c.node_id,
            _jsonable(c.value),
        ]
        for t, c in harness.changes
    ]
    return {"moments": moments, "final": final, "changes": changes}


def _text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


@pytest.mark.parametrize("name", sorted(CASES))
def test_replay_matches_its_golden_file(name: str) -> None:
    """Snapshots at fixed moments, the final snapshot and every change equal the golden file."""
    got = _text(json.loads(json.dumps(_outcome(CASES[name]), default=str)))
    path = GOLDEN / f"{name}.json"
    if os.environ.get("FLOWRX_WRITE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    want = path.read_text(encoding="utf-8")
    assert got == want, f"{name} differs from {path} (see module docstring)"
