"""The ``flowrx`` command line: the only module that parses arguments or prints for a person.

* ``flowrx replay FILE [--graph FLOW] [--speed X | --instant] [--snapshot [PATH]] [--at T]
  [--fault CONCERN[:RATE]]`` plays a recording through the full pipeline. In virtual time
  (``--instant``, or ``--at``) nothing waits; with ``--speed`` it plays in real time on asyncio.
  Without ``--snapshot`` it prints one line per visible change.
* ``flowrx demo`` runs the built-in simulator (made run by run as it plays, so it shows at
  once) through the full pipeline into a live terminal view (``--plain``: one line per
  change), with no setup and no network.
* ``flowrx watch URL`` does the same against a live endpoint (``--record FILE`` besides); the
  token goes in ``?token=`` as the platform reads it (``--token-in-header`` for a header).
* ``flowrx record URL -o FILE`` writes ``recording/1`` until interrupted or ``--seconds N``.
* ``flowrx agno URL --workflow ID --message TEXT [--token KEY]`` runs a workflow (``--agent``,
  ``--team``) on an Agno AgentOS and shows it live from Agno's own events (SSE; ``--ws``: a
  workflow over AgentOS's WebSocket, resumed after a dropped connection), the graph derived from
  the workflow's served definition; a paused run (a workflow's, an agent's or a team's) is
  answered and continued by ``--on-pause approve|reject`` (confirmations, reviews, the first
  route), ``--route NAME`` (a route selection), ``--input FIELD=VALUE`` (a person's input) and
  ``--tool-result TEXT`` (a tool the caller runs); ``--background`` runs it detached on AgentOS
  and resumes its stream by ``event_index`` if the connection drops; ``--plain``,
  ``--snapshot``, ``--record`` as ``watch`` has them. A refused key, an unknown workflow, a
  failed request, an ``--input`` its field cannot take or a ``--route`` the router does not
  offer: one line, exit 2. A pause the flags do not answer: one line saying what the run waits
  for and which flag answers it, the run left paused; exit 3 when the flags asked to answer
  pauses, 0 with ``--on-pause stop`` (the default) alone.
* ``flowrx serve`` is a stand-in platform server on 127.0.0.1 playing the simulator or a
  recording; its first line of output is the URL to connect to (``--write-graph PATH`` writes
  the simulated flow's graph for ``watch --graph``).

How it ends, the same in every command: 0 done; 2 a user mistake (bad arguments, a missing
file, a bad graph, a malformed URL, a refused token or a wrong flow id), one line, never a
traceback; 1 it did not work (never connected, cannot write), one line; 3 (``agno``) a run
paused for an answer the flags did not give, one line; 130 on Ctrl-C (143 on SIGTERM), one
line, the snapshot still written. Connection trouble is reported once, by the
CLI (the view's health line, ``--plain`` status lines, ``record``'s lines on stderr), one line
per attempt. Everything printed from the wire (ids, handles, text, close reasons, log
messages) has its control characters escaped. :func:`main` changes no process-wide setting;
the console entry point :func:`run` does (SIGPIPE, loguru's default handler).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import signal
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NoReturn, TextIO

import attrs
from loguru import logger
from reactivex.scheduler.eventloop import AsyncIOScheduler

from flowrx import __version__
from flowrx.concerns.chat import MessageSummary
from flowrx.concerns.effects import Change
from flowrx.config import Config
from flowrx.graph import FlowGraph, GraphError, load_graph
from flowrx.messages import parse
from flowrx.operators.clock import VirtualClock
from flowrx.pipeline import connect, default_concerns
from flowrx.protocols import PROTOCOLS, detect_protocol
from flowrx.protocols.agno import transcript_frames, workflow_graph
from flowrx.runtime import periodic_collection
from flowrx.sinks._view import cut, escape_controls, html_text
from flowrx.sinks.snapshot import dump_snapshot
from flowrx.streams.record import Recorder
from flowrx.streams.replay import (
    RecordedFrame,
    Recording,
    RecordingError,
    read_recording,
    replay,
)
from flowrx.streams.serve import PlatformServer
from flowrx.streams.websocket import (
    ConnectionStatus,
    WebSocketOptions,
    WebSocketSource,
    check_url,
    redact,
    status_line,
)

__all__ = ["main"]


class UsageError(Exception):
    """A user mistake: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _fault(text: str) -> tuple[str, float]:
    name, _, rate_text = text.partition(":")
    names = [c.name for c in default_concerns(FlowGraph.empty(), Config())]
    if name not in names:
        raise argparse.ArgumentTypeError(f"no concern {name!r} (choose from {', '.join(names)})")
    try:
        rate = float(rate_text) if rate_text else 1.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"fault rate {rate_text!r} is not a number") from None
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"fault rate {rate} must be within 0..1")
    return name, rate


