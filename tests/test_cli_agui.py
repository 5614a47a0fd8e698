"""``flowrx agui`` against a real AG-UI endpoint: pydantic-ai with its offline FunctionModel,
served by uvicorn on 127.0.0.1 (``tests/agui_server.py``), driven through the CLI's ``main``."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agui_server import AguiServer
from helpers import cli

from flowrx import read_recording
from flowrx.cli import main
from flowrx.testing import run_frames

PATIENCE = 300.0


@pytest.fixture(scope="module")
def server() -> Iterator[AguiServer]:
    """One real pydantic-ai AG-UI server for the module's tests."""
    with AguiServer(patience=PATIENCE) as served:
        yield served


def _agui(server: AguiServer, scenario: str, tmp_path: Path, *extra: str) -> tuple[int, Any]:
    """Run ``flowrx agui`` on a scenario with --plain; the exit code and the snapshot."""
    snap = tmp_path / f"{scenario}.json"
    out = io.StringIO()
    code = main(
        [
            "agui",
            server.endpoint(scenario),
            "--prompt",
            "hello",
            "--plain",
            "--snapshot",
            str(snap),
            *extra,
        ],
        out,
    )
    return code, json.loads(snap.read_text(encoding="utf-8")) if snap.exists() else None


def test_a_tool_run_ends_success_with_the_tools_result_in_the_chat(
    server: AguiServer, tmp_path: Path
) -> None:
    """The tool scenario: one run, success, the call with its arguments and result."""
    code, snap = _agui(server, "tool", tmp_path)
    assert code == 0
    assert snap["protocol"] == "agui"
    (run,) = snap["lifecycle"]["runs"].values()
    assert run["status"] == "success"
    (messages,) = snap["chat"].values()
    calls = [call for message in messages for call in message["tools"]]
    assert [c["name"] for c in calls] == ["get_weather"]
    assert calls[0]["result"]
    assert snap["surface"] == {}
    assert snap["lifecycle"]["editor_locked"] is False


def test_an_approval_answered_by_on_interrupt_approve_is_one_run_resumed_once(
    server: AguiServer, tmp_path: Path
) -> None:
    """``--on-interrupt approve``: the interrupt is answered with a resume run on the same
    thread; one flowrx run, ``resumes: 1``, success, nothing pending, the tool's result shown."""
    code, snap = _agui(server, "approval", tmp_path, "--on-interrupt", "approve")
    assert code == 0
    runs = snap["lifecycle"]["runs"]
    assert len(runs) == 1
    (run,) = runs.values()
    assert (run["status"], run["resumes"]) == ("success", 1)
    assert snap["interaction"] == {"pending": [], "resolved": 1}
    calls = [c for m in next(iter(snap["chat"].values())) for c in m["tools"]]
    assert calls[0]["name"] == "delete_file"
    assert calls[0]["result"]


def test_an_approval_left_to_stop_ends_paused_with_the_interrupt_pending(
    server: AguiServer, tmp_path: Path
) -> None:
    """The default ``--on-interrupt stop``: the run ends paused, the interrupt pending, the
    editor unlocked, exit 0."""
    code, snap = _agui(server, "approval", tmp_path)
    assert code == 0
    (run,) = snap["lifecycle"]["runs"].values()
    assert run["status"] == "paused"
    (item,) = snap["interaction"]["pending"]
    assert item["kind"] == "pause"
    assert snap["lifecycle"]["editor_locked"] is False


def test_a_rejected_approval_still_resumes_the_same_run(server: AguiServer, tmp_path: Path) -> None:
    """``--on-interrupt reject`` answers ``approved: false``: the run resumes and ends."""
    code, snap = _agui(server, "approval", tmp_path, "--on-interrupt", "reject")
    assert code == 0
    (run,) = snap["lifecycle"]["runs"].values()
    assert run["resumes"] == 1
    assert run["status"] in ("success", "error")
    assert snap["interaction"]["pending"] == []


def test_an_error_mid_text_ends_the_run_in_error(server: AguiServer, tmp_path: Path) -> None:
    """The model raising after some text: the run ends ``error`` with the text so far."""
    code, snap = _agui(server, "error", tmp_path)
    assert code == 0
    (run,) = snap["lifecycle"]["runs"].values()
    assert run["status"] == "error"
    (messages,) = snap["chat"].values()
    assert messages[0]["text"]


def test_a_recorded_conversation_replays_to_the_same_state(
    server: AguiServer, tmp_path: Path
) -> None:
    """``--record``: the file says ``protocol: agui`` and replays to the same sections."""
    record = tmp_path / "approval.jsonl"
    code, live = _agui(
        server, "approval", tmp_path, "--on-interrupt", "approve", "--record", str(record)
    )
    assert code == 0
    recording = read_recording(record)
    assert recording.header is not None
    assert recording.header["protocol"] == "agui"
    replayed = run_frames(recording.frames, protocol="agui").finish()
    for section in ("lifecycle", "chat", "interaction", "store", "surface"):
        if section == "lifecycle":
            strip = lambda doc: {  # noqa: E731
                rid: {k: v for k, v in r.items() if k not in ("started_at", "ended_at")}
                for rid, r in doc["runs"].items()
            }
            assert strip(replayed[section]) == strip(live[section])
        else:
            assert replayed[section] == live[section], section


def test_a_missing_endpoint_is_one_line_and_exit_2(server: AguiServer, tmp_path: Path) -> None:
    """An HTTP 404 from the server: one line naming it, exit 2, no traceback."""
    code, _, err = cli("agui", server.endpoint("nowhere"), "--prompt", "hi", "--plain")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "404" in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["agui", "ftp://x", "--prompt", "hi"], "http"),
        (["agui", "http://127.0.0.1:1/x", "--prompt", "hi", "--state", "{nope"], "not JSON"),
        (["agui", "http://127.0.0.1:1/x", "--prompt", "hi", "--header", "nocolon"], "Name: value"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(argv: list[str], needle: str) -> None:
    """A bad URL, state or header: one line on stderr, exit 2."""
    code, _, err = cli(*argv)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err
