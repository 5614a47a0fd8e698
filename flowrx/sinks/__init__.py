"""Sinks: the state handle and stores, the snapshot writer, the log sink and host hooks.

Nothing here can hurt the pipeline: a failing sink or hook is isolated, logged and counted.
"""

__all__: list[str] = []
