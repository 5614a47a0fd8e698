"""Every duration and bound of the behaviour spec, as one frozen value.

Protocols (dedupe window, run limit), concerns (display windows, the watchdog) and the pipeline
(health) read their parameters from one :class:`Config`, so a test or a host changes a rule's
timing in one place and nothing is a module constant.
"""

from __future__ import annotations

import attrs

__all__ = ["Config"]


@attrs.frozen
class Config:
    """Every duration and bound of the behaviour spec, as parameters (seconds)."""

    end_window: float = 0.5
    """How long a node keeps ``executing`` after its ``end_node`` before showing its status."""
    clear_margin: float = 0.1
    """How long run_end's clear waits after the last pending status transition."""
    tool_window: float = 2.0
    """The minimum tool glow, from ``start_tool``."""
    max_runs: int = attrs.field(default=50, validator=attrs.validators.ge(1))
    """Runs held by every concern; the oldest is evicted whole when one more starts."""
    stall_after: float = 120.0
    """A running run with no frame for this long is marked ``stalled``."""
    dedupe_window: float = 0.1
    """Byte-identical frames (other than node and chat frames) within this window are duplicates."""
    degraded_after: int = 5
    """A concern whose last this-many events all failed is reported ``degraded``."""
    max_state_size: int = attrs.field(default=1_000_000, validator=attrs.validators.ge(2))
    """A run's shared agent state document may hold this many characters of JSON text; an
    update that would make it larger does not apply (a few ``copy`` operations can double a
    document each: without a bound, a small patch could fill the memory)."""
