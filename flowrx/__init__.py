"""flowrx: a flow editor's live execution-event stream as crash-proof UI state, on RxPY.

One observable of frames is parsed, deduplicated and routed into per-concern pipelines
(visual, store, lifecycle, tool, chat, interaction, group, state), each a pure reducer in a
guarded ``scan`` with its timers on an injected scheduler, so a failure costs one event in one
concern.

>>> from flowrx import connect, VirtualClock, replay, read_recording  # doctest: +SKIP
"""

from loguru import logger

from flowrx.concerns.effects import Change
from flowrx.config import Config
from flowrx.graph import FlowGraph, GraphError, load_graph
from flowrx.messages import parse
from flowrx.operators.clock import VirtualClock
from flowrx.pipeline import connect
from flowrx.sinks.snapshot import dump_snapshot
from flowrx.sinks.state import FlowState
from flowrx.streams.replay import RecordingError, read_recording, replay

__all__ = [
    "Change",
    "Config",
    "FlowGraph",
    "FlowState",
    "GraphError",
    "RecordingError",
    "VirtualClock",
    "connect",
    "dump_snapshot",
    "load_graph",
    "parse",
    "read_recording",
    "replay",
]

__version__ = "0.1.0"

logger.disable("flowrx")
