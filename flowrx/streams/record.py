"""Record a live stream as ``flowrx/recording/1``: exact frame text and its time.

:class:`Recorder` opens the file at once (so that a path that cannot be written is reported
before anything connects), writes the header line when the recording begins (:meth:`begin`,
or the first frame), then one line per frame, ``{"t": seconds since the first frame, "data":
exact text}`` (``"b64"`` for a binary frame), and flushes each line so that an interrupted
recording is still a valid file. Lines are ASCII JSON (any string, even a lone surrogate,
round-trips). The source URL in the header has its token redacted.

A write that fails (a full disk) raises :class:`OSError` to the caller, once: the recorder then
counts as failed (:attr:`error`), ignores later frames, and :meth:`close` does not raise the
same error again, so a host reports it once and stops cleanly.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from typing import IO

__all__ = ["Recorder"]


class Recorder:
    """Append frames to a recording file as they arrive."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        source: str | None = None,
        note: str = "",
        protocol: str | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self._file: IO[str] = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        self._first: float | None = None
        self._header: Mapping[str, object] | None = {
            "flowrx": "recording/1",
            "note": note,
            "source": source,
        }
        if protocol is not None:  # the platform's recordings keep the header they always had
            self._header = {**self._header, "protocol": protocol}
        self.frames = 0
        self.error: OSError | None = None
        """The first write error; after it nothing more is written."""

    @property
    def begun(self) -> bool:
        """True once the header is written."""
        return self._header is None

    def _write(self, line: Mapping[str, object]) -> None:
        if self.error is not None:
            return
        try:
            self._file.write(json.dumps(line) + "\n")
            self._file.flush()
        except OSError as exc:
            self.error = exc
            raise

    def begin(self) -> None:
        """Write the header line (once; the first frame does it too)."""
        header, self._header = self._header, None
        if header is not None:
            self._write(header)

    def write(self, frame: str | bytes | list[str | bytes], now: float) -> None:
        """Record one frame received at ``now`` (any clock in seconds; the first frame is 0);
        a burst (a list of frames handed on at once) is recorded frame by frame."""
        if type(frame) is list:
            for each in frame:
                self.write(each, now)
            return
        if self.error is not None:
            return
        self.begin()
        if self._first is None:
            self._first = now
        t = round(now - self._first, 6)
        if isinstance(frame, bytes | bytearray):
            self._write({"t": t, "b64": base64.b64encode(bytes(frame)).decode("ascii")})
        else:
            self._write({"t": t, "data": frame})
        self.frames += 1

    def close(self) -> None:
        """Close the file (after a write error, without raising it again)."""
        try:
            self._file.close()
        except OSError as exc:
            if self.error is None:
                self.error = exc
                raise