def _number(text: str, *, allow_zero: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0 or (value == 0 and not allow_zero):
        need = "must not be negative" if allow_zero else "must be positive"
        raise argparse.ArgumentTypeError(f"{text!r} {need}")
    return value


def _positive(text: str) -> float:
    return _number(text, allow_zero=False)


def _non_negative(text: str) -> float:
    return _number(text, allow_zero=True)


_DESCRIPTION = """\
Watch a flow editor's runs as they happen: which nodes run, their order badges, each run's
outcome, tool calls, group status, the chat and pending approvals. flowrx reads the
platform's execution WebSocket, a recording, or its built-in simulator."""

_EPILOG = """\
examples:
  flowrx demo                          the simulator in a live view (Ctrl-C to stop)
  flowrx demo --runs 3 --plain         one line per change; ends after three runs
  flowrx watch wss://HOST/ws/v1/execution/FLOW_ID --token "$JWT" --graph flow.json
  flowrx record wss://HOST/ws/v1/execution/FLOW_ID --token "$JWT" -o run.jsonl
  flowrx replay run.jsonl --graph flow.json --instant --snapshot

Run `flowrx COMMAND --help` for a command's options. Exit codes: 0 done, 1 it did not work
(never connected, cannot write), 2 a mistake in the command or its files, 130 Ctrl-C."""

_LOG_LEVELS = ["TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
_LOG_HELP = (
    "how much flowrx logs on stderr: WARNING (default) shows failures, each concern's first "
    "traceback per error type; DEBUG shows every traceback"
)


def _log_level(p: argparse.ArgumentParser, default: Any) -> None:
    p.add_argument(
        "--log-level", default=default, choices=_LOG_LEVELS, metavar="LEVEL", help=_LOG_HELP
    )


def _command(sub: Any, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    """A subcommand, taking --log-level after its name too."""
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _log_level(p, argparse.SUPPRESS)  # the top level's value unless given here
    return p


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(
        prog="flowrx",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"flowrx {__version__}")
    _log_level(parser, "WARNING")
    sub = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="COMMAND", title="commands"
    )
    _add_live_commands(sub)
    rp = _command(
        sub,
        "replay",
        "play a recording (from `flowrx record`, or JSON Lines of frames)",
        "Play a recording through flowrx. Without --snapshot it prints one line per visible "
        "change.\n--instant and --at run in virtual time: nothing waits, every timer still "
        "fires at its\nrecorded moment.",
    )
    rp.add_argument(
        "file",
        help="the recording (flowrx/recording/1, or one JSON frame a line; or an AgentOS SSE "
        "body or WebSocket transcript)",
    )
    rp.add_argument(
        "--graph",
        metavar="FLOW",
        help="the flow's graph (flowrx/flow/1 or the editor's export, or an Agno workflow "
        "definition): names instead of ids",
    )
    timing = rp.add_mutually_exclusive_group()
    timing.add_argument(
        "--speed", type=_positive, metavar="X", help="play in real time, X times as fast"
    )
    timing.add_argument(
        "--instant", action="store_true", help="play at once, in virtual time (same timings)"
    )
    rp.add_argument(
        "--snapshot",
        nargs="?",
        const="-",
        metavar="PATH",
        help="write the final state as JSON (flowrx/snapshot/1) to PATH, or to stdout",
    )
    rp.add_argument(
        "--protocol",
        choices=sorted(PROTOCOLS),
        help="the recording's wire format (default: the header's, else detected from the "
        "first frame: an AG-UI event is agui, Agno's own event agno, anything else platform)",
    )
    rp.add_argument(
        "--at",
        type=_non_negative,
        metavar="T",
        help="print the state at T seconds into the recording (virtual time)",
    )
    rp.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="CONCERN[:RATE]",
        help="make one concern fail on a fraction of its events (default all) to see that "
        "the others carry on",
    )
    return parser


def _common_live(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=_count, metavar="N", help="stop after N runs have ended")
    _session_options(p)


def _session_options(p: argparse.ArgumentParser) -> None:
    """What every live command takes: --seconds, --plain, --fault, --snapshot."""
    p.add_argument("--seconds", type=_positive, metavar="N", help="stop after N seconds")
    p.add_argument(
        "--plain", action="store_true", help="print one line per change instead of the live view"
    )
    p.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="CONCERN[:RATE]",
        help="make one concern fail on a fraction of its events (default all) to see that "
        "the others carry on",
    )
    p.add_argument(
        "--snapshot", metavar="PATH", help="write the final state as JSON to PATH at the end"
    )


def _connection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "url",
        help="the execution WebSocket: ws(s)://HOST/ws/v1/execution/FLOW_ID (a ?token= in it "
        "works too)",
    )
    p.add_argument(
        "--token", help="the access token (a JWT), sent as ?token= as the platform reads it"
    )
    p.add_argument(
        "--token-in-header",
        action="store_true",
        help="send the token in an Authorization: Bearer header instead (servers that take one)",
    )
    p.add_argument("--token-in-query", action="store_true", help=argparse.SUPPRESS)  # old default
    p.add_argument(
        "--heartbeat",
        type=_positive,
        metavar="S",
        help="send the platform's ping every S seconds; reconnect if no pong comes within 5 s",
    )
    p.add_argument(
        "--max-frame",
        type=_count,
        default=16 * 1024 * 1024,
        metavar="BYTES",
        help="the largest frame accepted (default 16 MiB); a larger one makes it reconnect",
    )


_RECONNECTS = (
    "If the server cannot be reached it retries, waiting longer each time (up to 30 s), "
    "with one\nstatus line per attempt. A refused token (HTTP 401/403), a wrong path or flow "
    "id (404) or\na bad URL stop it at once (exit 2); ending without ever having connected "
    "exits 1."
)


