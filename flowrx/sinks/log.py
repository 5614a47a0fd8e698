"""Log sink: every failure named by concern, event, run and node, with its traceback.

flowrx logs through ``loguru`` under the name ``flowrx``. As a library it leaves loguru's
handlers alone and is disabled by default (loguru's advice for libraries); call
``logger.enable("flowrx")`` to see its lines. The CLI enables it on stderr.

Each record is bound with ``concern``, ``event``, ``run`` and ``node`` extras so that a sink can
filter on them (``logger.add(..., filter=lambda r: r["extra"].get("concern") == "visual")``).
"""

from __future__ import annotations

from loguru import logger

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


def log_failure(failure: Failure) -> None:
    """Log one concern failure once, with its traceback."""
    logger.bind(
        concern=failure.concern, event=failure.event, run=failure.run_id, node=failure.node_id
    ).opt(exception=failure.error).error(
        "{concern} failed on {event} (run={run}, node={node}): {error!r}",
        concern=failure.concern,
        event=failure.event,
        run=failure.run_id,
        node=failure.node_id,
        error=failure.error,
    )


def log_sink_failure(concern: str, sink: str, error: BaseException) -> None:
    """Log a failing sink of a concern (the sink is isolated; the concern carries on)."""
    logger.bind(concern=concern, sink=sink).opt(exception=error).error(
        "sink {sink} of {concern} failed: {error!r}", sink=sink, concern=concern, error=error
    )


def log_hook_failure(hook: str, run_id: str, attempt: int, error: BaseException | None) -> None:
    """Log a failing or timed-out host hook attempt."""
    what = "timed out" if error is None else f"failed: {error!r}"
    log = logger.bind(concern="hooks", event=hook, run=run_id, node=None)
    if error is not None:
        log = log.opt(exception=error)
    log.error(
        "hook {hook} (run={run}) attempt {attempt} {what}",
        hook=hook,
        run=run_id,
        attempt=attempt,
        what=what,
    )


def log_notice(notice: Notice) -> None:
    """Log an intake notice at its level (unknown event names once, at warning)."""
    logger.bind(concern="intake", event=notice.kind, run=notice.run_id, node=None).log(
        _NOTICE_LEVEL.get(notice.kind, "DEBUG"),
        "intake {kind}: {detail} (run={run})",
        kind=notice.kind,
        detail=notice.detail,
        run=notice.run_id,
    )


def log_graph_problems(problems: tuple[str, ...]) -> None:
    """Report each problem of a flow graph (a cycle, a node in two groups) once, at warning."""
    for problem in problems:
        logger.bind(concern="graph", event="problem", run=None, node=None).warning(
            "flow graph: {problem}", problem=problem
        )
