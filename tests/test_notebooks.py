"""Notebooks, the HTML view and the Jupyter live view.

Every notebook in ``notebooks/`` runs top to bottom in a real Jupyter kernel (nbclient) and is
stored with cleared outputs; the HTML view escapes everything untrusted and puts the editor's
glow classes on the right node elements; ``Snapshot`` is still the plain document; the live
view follows the state; and the core never needs ipywidgets.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pytest
from helpers import ROOT
from nbclient import NotebookClient

import flowrx
from flowrx.graph import FlowGraph, graph_from_mapping
from flowrx.sinks import jupyter
from flowrx.sinks.html_view import STYLE, render_html
from flowrx.sinks.jupyter import MISSING_EXTRA, LiveView
from flowrx.sinks.snapshot import Snapshot, dump_snapshot
from flowrx.sinks.state import FlowState

NOTEBOOKS = ROOT / "notebooks"
EXPECTED = [
    "01-quickstart",
    "02-marbles",
    "03-isolation",
    "04-live",
    "05-embedding",
    "06-agui",
    "07-agno-workflow",
]
RUN = "0e000000-0000-4000-8000-000000000001"
PLAY = "a0000000-0000-4000-8000-000000000001"
GROUP = "a0000000-0000-4000-8000-00000000000a"
IN_GROUP = "a0000000-0000-4000-8000-000000000003"
TOOL = "a0000000-0000-4000-8000-000000000006"
SCRIPT = "<script>alert(1)</script>"


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _connected(
    examples: Path, faults: dict[str, float] | None = None
) -> tuple[flowrx.VirtualClock, FlowState]:
    """A pipeline over the groups-tools-error recording; nothing has run yet."""
    clock = flowrx.VirtualClock()
    recording = flowrx.read_recording(examples / "groups-tools-error.jsonl")
    graph = flowrx.load_graph(examples / "groups-tools-error.flow.json")
    state, _ = flowrx.connect(
        flowrx.replay(recording.frames, clock), scheduler=clock, graph=graph, faults=faults
    )
    return clock, state


def _replayed(
    examples: Path, until: float | None, faults: dict[str, float] | None = None
) -> tuple[flowrx.VirtualClock, FlowState]:
    """The same, run up to ``until`` (None: to the end)."""
    clock, state = _connected(examples, faults)
    clock.run(until=until)
    return clock, state


class _Elements(HTMLParser):
    """Every element's tag, attributes and enclosing elements' node ids (for node rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.rows: dict[str, list[str]] = {}
        self.parents: dict[str, list[str]] = {}
        self.tags: list[str] = []
        self._li_rows: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attributes = dict(attrs)
        node = attributes.get("data-node-id")
        if node is not None:
            self.rows[node] = (attributes.get("class") or "").split()
            self.parents[node] = [n for n in self._li_rows[:-1] if n is not None]
            if self._li_rows:
                self._li_rows[-1] = node
        if tag == "li":
            self._li_rows.append(None)
        if tag not in ("br",):
            self.stack.append((tag, attributes))

    def handle_endtag(self, tag: str) -> None:
        if tag == "li" and self._li_rows:
            self._li_rows.pop()
        while self.stack:
            if self.stack.pop()[0] == tag:
                break


def _elements(text: str) -> _Elements:
    parser = _Elements()
    parser.feed(text)
    parser.close()
    return parser


def _doc(**sections: Any) -> dict[str, Any]:
    """A minimal snapshot document with the given sections."""
    doc: dict[str, Any] = {
        "schema": "flowrx/snapshot/1",
        "clock": 1.0,
        "surface": {},
        "store": {},
        "lifecycle": {"editor_locked": False, "active_run_id": None, "runs": {}},
        "chat": {},
        "interaction": {"pending": [], "resolved": 0},
        "diagnostics": {"frames": 0, "failed": {}, "health": {}},
    }
    doc.update(sections)
    return doc


# --- notebooks -------------------------------------------------------------------------------


def test_the_notebooks_folder_holds_exactly_the_listed_notebooks() -> None:
    """quickstart, marbles, isolation, live, embedding, agui and agno-workflow, nothing else."""
    assert [p.stem for p in _notebooks()] == EXPECTED


def _execute(nb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``nb`` in a fresh kernel started in notebooks/, importing this checkout's flowrx
    (not whichever one is installed: the kernel's path starts with notebooks/, not the root)."""
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    client = NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()  # raises CellExecutionError naming the cell and the traceback


def test_the_notebook_kernel_imports_this_checkouts_flowrx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The kernel the notebooks run in imports the flowrx under test."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import flowrx\nprint(flowrx.__file__)")]
    _execute(nb, monkeypatch)
    assert nb.cells[0].outputs[0]["text"].strip() == flowrx.__file__


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_the_notebook_runs_top_to_bottom_in_a_fresh_kernel(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every cell runs without an error in a real Jupyter kernel started in notebooks/."""
    nb = nbformat.read(path, as_version=4)
    _execute(nb, monkeypatch)
    errors = [o for c in nb.cells for o in c.get("outputs", ()) if o.output_type == "error"]
    assert errors == []


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_the_notebook_is_stored_with_cleared_outputs(path: Path) -> None:
    """No stored outputs and no execution counts, so diffs show only the code."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert [(c.outputs, c.execution_count) for c in code] == [([], None)] * len(code)


# --- render_html -----------------------------------------------------------------------------


def test_render_html_escapes_script_in_ids_names_and_chat_text() -> None:
    """A <script> in a node id, a handle, a run id or chat text is shown as text, never run."""
    graph = graph_from_mapping({"flow_id": SCRIPT, "nodes": [{"id": SCRIPT, "handle": SCRIPT}]})
    doc = _doc(
        surface={SCRIPT: ["executing"]},
        store={
            SCRIPT: [{"id": "x", "node_id": SCRIPT, "order": 0, "status": SCRIPT, "handle": SCRIPT}]
        },
        lifecycle={
            "editor_locked": True,
            "active_run_id": SCRIPT,
            "runs": {SCRIPT: {"status": SCRIPT, "started_at": 0.0, "ended_at": None}},
        },
        chat={
            SCRIPT: [
                {
                    "node_id": SCRIPT,
                    "name": SCRIPT,
                    "speaker": "agent",
                    "kind": "content",
                    "text": SCRIPT,
                    "closed": True,
                    "tools": [{"name": SCRIPT, "args": {"q": SCRIPT}, "result": SCRIPT}],
                }
            ]
        },
        interaction={"pending": [{"id": SCRIPT, "kind": "other", "detail": {"m": SCRIPT}}]},
    )
    text = render_html(doc, graph, title=SCRIPT)
    assert "<script" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "script" not in _elements(text).tags


def test_render_html_keeps_sanitised_chat_html_and_sanitises_it_again() -> None:
    """An html item's formatting is inserted as markup; a script or handler is removed."""
    item = {
        "node_id": "n",
        "name": "html",
        "speaker": "agent",
        "kind": "html",
        "closed": True,
        "text": '<b onclick="x()">bold</b><a href="javascript:alert(1)">l</a>' + SCRIPT,
    }
    text = render_html(_doc(chat={"r": [item]}), FlowGraph.empty())
    assert "<b>bold</b>" in text
    assert "onclick" not in text
    assert "javascript:" not in text
    assert "<script" not in text


def test_render_html_puts_the_surface_classes_on_each_node_row(examples: Path) -> None:
    """Each node row carries exactly fx-node plus that node's surface classes, at 0.07 and 0.3 s."""
    for until in (0.07, 0.3, 0.57):
        _, state = _replayed(examples, until)
        doc = state.snapshot()
        rows = _elements(render_html(doc, state.graph)).rows
        assert set(rows) == set(state.graph.nodes), until
        for node, classes in rows.items():
            assert classes == ["fx-node", *doc["surface"].get(node, [])], (until, node)


def test_render_html_shows_the_editor_glow_classes_in_the_recording(examples: Path) -> None:
    """executing at 0.07, executing-tool on the tool, executed-success and executed-error later."""
    _, state = _replayed(examples, 0.3)
    rows = _elements(render_html(state.snapshot(), state.graph)).rows
    assert "executing" in rows[PLAY]
    assert "executing-tool" in rows[TOOL]
    _, state = _replayed(examples, 0.65)
    rows = _elements(render_html(state.snapshot(), state.graph)).rows
    assert "executed-success" in rows[PLAY]
    assert "executed-error" in rows["a0000000-0000-4000-8000-000000000008"]


def test_render_html_nests_group_members_under_their_group(examples: Path) -> None:
    """in_group's row sits in the list inside my_group's item; play is at the top level."""
    _, state = _replayed(examples, 0.1)
    parents = _elements(render_html(state.snapshot(), state.graph)).parents
    assert parents[IN_GROUP] == [GROUP]
    assert parents[PLAY] == []
    assert parents[GROUP] == []


def test_render_html_shows_badges_runs_and_the_editor_lock(examples: Path) -> None:
    """#order+1 badges with their status, the run's status, active and the editor lock."""
    _, state = _replayed(examples, 0.07)
    text = render_html(state.snapshot(), state.graph)
    assert "#1 success" in text
    assert "#2 executing" in text
    assert f'data-run-id="{RUN}"' in text
    assert "fx-locked fx-editor" in text
    _, state = _replayed(examples, None)
    text = render_html(state.snapshot(), state.graph)
    assert "fx-unlocked fx-editor" in text
    assert '<span class="fx-st-error">error</span>' in text


def test_render_html_shows_degraded_concerns_and_failures_in_red(examples: Path) -> None:
    """A concern whose every event fails is named as degraded, with its failure count in red."""
    _, state = _replayed(examples, None, faults={"visual": 1.0})
    text = render_html(state.snapshot(), state.graph)
    failed = state.snapshot()["diagnostics"]["failed"]["visual"]
    assert '<span class="degraded">degraded: visual</span>' in text
    assert f'<span class="fx-bad">{failed}</span>' in text
    _, clean = _replayed(examples, None)
    assert "degraded" not in render_html(clean.snapshot(), clean.graph).replace(".degraded", "")


def test_render_html_keeps_class_names_that_are_not_identifiers_off_the_element() -> None:
    """A surface class with quotes or spaces is shown as text, never added as attributes."""
    bad = 'x" onmouseover="alert(1)'
    text = render_html(_doc(surface={"n": ["executing", bad]}), FlowGraph.empty())
    assert _elements(text).rows["n"] == ["fx-node", "executing"]
    assert 'onmouseover="' not in text


def test_render_html_without_a_graph_lists_the_snapshots_nodes_flat() -> None:
    """With an empty graph every node the store or surface names is a top-level row."""
    store = {"r": [{"id": "a-0", "node_id": "a", "order": 0, "status": "success", "handle": "h"}]}
    rows = _elements(
        render_html(_doc(store=store, surface={"b": ["executing"]}), FlowGraph.empty())
    )
    assert rows.rows == {"a": ["fx-node"], "b": ["fx-node", "executing"]}
    assert rows.parents == {"a": [], "b": []}


def test_every_style_rule_is_scoped_under_the_view_root() -> None:
    """The <style> block never restyles the page around the view."""
    rules = [r.split("{")[0].strip() for r in STYLE.split("}") if "{" in r]
    selectors = [s.strip() for r in rules for s in r.split(",") if s.strip()]
    outside = [
        s for s in selectors if not s.startswith((".flowrx-view", "@keyframes", "0%", "50%"))
    ]
    assert outside == []


def test_render_html_is_pure(examples: Path) -> None:
    """The same snapshot and graph give the same HTML."""
    _, state = _replayed(examples, 0.3)
    doc = state.snapshot()
    assert render_html(doc, state.graph) == render_html(copy.deepcopy(dict(doc)), state.graph)


# --- Snapshot and FlowState ------------------------------------------------------------------


def test_a_snapshot_equals_the_plain_document_and_serialises_like_it(examples: Path) -> None:
    """Snapshot is a dict: equal, the same JSON, the same dump_snapshot, no extra key."""
    _, state = _replayed(examples, 0.3)
    snap = state.snapshot()
    plain = dict(snap)
    assert isinstance(snap, Snapshot)
    assert snap == plain
    assert json.dumps(snap, sort_keys=True) == json.dumps(plain, sort_keys=True)
    assert json.loads(json.dumps(snap)) == snap
    assert dump_snapshot(snap) == dump_snapshot(plain)
    assert "graph" not in snap
    assert snap.graph is state.graph


def test_a_snapshot_copies_and_pickles(examples: Path) -> None:
    """Copies keep the graph; a pickle round-trips the document."""
    _, state = _replayed(examples, 0.3)
    snap = state.snapshot()
    deep = copy.deepcopy(snap)
    assert deep == snap
    assert deep.graph is state.graph
    assert deep["store"] is not snap["store"]
    assert copy.copy(snap).graph is state.graph
    assert pickle.loads(pickle.dumps(snap)) == snap


def test_a_snapshot_renders_as_the_html_view(examples: Path) -> None:
    """Snapshot._repr_html_ is render_html of the document with its graph."""
    _, state = _replayed(examples, 0.3)
    snap = state.snapshot()
    assert snap._repr_html_() == render_html(snap, state.graph)
    bare = Snapshot(dict(snap))
    assert set(_elements(bare._repr_html_()).rows) == set(snap["surface"]) | {
        e["node_id"] for e in snap["store"][RUN]
    }


def test_flowstate_renders_its_current_snapshot_as_html(examples: Path) -> None:
    """FlowState._repr_html_ draws the state now, and follows the clock."""
    clock, state = _replayed(examples, 0.07)
    assert state._repr_html_() == render_html(state.snapshot(), state.graph)
    assert "executing" in _elements(state._repr_html_()).rows[PLAY]
    clock.run(until=0.57)
    assert "executed-success" in _elements(state._repr_html_()).rows[PLAY]


# --- LiveView --------------------------------------------------------------------------------


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """A settable stand-in for the view's wall clock (time.monotonic); starts at 100 s."""
    now = [100.0]
    monkeypatch.setattr(jupyter, "monotonic", lambda: now[0])

    def advance(seconds: float) -> None:
        now[0] += seconds

    return advance


def test_the_live_view_redraws_its_widget_when_the_state_changes(
    examples: Path, wall: Callable[[float], None]
) -> None:
    """With no throttle, every change redraws the widget from the state then."""
    clock, state = _connected(examples)
    view = LiveView(state, title="live", refresh=0.0)
    assert "no runs yet" in view.widget.value
    drawn: list[str] = []
    state.changes.subscribe(lambda _: drawn.append(view.widget.value))
    clock.run(until=0.07)
    assert len(drawn) == view.renders - 1 > 0
    assert drawn[-1] == render_html(state.snapshot(), state.graph, title="live")
    assert "executing" in _elements(view.widget.value).rows[PLAY]


def test_the_live_view_renders_at_most_once_per_refresh(
    examples: Path, wall: Callable[[float], None]
) -> None:
    """Changes inside the refresh window only mark it stale; update() draws at once."""
    clock, state = _connected(examples)
    view = LiveView(state, refresh=0.25)
    clock.run(until=0.07)  # many changes, no wall time passed
    assert view.renders == 1
    wall(0.3)
    clock.run(until=0.1)
    assert view.renders == 2
    before = view.widget.value
    clock.run(until=0.3)  # more changes in the same wall instant: not drawn yet
    assert view.widget.value == before
    view.update()
    assert view.widget.value == render_html(state.snapshot(), state.graph)


def test_the_live_view_with_a_scheduler_draws_a_stale_change_by_itself(
    examples: Path, wall: Callable[[float], None]
) -> None:
    """With the pipeline's scheduler, a throttled change is drawn once the window has passed."""
    clock, state = _connected(examples)
    view = LiveView(state, refresh=0.25, scheduler=clock)
    clock.run(until=0.07)
    assert view.renders == 1
    clock.run(until=0.07 + 0.25)  # the trailing render is due 0.25 s after the first change
    assert view.renders == 2
    assert "executing" in _elements(view.widget.value).rows[PLAY]


def test_closing_the_live_view_draws_once_more_and_stops_following(
    examples: Path, wall: Callable[[float], None]
) -> None:
    """close() draws the latest state, unsubscribes, and is safe to call twice."""
    clock, state = _connected(examples)
    view = LiveView(state)
    clock.run(until=0.07)
    view.close()
    assert view.closed
    drawn, renders = view.widget.value, view.renders
    assert drawn == render_html(state.snapshot(), state.graph)
    wall(10.0)
    clock.run()
    view.close()
    assert (view.widget.value, view.renders) == (drawn, renders)


def test_the_live_view_displays_as_its_widget(examples: Path) -> None:
    """Jupyter gets the widget's own mime bundle (a widget view), and .widget is an HTML."""
    import ipywidgets

    _, state = _connected(examples)
    view = LiveView(state)
    assert isinstance(view.widget, ipywidgets.HTML)
    bundle = view._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == view.widget.model_id


def test_a_view_that_fails_to_render_shows_the_error_and_spares_the_pipeline(
    examples: Path, wall: Callable[[float], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in rendering becomes a red line in the widget; no concern counts a failure."""
    clock, state = _connected(examples)
    view = LiveView(state)

    def broken(*_: object, **__: object) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(jupyter, "render_html", broken)
    wall(1.0)
    clock.run()
    assert "view failed to render" in view.widget.value
    assert "boom" in view.widget.value
    assert sum(state.failed.values()) == 0


def test_the_live_view_without_ipywidgets_names_the_extra(
    examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ipywidgets missing, creating a view raises ImportError with the pip command."""
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    _, state = _connected(examples)
    with pytest.raises(ImportError, match=r"pip install 'flowrx\[jupyter\]'") as caught:
        LiveView(state)
    assert str(caught.value) == MISSING_EXTRA


def test_the_core_imports_and_runs_without_ipywidgets() -> None:
    """import flowrx, the views and the CLI work with ipywidgets blocked; it is never imported."""
    code = (
        "import sys\n"
        "sys.modules['ipywidgets'] = None\n"
        "import flowrx, flowrx.cli, flowrx.testing, flowrx.sinks.html_view, flowrx.sinks.jupyter\n"
        "from flowrx.testing import exec_frame, run_marbles\n"
        "t = run_marbles('s', {'s': exec_frame('start_node', 'n1', 0)})\n"
        "t.clock.run(until=0.1)\n"
        "assert 'fx-node executing' in t.state._repr_html_()\n"
        "try:\n"
        "    flowrx.sinks.jupyter.LiveView(t.state)\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == MISSING_EXTRA


def test_importing_flowrx_does_not_load_ipywidgets() -> None:
    """Even when ipywidgets is installed, the core and the views leave it unloaded."""
    code = (
        "import sys, flowrx, flowrx.cli, flowrx.sinks.jupyter, flowrx.sinks.html_view\n"
        "print('ipywidgets' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_html_view_shows_each_runs_shared_state_escaped_and_nothing_without_one() -> None:
    """An AG-UI run's state is drawn as JSON, markup in it escaped; a platform snapshot (its
    state section is empty) draws no State section."""
    doc = {
        "schema": "flowrx/snapshot/1",
        "state": {"r1": {"items": ["milk"], "note": SCRIPT}},
        "lifecycle": {"runs": {"r1": {"status": "success"}}},
    }
    page = render_html(doc, FlowGraph.empty())
    assert "<h4>State</h4>" in page
    assert "&quot;milk&quot;" in page
    assert SCRIPT not in page
    assert "&lt;script&gt;" in page
    assert "<h4>State</h4>" not in render_html({**doc, "state": {}}, FlowGraph.empty())