def _add_live_commands(sub: Any) -> None:
    demo = _command(
        sub,
        "demo",
        "the built-in simulator in the live view: try flowrx with no server",
        "Run the built-in simulator (a flow with nested groups, an agent with tools, a team, a\n"
        "paused run, a failing node and a killed branch) through flowrx, live. It runs until\n"
        "Ctrl-C, --runs or --seconds.",
    )
    _common_live(demo)
    demo.add_argument(
        "--speed", type=_positive, default=1.0, metavar="X", help="play X times as fast"
    )
    demo.add_argument("--seed", type=int, default=0, help="the simulator's seed (default 0)")
    demo.add_argument(
        "--bad-frames",
        type=_fraction,
        default=0.0,
        metavar="F",
        help="mix in this fraction of bad frames (0..1) to see them rejected and counted",
    )
    demo.add_argument(
        "--duplicates",
        type=_fraction,
        default=0.0,
        metavar="F",
        help="repeat this fraction of frames (0..1) to see them dropped",
    )

    watch = _command(
        sub,
        "watch",
        "a live flow: the platform's execution WebSocket in the live view",
        "Connect to a flow's execution WebSocket and show its runs live.\n\n" + _RECONNECTS,
    )
    _connection_options(watch)
    _common_live(watch)
    watch.add_argument(
        "--graph",
        metavar="FLOW",
        help="the flow's graph (flowrx/flow/1 or the editor's export): names and groups",
    )
    watch.add_argument(
        "--record", metavar="FILE", help="also record what arrives to FILE (for flowrx replay)"
    )

    record = _command(
        sub,
        "record",
        "save a live flow's frames to a file for flowrx replay",
        "Record a flow's execution WebSocket to a file (flowrx/recording/1: each frame's exact\n"
        "text and time) until Ctrl-C or --seconds. The token is never written.\n\n" + _RECONNECTS,
    )
    _connection_options(record)
    record.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write")
    record.add_argument("--seconds", type=_positive, metavar="N", help="stop after N seconds")
    record.add_argument("--note", default="", help="a note for the file's header")

    agui = _command(
        sub,
        "agui",
        "one turn with an AG-UI agent (pydantic-ai, Agno, LangGraph, ...) in the live view",
        "POST a RunAgentInput with your prompt to an AG-UI endpoint and show the run live:\n"
        "steps, tools, chat, state and interrupts. --on-interrupt approve|reject answers\n"
        "interrupts (a resume run on the same thread, the same flowrx run); stop (the default)\n"
        "ends with them pending. It ends when the agent is done.",
    )
    agui.add_argument("url", help="the AG-UI endpoint: http(s)://HOST/PATH")
    agui.add_argument("--prompt", required=True, help="the user's message")
    agui.add_argument("--thread", help="the thread id (default: a new one)")
    agui.add_argument(
        "--state", type=_json_value, metavar="JSON", help="the shared state to start with"
    )
    agui.add_argument(
        "--header",
        type=_header,
        action="append",
        default=[],
        metavar="'K: V'",
        help="an HTTP header to send (repeatable), e.g. 'Authorization: Bearer …'",
    )
    agui.add_argument(
        "--on-interrupt",
        choices=("approve", "reject", "stop"),
        default="stop",
        help="answer interrupts: approve, reject, or stop with them pending (default)",
    )
    agui.add_argument(
        "--record", metavar="FILE", help="also record the events to FILE (for flowrx replay)"
    )
    _session_options(agui)

    agno = _command(
        sub,
        "agno",
        "one run on an Agno AgentOS (a workflow, agent or team) in the live view",
        "POST your message to an AgentOS run endpoint (/workflows/ID/runs, or /agents/...,\n"
        "/teams/...) and show the run live from Agno's own events: steps and containers as\n"
        "nodes and groups, agents and teams chatting, tools, pauses. For a workflow the graph\n"
        "comes from its definition (GET /workflows/ID) unless --graph gives one. Pauses (a\n"
        "workflow's, an agent's or a team's) are answered and the run continued: confirmations\n"
        "by --on-pause approve|reject, a route by --route NAME, a person's input by\n"
        "--input FIELD=VALUE, a tool the caller runs by --tool-result TEXT; or left pending\n"
        "(stop, the default). It ends when\n"
        "the run is done or paused; a pause the flags do not answer is one line on stderr\n"
        "(exit 3 when asked to answer pauses, 0 with --on-pause stop). --background runs it\n"
        "in AgentOS's background and resumes its stream by event_index if the connection drops.\n"
        "With --ws a workflow runs over AgentOS's WebSocket (/workflows/ws) instead of SSE, and\n"
        "a dropped connection is resumed where it broke.",
    )
    agno.add_argument("url", help="the AgentOS: http(s)://HOST[:PORT] (its root)")
    target = agno.add_mutually_exclusive_group(required=True)
    target.add_argument("--workflow", metavar="ID", help="run the workflow ID")
    target.add_argument("--agent", metavar="ID", help="run the agent ID")
    target.add_argument("--team", metavar="ID", help="run the team ID")
    agno.add_argument("--message", required=True, help="the message to run with")
    agno.add_argument(
        "--on-pause",
        choices=("approve", "reject", "stop"),
        default="stop",
        help="pauses: approve (confirm, take the first route offered) or reject (refuse) and "
        "continue the run, or stop with them pending (default)",
    )
    agno.add_argument(
        "--input",
        type=_field_value,
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a value a pause asks a person for (repeatable): a step's or a tool's user-input "
        "field, typed by the field (int, float, bool, list, dict: VALUE is JSON)",
    )
    agno.add_argument(
        "--route",
        metavar="NAME",
        action="append",
        default=[],
        help="a route selection's answer: the route to take (repeat it where the router "
        "allows several); --on-pause approve alone takes the first route offered",
    )
    agno.add_argument(
        "--tool-result",
        metavar="TEXT",
        help="the result of a tool the caller runs (Agno's external execution)",
    )
    agno.add_argument(
        "--background",
        action="store_true",
        help="run in AgentOS's background (needs a database there): the run survives a "
        "dropped connection, whose stream is resumed by event_index",
    )
    agno.add_argument(
        "--ws",
        action="store_true",
        help="run the workflow over AgentOS's WebSocket (ws(s)://HOST/workflows/ws, from the "
        "URL) instead of SSE; reconnects after a drop (workflows only)",
    )
    agno.add_argument(
        "--token",
        help="AgentOS's security key or a JWT, sent as Authorization: Bearer (with --ws: in "
        "the socket's authenticate action)",
    )
    agno.add_argument("--session", metavar="ID", help="the session id (default: a new one)")
    agno.add_argument("--user", metavar="ID", help="the user id")
    agno.add_argument(
        "--header",
        type=_header,
        action="append",
        default=[],
        metavar="'K: V'",
        help="an HTTP header to send (repeatable)",
    )
    agno.add_argument(
        "--graph",
        metavar="FLOW",
        help="the flow's graph (flowrx/flow/1, or an Agno workflow definition) instead of "
        "the served definition",
    )
    agno.add_argument(
        "--record", metavar="FILE", help="also record the events to FILE (for flowrx replay)"
    )
    _session_options(agno)

    serve = _command(
        sub,
        "serve",
        "a stand-in platform server on 127.0.0.1, for trying watch and record",
        "Serve the simulator (or a recording) the way the platform does, on 127.0.0.1. The\n"
        "first line printed is the URL to connect to (token included). It plays once the\n"
        "first client connects, then stays up --linger seconds.",
    )
    serve.add_argument("--port", type=_port, default=0, help="the port (default: any free one)")
    serve.add_argument(
        "--runs", type=_count, default=3, metavar="N", help="simulated runs to play (default 3)"
    )
    serve.add_argument(
        "--recording", metavar="FILE", help="play this recording instead of the simulator"
    )
    serve.add_argument("--token", help="the token clients must present (default: a random one)")
    serve.add_argument("--flow-id", help="the flow id in the path (default: the demo flow's)")
    serve.add_argument("--seed", type=int, default=0, help="the simulator's seed (default 0)")
    serve.add_argument(
        "--speed", type=_positive, default=1.0, metavar="X", help="play X times as fast"
    )
    serve.add_argument(
        "--write-graph",
        metavar="PATH",
        help="write the simulated flow's graph to PATH first, for `watch --graph PATH` "
        "(also in examples/demo.flow.json)",
    )
    serve.add_argument(
        "--linger",
        type=_non_negative,
        default=2.0,
        metavar="S",
        help="seconds to stay up after the last frame (default 2)",
    )


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None


def _field_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"an input is FIELD=VALUE, not {text[:40]!r}")
    return name.strip(), value


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(c in text for c in "\r\n"):
        raise argparse.ArgumentTypeError(f"a header is 'Name: value', not {text[:40]!r}")
    return name.strip(), value.strip()


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _fraction(text: str) -> float:
    value = _non_negative(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be within 0..1")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0..65535)")
    return value


def _write(doc: dict[str, Any], path: str | None, out: TextIO) -> None:
    text = dump_snapshot(doc) + "\n"
    if path in (None, "-"):
        out.write(text)
        return
    assert path is not None
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write snapshot {path}: {exc.strerror or exc}") from None


_TRANSCRIPT_STARTS: Final = ("event:", "data:", "<<< ", ">>> ", "# AgentOS")


