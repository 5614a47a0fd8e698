"""Replay: read ``flowrx/recording/1`` (or plain JSON Lines) and play it on a scheduler.

:func:`read_recording` loads the file into :class:`RecordedFrame` values (exact frame text and its
time ``t``), skipping and counting the lines it cannot use (one warning names them by line number; a
file with no usable line is :class:`NotARecording`); :func:`replay` turns them into an observable
that emits each frame at ``t / speed`` after subscription, on the scheduler it is given. With a
:class:`~flowrx.operators.clock.VirtualClock` the whole recording runs in virtual time
(``--instant``): nothing waits, yet every display window and timer fires at its recorded moment.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from collections.abc import Sequence
from typing import Any, Final

import attrs
import reactivex
from loguru import logger
from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable

from flowrx._text import printable

__all__ = [
    "MAX_T",
    "NotARecording",
    "RecordedFrame",
    "Recording",
    "RecordingError",
    "read_recording",
    "replay",
]

RECORDING_SCHEMA = "recording/1"
MAX_T: Final = 1e9
"""The latest time a frame may have, in seconds (about 31 years): a later, infinite or NaN
``t`` is not a time any recorder wrote (and would overflow the schedulers' clocks)."""
_PROBLEMS_SHOWN: Final = 10
_MAX_DELAY: Final = 1e10
"""The latest a replayed frame may be due, in seconds after subscription (about 317 years)."""


class RecordingError(ValueError):
    """A recording that cannot be read; the message is one line naming the file and line."""


class NotARecording(RecordingError):
    """A file that has no usable recording line at all (empty, binary, or some other JSON).

    Its message is one line, ``FILE: not a recording (…first problem…)``; the CLI reports it as
    a user mistake (exit 2). A file with *some* good lines is read: its bad lines are skipped.
    """


def _check_t(_: object, __: object, t: float) -> None:
    if not 0.0 <= t <= MAX_T:  # NaN fails both comparisons
        raise ValueError(f"t must be seconds from 0 to {MAX_T:g}, got {t!r}")


@attrs.frozen
class RecordedFrame:
    """One frame as it came: seconds since the first frame (finite, from 0 to :data:`MAX_T`),
    and its exact text (or bytes)."""

    t: float = attrs.field(validator=_check_t)
    data: str | bytes


@attrs.frozen
class Recording:
    """A recording's header (if any) and frames, in file order.

    ``skipped`` counts the lines that were not usable (each named, with its line number, in the
    one warning :func:`read_recording` logs); ``problems`` holds the first few of them as
    ``"line N: reason"``.
    """

    frames: tuple[RecordedFrame, ...]
    header: dict[str, Any] | None = None
    skipped: int = 0
    problems: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        """Time of the last frame."""
        return max((f.t for f in self.frames), default=0.0)


class _BadLine(Exception):
    """One recording line that cannot be used, and why (internal to read_recording)."""


def _time(line: dict[str, Any]) -> float:
    t = line.get("t", 0.0)
    if isinstance(t, bool) or not isinstance(t, int | float):
        raise _BadLine(f"t is {type(t).__name__}, not a number")
    if not 0 <= t <= MAX_T:  # compared before float(): a huge int would overflow it
        raise _BadLine(f"t must be seconds from 0 to {MAX_T:g}, got {repr(t)[:40]}")
    return float(t)


def _frame(line: dict[str, Any]) -> RecordedFrame:
    t = _time(line)
    if "data" in line:
        data = line["data"]
        if not isinstance(data, str):
            raise _BadLine("data must be the frame's text")
        try:
            if not data.isascii():
                data.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no WebSocket text frame carries one
            raise _BadLine("data is not text a WebSocket can carry (a lone surrogate)") from None
        return RecordedFrame(t, data)
    try:
        return RecordedFrame(t, base64.b64decode(line["b64"], validate=True))
    except (binascii.Error, TypeError, ValueError) as exc:
        raise _BadLine(f"b64 is not base64 ({str(exc)[:60]})") from None


def _line(raw: bytes, first: bool) -> tuple[str, dict[str, Any]]:
    """One line's text and its JSON object, or :class:`_BadLine`."""
    try:
        text = raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError:
        raise _BadLine("not UTF-8") from None
    try:
        line = json.loads(text)
    except RecursionError:
        raise _BadLine("not JSON (nested too deeply)") from None
    except ValueError:
        raise _BadLine("not JSON") from None
    if not isinstance(line, dict):
        raise _BadLine(f"a line must be a JSON object, not {type(line).__name__}")
    return text, line


def _one_document(content: bytes) -> bool:
    """Whether the whole file is one JSON value spread over lines (a flow graph, say), whose
    lines happen to include one that reads as an object on its own."""
    try:
        json.loads(content)
    except (ValueError, RecursionError):
        return False
    return True


def read_recording(path: str | os.PathLike[str]) -> Recording:
    """Read a recording file; skip (and count) the lines that cannot be used.

    A line ``{"t": …, "data": "…"}`` (or ``"b64"``) is a recorded frame; any other JSON object
    is a plain frame at ``t = 0`` (the plain JSON Lines form). A first line with
    ``"flowrx": "recording/1"`` is the header. Lines end at ``\\n`` only (a frame's text may
    hold U+2028 and the like).

    A line that is not UTF-8, not JSON (a truncated last line, nesting too deep to read), not an
    object, a misplaced or foreign header, or a frame with a bad ``t`` (negative, NaN, infinite,
    beyond :data:`MAX_T`) or ``data`` is skipped: the good lines are kept and one warning names
    every skipped line by number. Raises :class:`NotARecording` when no line is usable (an empty
    file too) or the file is one JSON document over several lines, and :class:`RecordingError` when
    the file cannot be read.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            content = fh.read()
    except FileNotFoundError:
        raise RecordingError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise RecordingError(f"{name}: is a directory, not a recording") from None
    except OSError as exc:
        raise RecordingError(f"{name}: cannot read ({exc.strerror or exc})") from None
    header: dict[str, Any] | None = None
    frames: list[RecordedFrame] = []
    problems: list[str] = []
    skipped = 0
    usable = False
    for number, raw in enumerate(content.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            text, line = _line(raw.removesuffix(b"\r"), number == 1)
            if "flowrx" in line:
                if line["flowrx"] != RECORDING_SCHEMA or usable:
                    raise _BadLine(
                        f"unexpected header {repr(line['flowrx'])[:40]} (want "
                        f"{RECORDING_SCHEMA!r} on the first line)"
                    )
                header = line
            elif "data" in line or "b64" in line:
                frames.append(_frame(line))
            else:
                frames.append(RecordedFrame(0.0, text))
            usable = True
        except _BadLine as bad:
            skipped += 1
            if len(problems) < _PROBLEMS_SHOWN:
                problems.append(f"line {number}: {bad}")
    if not usable:
        why = f" ({problems[0]})" if problems else " (the file is empty)"
        raise NotARecording(f"{name}: not a recording{why}")
    if problems and problems[0].startswith("line 1:") and _one_document(content):
        raise NotARecording(f"{name}: not a recording (one JSON document, not one per line)")
    if skipped:
        more = f" and {skipped - len(problems)} more" if skipped > len(problems) else ""
        logger.warning(
            "recording {name}: skipped {skipped} bad line(s): {problems}{more}",
            name=printable(name),
            skipped=skipped,
            problems="; ".join(problems),
            more=more,
        )
    return Recording(tuple(frames), header, skipped, tuple(problems))


def replay(
    frames: Sequence[RecordedFrame],
    scheduler: abc.SchedulerBase,
    speed: float = 1.0,
    *,
    bursts: bool = False,
) -> Observable[Any]:
    """Emit each frame's text at ``t / speed`` after subscription, on ``scheduler``.

    Frames are scheduled one after another (never all at once), so a long recording holds one
    pending timer, and disposing stops the replay. With ``bursts``, the frames of one instant
    (two or more with the same ``t``) are emitted together as one list, which
    :func:`flowrx.connect` takes as one batch. Raises ``ValueError`` for a speed that is not a
    positive number, or so slow that a frame would be due beyond any scheduler's clock.
    """
    if not 0 < speed < math.inf:
        raise ValueError(f"speed must be a positive number, got {speed}")
    frames = tuple(frames)
    latest = max((f.t for f in frames), default=0.0)
    if latest / speed > _MAX_DELAY:  # beyond what a scheduler's datetime clock can hold
        raise ValueError(
            f"speed {speed:g} is too slow: the last frame would be due in {latest / speed:.3g} s"
        )

    def subscribe(
        observer: abc.ObserverBase[Any], _: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        start = scheduler.now
        items = list(frames)
        # one slot holds the next step: no chain of disposables that disposing would recurse
        serial = SerialDisposable()

        def emit(sched: abc.SchedulerBase, index: Any) -> None:
            i: int = index
            while i < len(items):
                if bursts:  # the frames of this instant, together
                    end = i + 1
                    while end < len(items) and items[end].t <= items[i].t:
                        end += 1
                    instant = [item.data for item in items[i:end]]
                    observer.on_next(instant if len(instant) > 1 else instant[0])
                    i = end
                else:
                    observer.on_next(items[i].data)
                    i += 1
                if i < len(items) and items[i].t > items[i - 1].t:
                    due = scheduler.to_timedelta(items[i].t / speed)
                    serial.disposable = sched.schedule_absolute(start + due, emit, i)
                    return
            observer.on_completed()

        if not items:
            observer.on_completed()
            return serial
        first = scheduler.to_timedelta(items[0].t / speed)
        serial.disposable = scheduler.schedule_absolute(start + first, emit, 0)
        return serial

    return reactivex.create(subscribe)
