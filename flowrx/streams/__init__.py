"""Sources and intake: replay of recordings, and the intake that parses, deduplicates per run,
counts every frame once and evicts old runs, before the messages are shared with the concerns.
"""

__all__: list[str] = []