def _read_replayed(path: str) -> Recording:
    """A recording, or an AgentOS capture (an SSE body, a WebSocket transcript) read as the
    recording of its server frames (protocol ``agno``)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64).decode("utf-8", "replace").lstrip()
    except OSError:
        head = ""
    if not head.startswith(_TRANSCRIPT_STARTS):
        return read_recording(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path}: cannot read the AgentOS capture ({exc})") from None
    frames = tuple(RecordedFrame(t, data) for t, data in transcript_frames(text))
    if not frames:
        raise RecordingError(f"{path}: an AgentOS capture without a server frame")
    return Recording(frames, {"flowrx": "recording/1", "protocol": "agno", "source": path})


def _graph_of(path: str) -> FlowGraph:
    """The graph in a flow/1 file or editor export, or derived from an Agno workflow
    definition (``GET /workflows/{id}``, ``Workflow.to_dict()``)."""
    try:
        return load_graph(path)
    except GraphError as exc:
        if "no node list" not in str(exc):
            raise
        with open(path, "rb") as fh:  # load_graph read it as JSON already
            definition = json.loads(fh.read())
        if not isinstance(definition, Mapping) or not isinstance(definition.get("steps"), list):
            raise
        try:
            return workflow_graph(definition)
        except ValueError as bad:
            raise GraphError(f"{path}: {bad}") from None


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    recording = _read_replayed(args.file)
    if args.protocol is None:
        first = recording.frames[0].data if recording.frames else None
        try:
            args.protocol = detect_protocol(recording.header, first)
        except ValueError as exc:
            raise UsageError(f"{args.file}: {exc}") from None
    graph = _graph_of(args.graph) if args.graph else FlowGraph.empty()
    faults = dict(args.fault)
    if args.speed is not None and args.at is not None:
        raise UsageError("--at runs in virtual time; it cannot be combined with --speed")
    if args.instant or args.at is not None:
        return _replay_virtual(recording, graph, faults, args, out)
    return asyncio.run(_replay_live(recording, graph, faults, args, out))


_CHAT_TEXT_LIMIT = 200


def _printer(out: TextIO, now: Any, graph: FlowGraph | None = None) -> Any:
    """A sink printing one line per change; nodes by handle when the graph knows them.

    A chat message's line shows what changed: its first text, then ``+'…'`` for the text a
    chunk added, ``='…'`` when the text was replaced (a final answer), and no text when only
    its state or tools changed. HTML items are shown as their text. Every line is escaped
    (:func:`escape_controls`): ids, handles and text come from the wire.
    """
    graph = graph or FlowGraph.empty()
    shown: dict[str | None, dict[int, str]] = {}  # run -> message index -> text printed so far

    def chat(change: Change, message: MessageSummary) -> str:
        texts = shown.setdefault(change.run_id, {})
        new = html_text(message.text) if message.kind == "html" else message.text
        old = texts.get(message.index)
        texts[message.index] = new
        if old is None:
            what = f": {cut(new, _CHAT_TEXT_LIMIT)!r}"
        elif new == old:
            what = ""
        elif new.startswith(old):
            what = f" +{cut(new[len(old) :], _CHAT_TEXT_LIMIT)!r}"
        else:
            what = f" ={cut(new, _CHAT_TEXT_LIMIT)!r}"
        state = "closed" if message.closed else "open"
        tools = f" tools={message.tools}" if message.tools else ""
        name = f" {message.name!r}" if message.name else ""
        return f"#{message.index} {message.speaker}{name} {message.kind} {state}{tools}{what}"

    def sink(change: Change) -> None:
        handle = graph.handle(change.node_id)
        if handle is not None:
            change = attrs.evolve(change, node_id=handle)
        if change.concern == "chat" and change.what == "cleared":
            shown.pop(change.run_id, None)
        if change.concern == "chat" and isinstance(change.value, MessageSummary):
            where = " ".join(
                part
                for part in (
                    f"run={change.run_id}" if change.run_id else "",
                    f"node={change.node_id}" if change.node_id else "",
                )
                if part
            )
            line = f"{change.concern:<11} {change.what:<8} {where} {chat(change, change.value)}"
        else:
            line = change.describe()
        _line(out, f"{now():9.3f}  {line}")

    return sink


def _line(out: TextIO, line: str) -> None:
    """Print one line of untrusted text, control characters escaped."""
    out.write(escape_controls(line) + "\n")


def _replay_virtual(
    recording: Recording,
    graph: FlowGraph,
    faults: dict[str, float],
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    clock = VirtualClock()
    quiet = args.snapshot is not None or args.at is not None
    sinks = [] if quiet else [_printer(out, lambda: clock.seconds, graph)]
    frames = replay(recording.frames, clock, bursts=quiet)  # only the state is shown: batch it
    state, subscription = connect(
        frames,
        scheduler=clock,
        graph=graph,
        faults=faults,
        sinks=sinks,
        protocol=args.protocol,
    )
    try:
        clock.run(until=args.at)
        if quiet:
            _write(state.snapshot(), args.snapshot, out)
    finally:
        subscription.dispose()
    return 0


async def _replay_live(
    recording: Recording,
    graph: FlowGraph,
    faults: dict[str, float],
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    loop = asyncio.get_running_loop()
    scheduler = AsyncIOScheduler(loop)
    done = asyncio.Event()
    started = loop.time()
    sinks = (
        [] if args.snapshot is not None else [_printer(out, lambda: loop.time() - started, graph)]
    )
    frames = replay(recording.frames, scheduler, speed=args.speed or 1.0)
    frames = frames.pipe(_on_complete(done.set))
    state, subscription = connect(
        frames,
        scheduler=scheduler,
        graph=graph,
        faults=faults,
        sinks=sinks,
        protocol=args.protocol,
    )
    try:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.1)
            out.flush()  # a reader at the other end of a pipe sees the lines as they come
        while not state.settled():  # let the display windows close (not the stall watchdog)
            await asyncio.sleep(0.01)
        if args.snapshot is not None:
            _write(state.snapshot(), args.snapshot, out)
    finally:
        subscription.dispose()
    return 0


def _on_complete(callback: Any) -> Any:
    from reactivex import operators as ops

    return ops.do_action(on_completed=callback)


_ENDED = frozenset({"success", "error", "killed"})


class _Exit(Exception):
    """A session that did not work (not a user mistake): one line on stderr, exit ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class _Signals:
    """While entered, SIGINT and SIGTERM on the loop end the session (remembering which came)
    instead of raising in the middle of it; :meth:`check` then ends the command the same way
    for every command: exit 130 (Ctrl-C) or 143 (SIGTERM), one line, no traceback."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.stop = asyncio.Event()
        self.received: signal.Signals | None = None

    def _on(self, sig: signal.Signals) -> None:
        self.received = self.received or sig
        self.stop.set()

    def __enter__(self) -> _Signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(sig, self._on, sig)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.loop.remove_signal_handler(sig)

    async def wait(self, seconds: float) -> None:
        """Wait up to ``seconds``, less if a signal comes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    def check(self, detail: str | None = None) -> None:
        """Raise the interrupted ending if a signal came (``detail`` after a semicolon)."""
        if self.received is None:
            return
        word = "interrupted" if self.received == signal.SIGINT else "terminated"
        raise _Exit(word + (f"; {detail}" if detail else ""), 128 + int(self.received))


