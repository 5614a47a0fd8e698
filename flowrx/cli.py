"""The ``flowrx`` command line: the only module that parses arguments or prints for a person.

``flowrx replay FILE [--graph FLOW] [--speed X | --instant] [--snapshot [PATH]] [--at T]
[--fault CONCERN[:RATE]]`` plays a recording through the full pipeline. In virtual time
(``--instant``, or ``--at``) nothing waits; with ``--speed`` it plays in real time on asyncio.
Without ``--snapshot`` it prints one line per visible change.

A user mistake (bad arguments, a missing file, a bad graph) prints one line and exits 2; never
a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

from loguru import logger
from reactivex.scheduler.eventloop import AsyncIOScheduler

from flowrx.graph import FlowGraph, GraphError, load_graph
from flowrx.operators.effects import Change, Config
from flowrx.pipeline import connect, default_concerns
from flowrx.sinks.snapshot import dump_snapshot
from flowrx.streams.replay import Recording, RecordingError, VirtualClock, read_recording, replay

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


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="flowrx", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="what flowrx logs on stderr (default WARNING: failures with tracebacks)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    rp = sub.add_parser("replay", help="play a recording through the pipeline")
    rp.add_argument("file", help="a flowrx/recording/1 file or plain JSON Lines")
    rp.add_argument("--graph", help="the flow graph (flow/1 or the platform's node-setup export)")
    timing = rp.add_mutually_exclusive_group()
    timing.add_argument("--speed", type=_positive, help="real time, X times as fast")
    timing.add_argument(
        "--instant", action="store_true", help="virtual time: no waiting, same timings"
    )
    rp.add_argument(
        "--snapshot",
        nargs="?",
        const="-",
        metavar="PATH",
        help="write the final snapshot/1 (to PATH, or stdout when PATH is omitted or -)",
    )
    rp.add_argument(
        "--at",
        type=_non_negative,
        metavar="T",
        help="the snapshot at T seconds of recording time (virtual time)",
    )
    rp.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="CONCERN[:RATE]",
        help="make a concern's reducer raise on a fraction of its events (default 1.0)",
    )
    return parser


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


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    recording = read_recording(args.file)
    graph = load_graph(args.graph) if args.graph else FlowGraph.empty()
    faults = dict(args.fault)
    if args.speed is not None and args.at is not None:
        raise UsageError("--at runs in virtual time; it cannot be combined with --speed")
    if args.instant or args.at is not None:
        return _replay_virtual(recording, graph, faults, args, out)
    return asyncio.run(_replay_live(recording, graph, faults, args, out))


def _printer(out: TextIO, now: Any) -> Any:
    def sink(change: Change) -> None:
        out.write(f"{now():9.3f}  {change.describe()}\n")

    return sink


def _replay_virtual(
    recording: Recording,
    graph: FlowGraph,
    faults: dict[str, float],
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    clock = VirtualClock()
    quiet = args.snapshot is not None or args.at is not None
    sinks = [] if quiet else [_printer(out, lambda: clock.seconds)]
    state, subscription = connect(
        replay(recording.frames, clock), scheduler=clock, graph=graph, faults=faults, sinks=sinks
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
    sinks = [] if args.snapshot is not None else [_printer(out, lambda: loop.time() - started)]
    frames = replay(recording.frames, scheduler, speed=args.speed or 1.0)
    frames = frames.pipe(_on_complete(done.set))
    state, subscription = connect(
        frames, scheduler=scheduler, graph=graph, faults=faults, sinks=sinks
    )
    try:
        await done.wait()
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


def _to_stderr(message: Any) -> None:
    sys.stderr.write(message)  # looked up per line: works under redirection and capture


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit code (2 for a user mistake, one line on stderr)."""
    out = out or sys.stdout
    if hasattr(signal, "SIGPIPE") and out is sys.stdout:  # `flowrx replay … | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    handler: int | None = None
    try:
        args = build_parser().parse_args(argv)
        handler = logger.add(
            _to_stderr,
            level=args.log_level,
            backtrace=False,
            diagnose=False,
        )
        logger.enable("flowrx")
        if args.command == "replay":
            return _replay(args, out)
        raise UsageError(f"unknown command {args.command!r}")  # pragma: no cover
    except (UsageError, RecordingError, GraphError) as exc:
        print(f"flowrx: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if handler is not None:
            logger.remove(handler)
            logger.disable("flowrx")


def run() -> None:
    """The console script: loguru's default handler gives way to the CLI's own."""
    logger.remove()
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
