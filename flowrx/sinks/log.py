"""Log sink: every failure named by concern, event, run and node, with its traceback.

flowrx logs through ``loguru`` under the name ``flowrx``. As a library it leaves loguru's
handlers alone and is disabled by default (loguru's advice for libraries); call
``logger.enable("flowrx")`` to see its lines. The CLI enables it on stderr.

Each record is bound with ``concern``, ``event``, ``run`` and ``node`` extras so that a sink can
filter on them (``logger.add(..., filter=lambda r: r["extra"].get("concern") == "visual")``).

Text from the wire (ids, event names, reasons, errors) goes into messages and extras through
:func:`~flowrx._text.printable`: a control character, line separator, bidirectional
override or lone surrogate is shown as its backslash escape, so every line is one line of
UTF-8 text whatever a frame held (a file sink cannot fail on it, a terminal cannot be driven
by it).
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from flowrx._text import printable
from flowrx.operators.concern import Failure
from flowrx.protocols.card import Notice

__all__ = [
    "log_failure",
    "log_graph_problems",
    "log_hook_failure",
    "log_notice",
    "log_sink_failure",
]

_NOTICE_LEVEL = {
    "rejected": "INFO",
    "unknown_event": "WARNING",
    "duplicate": "DEBUG",
    "late": "DEBUG",
    "evicted": "DEBUG",
    "source_failed": "ERROR",
}


def _p(value: Any) -> Any:
    """A wire value made printable (``None`` and numbers pass as they are)."""
    return printable(value) if isinstance(value, str) else value


def _r(error: BaseException | None) -> str:
    """An error's repr made printable (a host's exception may hold any text)."""
    try:
        return printable(repr(error))
    except Exception:  # an exception whose repr fails is still named
        return f"<{type(error).__name__}>"


def log_failure(failure: Failure) -> None:
    """Log one concern failure once, with its traceback."""
    event, run, node = _p(failure.event), _p(failure.run_id), _p(failure.node_id)
    logger.bind(concern=failure.concern, event=event, run=run, node=node).opt(
        exception=failure.error
    ).error(
        "{concern} failed on {event} (run={run}, node={node}): {error}",
        concern=failure.concern,
        event=event,
        run=run,
        node=node,
        error=_r(failure.error),
    )


def log_sink_failure(concern: str, sink: str, error: BaseException) -> None:
    """Log a failing sink of a concern (the sink is isolated; the concern carries on)."""
    logger.bind(concern=concern, sink=_p(sink)).opt(exception=error).error(
        "sink {sink} of {concern} failed: {error}", sink=_p(sink), concern=concern, error=_r(error)
    )


def log_hook_failure(hook: str, run_id: str, attempt: int, error: BaseException | None) -> None:
    """Log a failing or timed-out host hook attempt."""
    what = "timed out" if error is None else f"failed: {_r(error)}"
    log = logger.bind(concern="hooks", event=hook, run=_p(run_id), node=None)
    if error is not None:
        log = log.opt(exception=error)
    log.error(
        "hook {hook} (run={run}) attempt {attempt} {what}",
        hook=hook,
        run=_p(run_id),
        attempt=attempt,
        what=what,
    )


def log_notice(notice: Notice) -> None:
    """Log an intake notice at its level (unknown event names once, at warning)."""
    run = _p(notice.run_id)
    logger.bind(concern="intake", event=notice.kind, run=run, node=None).log(
        _NOTICE_LEVEL.get(notice.kind, "DEBUG"),
        "intake {kind}: {detail} (run={run})",
        kind=notice.kind,
        detail=_p(notice.detail),
        run=run,
    )


def log_graph_problems(problems: tuple[str, ...]) -> None:
    """Report each problem of a flow graph (a cycle, a node in two groups) once, at warning."""
    for problem in problems:
        logger.bind(concern="graph", event="problem", run=None, node=None).warning(
            "flow graph: {problem}", problem=_p(problem)
        )