class _Connection:
    """What the CLI needs to know of a source: why it last failed, and whether it ever opened.

    The CLI reports the connection itself (the view's health line, ``--plain`` status lines,
    ``record``'s lines on stderr, and the final error line), so the source's own status log
    records are left out of the CLI's log (see :func:`_shown`): each is reported once.
    """

    def __init__(self, source: WebSocketSource, url: str, show: Any = None) -> None:
        self.source = source
        self.url = url
        self.last_reason: str | None = None
        self.failed: str | None = None
        """The reason, when the source gave up (a refused token, a wrong path, a bad URL)."""
        self._show = show
        source.status.subscribe(self._on_status)

    def _on_status(self, status: ConnectionStatus) -> None:
        if status.state == "failed":
            self.failed = status.reason or "connection failed"
        if status.state == "reconnecting" and status.reason:
            self.last_reason = status.reason.split("; retry in ")[0]
        if self._show is not None and status.state != "failed":  # failed: the error line
            self._show(status)

    @property
    def never_connected(self) -> str | None:
        """``never connected to URL (why)`` when no connection ever opened, else None."""
        if self.source.stats.connections:
            return None
        why = f" ({self.last_reason})" if self.last_reason else ""
        return f"never connected to {redact(self.url)}{why}"

    def check(self, signals: _Signals) -> None:
        """End the command as the session went: failed (exit 2), interrupted (130/143), never
        connected (exit 1), or return for success."""
        if self.failed is not None:
            raise UsageError(f"connection failed: {self.failed}")
        signals.check(self.never_connected)
        if self.never_connected is not None:
            raise _Exit(self.never_connected)


class _Recording:
    """Frames to a ``recording/1`` file beside a live source (``record``, ``watch --record``).

    The header is written when the connection first opens; the first write error (a full
    disk) is reported once and ends the session (``stop``); a session that never connected
    leaves no file behind.
    """

    def __init__(self, path: str, url: str, note: str, stop: asyncio.Event) -> None:
        try:
            self.recorder = Recorder(path, source=redact(url), note=note)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        self.path = path
        self.stop = stop
        self.error: str | None = None

    def attach(self, source: WebSocketSource) -> None:
        """Record ``source``'s frames (at loop time) and begin when it first opens."""
        loop = asyncio.get_running_loop()
        source.frames.subscribe(lambda frame: self._guard(self.recorder.write, frame, loop.time()))
        source.status.subscribe(
            lambda status: self._guard(self.recorder.begin) if status.state == "open" else None
        )

    def _guard(self, action: Any, *args: Any) -> None:
        if self.error is not None:
            return
        try:
            action(*args)
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.error = (
            f"cannot write {self.path}: {exc.strerror or exc} "
            f"(stopped after {self.recorder.frames} frames)"
        )
        self.stop.set()

    def finish(self, connected: bool) -> None:
        """Close the file; remove it when nothing ever connected (no header-only file)."""
        self._guard(self.recorder.close)
        if not connected and self.error is None and not self.recorder.begun:
            with contextlib.suppress(OSError):
                # only the empty regular file this session made (never /dev/null and the like)
                if os.path.isfile(self.path) and os.path.getsize(self.path) == 0:
                    os.remove(self.path)

    def check(self) -> None:
        """Raise the write error, if there was one."""
        if self.error is not None:
            raise _Exit(self.error)


async def _live(
    frames: Any,
    graph: FlowGraph,
    args: argparse.Namespace,
    out: TextIO,
    *,
    title: str,
    connection: _Connection | None = None,
    recording: _Recording | None = None,
    signals: _Signals,
) -> int:
    """Run the pipeline live until --runs/--seconds/Ctrl-C; show it; write the snapshot."""
    loop = asyncio.get_running_loop()
    started = loop.time()

    def clock() -> float:
        return loop.time() - started

    ended: set[str] = set()

    def count_ends(change: Change) -> None:
        if change.concern == "lifecycle" and change.what == "run" and change.value in _ENDED:
            ended.add(str(change.run_id))

    sinks: list[Any] = [count_ends]
    if args.plain:
        sinks.append(_printer(out, clock, graph))
    state, subscription = connect(
        frames,
        scheduler=AsyncIOScheduler(loop),
        graph=graph,
        faults=dict(args.fault),
        sinks=sinks,
    )
    view = None
    if not args.plain:
        from flowrx.sinks.terminal import TerminalView

        view = TerminalView(state, title=title)
    # Everything made so far lives as long as the process, and flowrx makes no cycles: the
    # collector runs once a minute instead of pausing the loop every few hundred frames
    # (flowrx.runtime says why; the latency benchmark measures it).
    undo_collection = periodic_collection(loop)
    source = connection.source if connection is not None else None
    if source is not None:

        def on_status(status: ConnectionStatus) -> None:
            state.connection = status
            if args.plain and status.state != "failed":  # failed: reported by the error line
                _line(out, f"{clock():9.3f}  {status_line(status)}")

        source.status.subscribe(on_status)
        source.start()
    deadline = None if args.seconds is None else started + args.seconds
    fps, last_frames, last_at = 0.0, 0, loop.time()
    try:
        if view is not None:
            view.start()
        while not signals.stop.is_set():
            now = loop.time()
            if deadline is not None and now >= deadline:
                break
            if args.runs is not None and len(ended) >= args.runs and state.settled():
                break
            if connection is not None and connection.failed is not None:
                break
            if now - last_at >= 0.5:
                frames_now = state.counters["frames"]
                fps = (frames_now - last_frames) / (now - last_at)
                last_frames, last_at = frames_now, now
            if view is not None:
                view.refresh(state.connection, fps)
            else:
                out.flush()  # a reader at the other end of a pipe sees the lines as they come
            await signals.wait(0.1)
    finally:
        if view is not None:
            view.refresh(state.connection, fps)
            view.stop()
        if source is not None:
            await source.close()
        subscription.dispose()
        undo_collection()
        if recording is not None:
            recording.finish(connected=source is not None and source.stats.connections > 0)
    if args.snapshot:
        _write(state.snapshot(), args.snapshot, out)
    if recording is not None:
        recording.check()
    if connection is not None:
        connection.check(signals)
    signals.check()
    return 0


async def _demo(args: argparse.Namespace, out: TextIO) -> int:
    from flowrx.streams.simulate import demo_flow, simulate_stream

    loop = asyncio.get_running_loop()
    # made run by run as they fall due: the view starts at once, and without --runs it
    # plays until stopped
    frames = simulate_stream(
        AsyncIOScheduler(loop),
        args.runs,
        seed=args.seed,
        speed=args.speed,
        bad_frames=args.bad_frames,
        duplicates=args.duplicates,
    )
    with _Signals(loop) as signals:
        return await _live(frames, demo_flow(), args, out, title="flowrx demo", signals=signals)


def _options(args: argparse.Namespace, burst: int = 1) -> WebSocketOptions:
    return WebSocketOptions(
        token=args.token,
        token_in_query=not args.token_in_header,
        heartbeat=args.heartbeat,
        max_frame=args.max_frame,
        burst=burst,
    )


