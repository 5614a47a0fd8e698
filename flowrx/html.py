"""Sanitising untrusted HTML before any sink renders it (behaviour §6, ``ChatHTML``).

Flows produce ``ChatHTML`` frames whose ``html_content`` is untrusted: a flow author, or text an
agent was tricked into writing, decides what is in it. :func:`sanitise_html` passes it through
`nh3 <https://nh3.readthedocs.io/>`_, the Python binding of the maintained Rust sanitiser
*ammonia*, instead of hand-written regexes (which every browser quirk defeats). With nh3's
defaults the result has:

* no ``<script>`` or ``<style>`` elements, content included, and no other tag outside an
  allow-list of ordinary formatting tags (``b``, ``i``, ``p``, lists, tables, headings,
  ``code``, ``pre``, ``a``, ``img``, ...);
* no event-handler attributes (``onerror=``, ``onclick=``, ...) and no ``style``; only
  per-tag allowed attributes (``href`` on links, ``src``/``alt`` on images, ...);
* no ``javascript:`` (or other non-allowed scheme) URLs, however they are spelt; links get
  ``rel="noopener noreferrer"``;
* comments removed, and stray ``<``/``&`` in text escaped.

Any string is accepted: lone UTF-16 surrogates (which no HTML can carry, and which nh3 refuses)
become U+FFFD first, as a browser would show them. The function is pure and keeps no state.
Callers keep the raw text alongside if the host needs it (the chat concern does).

>>> sanitise_html('<b onclick="x()">hi</b><script>alert(1)</script>')
'<b>hi</b>'
"""

from __future__ import annotations

import nh3

from flowrx._text import replaced

__all__ = ["sanitise_html"]


def sanitise_html(text: str) -> str:
    """``text`` with everything that could run code removed; ordinary formatting and links kept.

    >>> sanitise_html('<a href="javascript:alert(1)">x</a>')
    '<a rel="noopener noreferrer">x</a>'
    """
    return nh3.clean(replaced(text))
