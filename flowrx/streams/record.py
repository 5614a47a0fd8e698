"""Record a live stream as ``flowrx/recording/1``: exact frame text and its time.

:class:`Recorder` writes the optional header line, then one line per frame,
``{"t": seconds since the first frame, "data": exact text}`` (``"b64"`` for a binary frame), and
flushes each line so that an interrupted recording is still a valid file. The source URL in the
header has its token redacted.
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
        self, path: str | os.PathLike[str], *, source: str | None = None, note: str = ""
    ) -> None:
        self.path = os.fspath(path)
        self._file: IO[str] = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        self._first: float | None = None
        self.frames = 0
        header = {"flowrx": "recording/1", "note": note, "source": source}
        self._write(header)

    def _write(self, line: Mapping[str, object]) -> None:
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._file.flush()

    def write(self, frame: str | bytes, now: float) -> None:
        """Record one frame received at ``now`` (any clock in seconds; the first frame is 0)."""
        if self._first is None:
            self._first = now
        t = round(now - self._first, 6)
        if isinstance(frame, bytes | bytearray):
            self._write({"t": t, "b64": base64.b64encode(bytes(frame)).decode("ascii")})
        else:
            self._write({"t": t, "data": frame})
        self.frames += 1

    def close(self) -> None:
        """Close the file."""
        self._file.close()