_BURST = 256
"""Most frames ``watch`` hands to the pipeline at once when a backlog has queued up."""


def _check_url(url: str) -> None:
    try:
        check_url(url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


async def _watch(args: argparse.Namespace, out: TextIO) -> int:
    _check_url(args.url)
    graph = load_graph(args.graph) if args.graph else FlowGraph.empty()
    loop = asyncio.get_running_loop()
    with _Signals(loop) as signals:
        recording = None
        if args.record:
            recording = _Recording(args.record, args.url, "flowrx watch", signals.stop)
        source = WebSocketSource(args.url, _options(args, burst=_BURST))
        if recording is not None:
            recording.attach(source)
        return await _live(
            source.frames,
            graph,
            args,
            out,
            title=redact(args.url),
            connection=_Connection(source, args.url),
            recording=recording,
            signals=signals,
        )


def _answer(item: Mapping[str, Any], approve: bool) -> Any:
    """What ``--on-interrupt approve|reject`` says to one pending item: every boolean its
    ``responseSchema`` asks for set to the decision (pydantic-ai's ``approved``), else
    ``{"approved": <decision>}``."""
    detail = item.get("detail") or {}
    schema = detail.get("responseSchema") if isinstance(detail, Mapping) else None
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    if isinstance(props, Mapping):
        flags = {
            name: approve
            for name, spec in props.items()
            if isinstance(spec, Mapping) and spec.get("type") == "boolean"
        }
        if flags:
            return flags
    return {"approved": approve}


async def _agui(args: argparse.Namespace, out: TextIO) -> int:
    from flowrx.protocols.agui import run_input
    from flowrx.streams.sse import agui_conversation, check_http_url

    try:
        check_http_url(args.url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    thread = args.thread or f"thread-{uuid.uuid4().hex[:12]}"
    first = run_input(thread, f"run-{uuid.uuid4().hex[:12]}", args.prompt, state=args.state)

    def source(replies: Any, status: Any, scheduler: AsyncIOScheduler, options: Any) -> Any:
        return agui_conversation(
            args.url,
            first,
            replies,
            scheduler=scheduler,
            headers=dict(args.header),
            options=options,
            status=status,
        )

    decide = None
    if args.on_interrupt != "stop":  # answer each paused run's interrupts, once
        decide = functools.partial(_answer, approve=args.on_interrupt == "approve")
    return await _http_session(args, out, "agui", FlowGraph.empty(), source, decide)


async def _http_session(
    args: argparse.Namespace,
    out: TextIO,
    protocol: str,
    graph: FlowGraph,
    source: Callable[..., Any],
    decide: Callable[[Mapping[str, Any]], Any] | None,
) -> int:
    """One conversation with an HTTP agent endpoint (``flowrx agui``, ``flowrx agno``), live or
    ``--plain``: ``source(replies, status, scheduler, options)`` gives the frames of every leg
    (a resume or continue for each reply); ``decide`` answers the pauses (None: leave them
    pending). It ends when the legs are done and the display windows closed, at --seconds or
    on a signal; a failed request is one line and exit 2."""
    import reactivex
    from reactivex import operators as ops
    from reactivex.subject import Subject

    from flowrx.messages import EndOfStream, Reply
    from flowrx.streams.sse import SourceFailed, SSEOptions

    loop = asyncio.get_running_loop()
    scheduler = AsyncIOScheduler(loop)
    started = loop.time()

    def clock() -> float:
        return loop.time() - started

    replies: Subject[Reply] = Subject()
    done = asyncio.Event()
    failed: list[str] = []
    latest: list[ConnectionStatus] = []

    def on_status(status: ConnectionStatus) -> None:
        latest[:] = [status]
        if status.state == "failed":
            failed.append(status.reason or "the request failed")
        elif args.plain:
            _line(out, f"{clock():9.3f}  {status_line(status)}")

    recorder = None
    if args.record:
        try:
            recorder = Recorder(
                args.record, source=redact(args.url), note=f"flowrx {protocol}", protocol=protocol
            )
        except OSError as exc:
            raise UsageError(f"cannot write {args.record}: {exc.strerror or exc}") from None

    def keep(frame: Any) -> None:
        if recorder is not None and not isinstance(frame, EndOfStream):
            recorder.write(frame, clock())

    def caught(error: Exception, _: Any) -> Any:
        # the failure is the command's one error line (a leg's from its status, a continue's
        # from here); not the log's too
        if not isinstance(error, SourceFailed):
            return reactivex.throw(error)
        if not failed:
            failed.append(error.reason)
        return reactivex.empty()

    frames = source(replies, on_status, scheduler, SSEOptions(burst=_BURST)).pipe(
        ops.do_action(keep, lambda _: done.set(), done.set), ops.catch(caught)
    )
    sinks: list[Any] = [_printer(out, clock, graph)] if args.plain else []
    state, subscription = connect(
        frames,
        scheduler=scheduler,
        graph=graph,
        faults=dict(args.fault),
        sinks=sinks,
        protocol=protocol,
    )
    if decide is not None:
        state.answer_pauses(decide)
    state.replies.subscribe(replies.on_next)
    view = None
    if not args.plain:
        from flowrx.sinks.terminal import TerminalView

        view = TerminalView(state, title=redact(args.url))
    deadline = None if args.seconds is None else started + args.seconds
    with _Signals(loop) as signals:
        try:
            if view is not None:
                view.start()
            while not signals.stop.is_set():
                if deadline is not None and loop.time() >= deadline:
                    break
                if done.is_set() and state.settled():
                    break
                if view is not None:
                    view.refresh(latest[0] if latest else None)
                else:
                    out.flush()
                await signals.wait(0.1)
        finally:
            if view is not None:
                view.refresh(latest[0] if latest else None)
                view.stop()
            subscription.dispose()
            if recorder is not None:
                with contextlib.suppress(OSError):
                    recorder.close()
        if args.snapshot:
            _write(state.snapshot(), args.snapshot, out)
        if failed:
            raise UsageError(f"request failed: {failed[0]}")
        signals.check()
    return 0


_TYPES: Final[dict[str, type | tuple[type, ...]]] = {
    "int": int,
    "float": (int, float),
    "bool": bool,
    "list": list,
    "dict": dict,
}
"""The JSON types of Agno's user-input field types (``str`` and others: the text as given)."""


class _Answers:
    """How ``flowrx agno`` answers a run's pauses: ``--on-pause approve|reject`` a confirmation or
    output review (yes or no) and, approved, a route selection (the first route offered, or
    those ``--route`` names); ``--input`` a person's input (the fields the pause names, each
    typed as its field says); ``--tool-result`` a tool the caller runs. A pause the flags cannot
    answer stays pending and is kept (:attr:`unanswered`), as is a value of the wrong type
    (:attr:`mistake`), for the command's last line."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.decision = None if args.on_pause == "stop" else args.on_pause == "approve"
        self.inputs: dict[str, str] = dict(args.input)
        self.result: str | None = args.tool_result
        self.routes: list[str] = list(args.route)
        self.unanswered: dict[str, str] = {}
        """Each pending item left unanswered, by id: what it waits for and how to answer."""
        self.mistake: str | None = None

    @property
    def asked(self) -> bool:
        """Whether the flags ask to answer pauses at all (else they are left pending)."""
        return (
            self.decision is not None
            or bool(self.inputs)
            or self.result is not None
            or bool(self.routes)
        )

    def __call__(self, item: Mapping[str, Any]) -> Any:
        kind = item.get("kind")
        detail = item.get("detail")
        detail = detail if isinstance(detail, Mapping) else {}
        try:
            payload = self._payload(kind, detail)
        except ValueError as exc:
            self.mistake = self.mistake or str(exc)
            return None
        key = str(item.get("id"))
        if payload is None:  # (asked again as the item changes: the latest word stays)
            self.unanswered[key] = self._waits(item, kind, detail)
        else:
            self.unanswered.pop(key, None)
        return payload

    def _payload(self, kind: Any, detail: Mapping[str, Any]) -> Any:
        if kind in ("confirmation", "output_review"):
            return self.decision
        if kind == "route_selection" and (self.routes or self.decision):
            choices = detail.get("available_choices")
            offered = (
                [c for c in choices if isinstance(c, str)] if isinstance(choices, list) else []
            )
            if not self.routes:
                return offered[:1] or None
            unknown = [name for name in self.routes if offered and name not in offered]
            if unknown:
                raise ValueError(f"--route {unknown[0]}: the router offers {', '.join(offered)}")
            return list(self.routes)
        if kind == "user_input" and self.inputs:
            fields = _fields(detail)
            if not fields:  # no schema: every value as given
                return dict(self.inputs)
            given = {
                name: _typed(name, text, fields[name][0])
                for name, text in self.inputs.items()
                if name in fields
            }
            needed = [name for name, (_, still) in fields.items() if still]
            return None if any(name not in given for name in needed) else given
        if kind == "external_tool":
            return self.result
        return None

    def _waits(self, item: Mapping[str, Any], kind: Any, detail: Mapping[str, Any]) -> str:
        """``run R waits for <what>: <how to answer>``, one line."""
        run = item.get("run_id")
        tools = [t for t in detail.get("tools") or () if isinstance(t, Mapping)]
        named = ", ".join(str(t.get("tool_name")) for t in tools)
        if kind == "user_input":
            fields = [n for n, (_, needed) in _fields(detail).items() if needed]
            said = f" ({', '.join(fields)})" if fields else ""
            what, how = f"user input{said}", "answer with --input FIELD=VALUE"
        elif kind == "external_tool":
            what, how = f"the result of {named or 'a tool'}", "answer with --tool-result TEXT"
        elif kind == "route_selection":
            offered = detail.get("available_choices") or ()
            what = f"a route selection ({', '.join(map(str, offered))})"
            how = "answer with --route NAME (--on-pause approve takes the first)"
        elif kind in ("confirmation", "output_review"):
            what = "a " + str(kind).replace("_", " ") + (f" of {named}" if named else "")
            how = "answer with --on-pause approve|reject"
        else:
            what, how = f"an answer ({kind})", "flowrx agno cannot give it"
        message = detail.get("message")
        said = f' "{message}"' if isinstance(message, str) and message else ""
        return f"run {run} waits for {what}{said}: {how}"


def _fields(detail: Mapping[str, Any]) -> dict[str, tuple[Any, bool]]:
    """The user-input fields a pause names: ``name -> (field type, still needed)``; a step's
    (its ``schema``: needed unless ``required`` is false) or its tools' (needed while without
    a value)."""
    fields: dict[str, tuple[Any, bool]] = {}
    for spec in detail.get("schema") or ():
        if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
            fields[spec["name"]] = (spec.get("field_type"), spec.get("required") is not False)
    for tool in detail.get("tools") or ():
        for spec in (tool.get("user_input_schema") if isinstance(tool, Mapping) else None) or ():
            if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
                fields[spec["name"]] = (spec.get("field_type"), spec.get("value") is None)
    return fields


def _typed(name: str, text: str, field_type: Any) -> Any:
    """``--input name=text`` as the value its field takes (one-line ``ValueError``)."""
    expected = _TYPES.get(field_type) if isinstance(field_type, str) else None
    if expected is None:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, expected) or (field_type != "bool" and isinstance(value, bool)):
        article = "an" if field_type == "int" else "a"
        raise ValueError(f"--input {name}={text}: {name} takes {article} {field_type}")
    return value


async def _agno_graph(args: argparse.Namespace, kind: str, component: str) -> FlowGraph:
    """The graph of ``flowrx agno``: --graph's, else a workflow's served definition."""
    from flowrx.streams.agno import agentos_definition
    from flowrx.streams.sse import SourceFailed

    if args.graph:
        return _graph_of(args.graph)
    if kind != "workflows":
        return FlowGraph.empty()
    try:
        definition = await agentos_definition(
            args.url, component, token=args.token, headers=dict(args.header)
        )
    except SourceFailed as exc:
        raise UsageError(f"the workflow's definition: {exc.reason}") from None
    try:
        return workflow_graph(definition)
    except ValueError as exc:
        raise UsageError(f"the workflow's definition: {exc}") from None


async def _agno(args: argparse.Namespace, out: TextIO) -> int:
    from flowrx.streams.agentos_ws import AgentOSSocketOptions, agentos_ws_conversation
    from flowrx.streams.agno import agentos_conversation, agentos_runs_url
    from flowrx.streams.sse import check_http_url, checked_headers

    kind, component = next(
        (kind, value)
        for kind, value in (
            ("workflows", args.workflow),
            ("agents", args.agent),
            ("teams", args.team),
        )
        if value is not None
    )
    if args.ws and kind != "workflows":
        raise UsageError("--ws runs a workflow (AgentOS's WebSocket serves workflows only)")
    sent = dict(args.header)
    if args.token is not None:
        sent["Authorization"] = f"Bearer {args.token}"
    try:
        check_http_url(args.url)
        agentos_runs_url(args.url, component, kind)
        checked_headers(sent)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    graph = await _agno_graph(args, kind, component)

    def source(replies: Any, status: Any, scheduler: AsyncIOScheduler, options: Any) -> Any:
        common: dict[str, Any] = {
            "scheduler": scheduler,
            "kind": kind,
            "token": args.token,
            "session_id": args.session,
            "user_id": args.user,
            "headers": dict(args.header),
            "options": options,
            "status": status,
            "background": args.background,
        }
        if args.ws:  # AgentOS runs a socket's workflow in its background: always resumable
            del common["kind"], common["background"]
            common["options"] = AgentOSSocketOptions(burst=options.burst)
            return agentos_ws_conversation(args.url, component, args.message, replies, **common)
        return agentos_conversation(args.url, component, args.message, replies, **common)

    answers = _Answers(args)  # each paused run's questions, answered once (or kept)
    code = await _http_session(args, out, "agno", graph, source, answers)
    if answers.mistake is not None:
        raise UsageError(answers.mistake)
    if answers.unanswered:
        more = len(answers.unanswered) - 1
        line = next(iter(answers.unanswered.values())) + (f" (and {more} more)" if more else "")
        if answers.asked:
            raise _Exit(line, 3)
        _line(sys.stderr, f"flowrx: {line}")
    return code


async def _record(args: argparse.Namespace, out: TextIO) -> int:
    _check_url(args.url)
    loop = asyncio.get_running_loop()
    with _Signals(loop) as signals:
        recording = _Recording(args.output, args.url, args.note or "flowrx record", signals.stop)
        source = WebSocketSource(args.url, _options(args))
        recording.attach(source)
        connection = _Connection(
            source, args.url, show=lambda status: _line(sys.stderr, status_line(status))
        )
        source.start()
        deadline = None if args.seconds is None else loop.time() + args.seconds
        try:
            while not signals.stop.is_set() and connection.failed is None:
                if deadline is not None and loop.time() >= deadline:
                    break
                await signals.wait(0.1)
        finally:
            await source.close()
            recording.finish(connected=source.stats.connections > 0)
        recording.check()
        connection.check(signals)
    _line(out, f"recorded {recording.recorder.frames} frames to {args.output}")
    return 0


async def _serve(args: argparse.Namespace, out: TextIO) -> int:
    from flowrx.streams.simulate import DEMO_FLOW_ID, simulate

    if args.recording:
        if args.write_graph:
            raise UsageError("--write-graph writes the simulator's graph: not with --recording")
        frames = list(read_recording(args.recording).frames)
        flow_id = args.flow_id or _flow_id_of(frames) or "flow"
    else:
        frames = simulate(args.runs, seed=args.seed)
        flow_id = args.flow_id or DEMO_FLOW_ID
        if args.write_graph:
            _write_graph(args.write_graph)
    server = PlatformServer(
        frames, flow_id=flow_id, token=args.token, port=args.port, speed=args.speed
    )
    try:
        url = await server.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    out.write(url + "\n")
    out.flush()
    loop = asyncio.get_running_loop()
    with _Signals(loop) as signals:
        play = asyncio.create_task(server.play())
        try:
            waiter = asyncio.create_task(signals.stop.wait())
            await asyncio.wait({play, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if play.done() and not signals.stop.is_set():
                await signals.wait(args.linger)
            waiter.cancel()
        finally:
            play.cancel()
            await asyncio.gather(play, return_exceptions=True)
            await server.close()
        signals.check()
    return 0


def _write_graph(path: str) -> None:
    """Write the demo flow's graph (flowrx/flow/1) for `watch --graph`."""
    from flowrx.streams.simulate import demo_graph_json

    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(demo_graph_json())
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _flow_id_of(frames: Sequence[RecordedFrame]) -> str | None:
    for frame in frames:
        parsed = parse(frame.data)
        flow_id = getattr(parsed, "flow_id", None)
        if isinstance(flow_id, str):
            return flow_id
    return None


def _to_stderr(message: Any) -> None:
    """Write a formatted log record to stderr (looked up per record: works under redirection
    and capture), every line of it escaped: messages and tracebacks can quote wire text."""
    sys.stderr.write("\n".join(escape_controls(line) for line in str(message).split("\n")))


def _log_format(every_traceback: bool) -> Any:
    """The CLI's log line: time, level and the message, then the traceback on the next lines,
    but only for the first failure of each concern and error type (every one when
    ``every_traceback``): ``--fault`` makes hundreds of identical failures, and one traceback
    says all they have to say; a different error in the same concern still shows its own."""
    shown: set[tuple[str, str]] = set()

    def fmt(record: Any) -> str:
        line = "{time:HH:mm:ss.SSS} {level: <8} {message}\n"
        exception = record["exception"]
        if exception is None:
            return line
        kind = exception.type.__qualname__ if exception.type is not None else ""
        key = (str(record["extra"].get("concern")), kind)
        if every_traceback or key not in shown:
            shown.add(key)
            return line + "{exception}"
        return line

    return fmt


#: The connection's status records: the CLI reports the connection itself (see _Connection).
_STATUS_EVENTS = frozenset({"connecting", "open", "reconnecting", "closed", "failed"})


def _shown(record: Any) -> bool:
    """Whether the CLI's log shows a record: everything but the connection's status, which the
    CLI reports once in its own way (view, status lines, the final error line)."""
    extra = record["extra"]
    return not (extra.get("concern") == "connection" and extra.get("event") in _STATUS_EVENTS)


def _add_log_sink(level: str) -> int:
    """Send flowrx's log to stderr at ``level``; returns the loguru handler id."""
    return logger.add(
        _to_stderr,
        level=level,
        format=_log_format(every_traceback=logger.level(level).no <= logger.level("DEBUG").no),
        filter=_shown,
        backtrace=False,
        diagnose=False,
        colorize=False,
    )


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit code (2 for a user mistake, one line on stderr)."""
    out = out or sys.stdout
    handler: int | None = None
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser()
        if not argv:  # a bare `flowrx`: what it can do, on stderr, exit 2
            sys.stderr.write(parser.format_help())
            return 2
        try:
            args = parser.parse_args(argv)
        except SystemExit as done:  # --help, --version: printed; a host gets the code back
            return done.code if isinstance(done.code, int) else 0
        handler = _add_log_sink(args.log_level)
        logger.enable("flowrx")
        if args.command == "replay":
            return _replay(args, out)
        live = {
            "demo": _demo,
            "watch": _watch,
            "record": _record,
            "serve": _serve,
            "agui": _agui,
            "agno": _agno,
        }
        if args.command in live:
            return asyncio.run(live[args.command](args, out))
        raise UsageError(f"unknown command {args.command!r}")  # pragma: no cover
    except (UsageError, RecordingError, GraphError) as exc:
        _line(sys.stderr, f"flowrx: error: {exc}")
        return 2
    except _Exit as exc:
        _line(sys.stderr, f"flowrx: {exc}")
        return exc.code
    except KeyboardInterrupt:  # outside a live session's own handling (replay, start-up)
        _line(sys.stderr, "flowrx: interrupted")
        return 130
    finally:
        if handler is not None:
            logger.remove(handler)
            logger.disable("flowrx")


def run() -> None:
    """The console script, the only place that changes process-wide settings.

    loguru's default handler gives way to the CLI's own, and SIGPIPE gets its default action so
    that ``flowrx replay … | head`` ends quietly. :func:`main` itself changes neither: a host
    (or a test) calling it keeps its own handlers.
    """
    logger.remove()
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
