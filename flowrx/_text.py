"""Text from the wire made writable: flowrx's encoding policy for everything it writes.

Any JSON string can arrive in a frame, including lone UTF-16 surrogates (``"\\ud83d"`` alone:
an emoji split between two chunks by a producer that slices UTF-16 units). Python keeps such a
string, but no UTF-8 file, pipe or terminal can take it: writing it raises. So, wherever flowrx
writes text:

* surrogates that form a pair, when two pieces are joined again (the halves of one emoji in
  two chat chunks), become the character they encode (:func:`join_surrogates`);
* **JSON** (snapshots) writes a lone surrogate that is left as its escape ``\\udxxx``: valid
  JSON that reads back as the same string (:func:`json_text`);
* **log lines** show every character that is not printable (controls such as ESC, line
  separators, bidirectional overrides, lone surrogates) as a backslash escape, so a frame can
  neither forge a log line nor retitle or clear a terminal (:func:`printable`);
* **HTML** replaces a lone surrogate with U+FFFD, as a browser would (:func:`replaced`).

Text without surrogates (nearly all of it) is returned unchanged, found by one C-speed search.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["join_surrogates", "json_text", "one_line", "printable", "replaced"]

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def one_line(text: str, limit: int = 200) -> str:
    """``text`` as one line for a person (what a server said, an exception's message): its
    whitespace runs as single spaces, cut at ``limit`` characters with ``...``."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit] + "..."


def join_surrogates(text: str) -> str:
    """``text`` with each high surrogate followed by a low one joined into its character."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_text(text: str) -> str:
    """JSON text (as ``json.dumps(..., ensure_ascii=False)`` writes it) made UTF-8 writable:
    surrogate pairs joined, lone surrogates written as their ``\\udxxx`` escapes."""
    if _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub(_json_escape, join_surrogates(text))


def replaced(text: str) -> str:
    """``text`` with surrogate pairs joined and every lone surrogate replaced by U+FFFD."""
    if _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub("\ufffd", join_surrogates(text))


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{code:02x}")
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` for one log line: every character Python does not call printable (controls,
    line and paragraph separators, format characters such as bidirectional overrides, lone
    surrogates) shown as its backslash escape; a backslash itself stays as it is."""
    text = join_surrogates(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)
