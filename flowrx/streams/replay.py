"""Replay: read ``flowrx/recording/1`` (or plain JSON Lines) and play it on a scheduler.

:func:`read_recording` loads the file into :class:`RecordedFrame` values (exact frame text and
its time ``t``); :func:`replay` turns them into an observable that emits each frame at
``t / speed`` after subscription, on the scheduler it is given. With a
:class:`~flowrx.operators.clock.VirtualClock` the whole recording runs in virtual time
(``--instant``): nothing waits, yet every display window and timer fires at its recorded
moment.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Sequence
from typing import Any

import attrs
import reactivex
from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable

__all__ = [
    "RecordedFrame",
    "Recording",
    "RecordingError",
    "read_recording",
    "replay",
]

RECORDING_SCHEMA = "recording/1"


class RecordingError(ValueError):
    """A recording that cannot be read; the message is one line naming the file and line."""


@attrs.frozen
class RecordedFrame:
    """One frame as it came: seconds since the first frame, and its exact text (or bytes)."""

    t: float
    data: str | bytes


@attrs.frozen
class Recording:
    """A recording's header (if any) and frames, in file order."""

    frames: tuple[RecordedFrame, ...]
    header: dict[str, Any] | None = None

    @property
    def duration(self) -> float:
        """Time of the last frame."""
        return max((f.t for f in self.frames), default=0.0)


def _frame(line: dict[str, Any], where: str) -> RecordedFrame:
    t = line.get("t", 0.0)
    if isinstance(t, bool) or not isinstance(t, int | float) or t < 0:
        raise RecordingError(f"{where}: t must be a non-negative number, got {t!r}")
    if "data" in line:
        data = line["data"]
        if not isinstance(data, str):
            raise RecordingError(f"{where}: data must be the frame's text")
        return RecordedFrame(float(t), data)
    try:
        return RecordedFrame(float(t), base64.b64decode(line["b64"], validate=True))
    except (binascii.Error, TypeError, ValueError) as exc:
        raise RecordingError(f"{where}: b64 is not base64 ({exc})") from None


def read_recording(path: str | os.PathLike[str]) -> Recording:
    """Read a recording file; raise :class:`RecordingError` (one line) if it is unusable.

    A line ``{"t": …, "data": "…"}`` (or ``"b64"``) is a recorded frame; any other JSON object
    is a plain frame at ``t = 0`` (the plain JSON Lines form). A first line with
    ``"flowrx": "recording/1"`` is the header.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        raise RecordingError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise RecordingError(f"{name}: is a directory, not a recording") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{name}: cannot read ({exc})") from None
    header: dict[str, Any] | None = None
    frames: list[RecordedFrame] = []
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        where = f"{name}:{number}"
        try:
            line = json.loads(text)
        except ValueError:
            raise RecordingError(f"{where}: not JSON") from None
        if not isinstance(line, dict):
            raise RecordingError(f"{where}: a line must be a JSON object")
        if "flowrx" in line:
            if line["flowrx"] != RECORDING_SCHEMA or frames or header is not None:
                raise RecordingError(
                    f"{where}: unexpected header {line['flowrx']!r} (want {RECORDING_SCHEMA!r} "
                    "on the first line)"
                )
            header = line
            continue
        if "data" in line or "b64" in line:
            frames.append(_frame(line, where))
        else:
            frames.append(RecordedFrame(0.0, text))
    return Recording(tuple(frames), header)


def replay(
    frames: Sequence[RecordedFrame], scheduler: abc.SchedulerBase, speed: float = 1.0
) -> Observable[str | bytes]:
    """Emit each frame's text at ``t / speed`` after subscription, on ``scheduler``.

    Frames are scheduled one after another (never all at once), so a long recording holds one
    pending timer, and disposing stops the replay.
    """
    if speed <= 0:
        raise ValueError(f"speed must be positive, got {speed}")

    def subscribe(
        observer: abc.ObserverBase[str | bytes], _: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        start = scheduler.now
        items = list(frames)
        # one slot holds the next step: no chain of disposables that disposing would recurse
        serial = SerialDisposable()

        def emit(sched: abc.SchedulerBase, index: Any) -> None:
            i: int = index
            while i < len(items):
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
