"""Wire formats: one pure module per protocol, turning its frames into flowrx's messages.

A protocol module decodes frames and keeps the per-run accounting its format needs (dedupe,
counting, eviction) as a pure reducer over frozen state; it imports no Rx and no I/O.
``platform`` reads the flow editor's own execution stream.
"""

__all__: list[str] = []
