"""``partition_by``: each item offered once to each branch's predicate; batches split per
branch; a raising predicate costs its branch that item and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from reactivex.subject import Subject

from flowrx.operators._partition import partition_by


def _wire(*accepts: Any) -> tuple[Subject[Any], list[list[Any]], list[Any], list[str]]:
    source: Subject[Any] = Subject()
    errors: list[Any] = []
    part = partition_by(list(accepts), [lambda e, i: errors.append((str(e), i))] * len(accepts))(
        source
    )
    seen: list[list[Any]] = [[] for _ in accepts]
    ends: list[str] = []
    for got, branch in zip(seen, part.branches, strict=True):
        branch.subscribe(
            got.append, lambda e: ends.append(f"error {e}"), lambda: ends.append("done")
        )
    part.connect()
    return source, seen, errors, ends


def _node(m: Any) -> bool:
    return bool(m.startswith("n"))


def _chat(m: Any) -> bool:
    return bool(m.startswith("c"))


def test_each_item_reaches_exactly_the_branches_that_take_it() -> None:
    """A node event goes to the node branch, a chat event to the chat branch, in order."""
    source, seen, _, ends = _wire(_node, _chat)
    for item in [("n1", 0.0), ("c1", 0.1), ("n2", 0.2)]:
        source.on_next(item)
    source.on_completed()
    assert seen == [[("n1", 0.0), ("n2", 0.2)], [("c1", 0.1)]]
    assert ends == ["done", "done"]


def test_a_batch_is_split_and_a_batch_of_one_travels_alone() -> None:
    """A burst gives each branch the batch of what it takes; one item alone is not a list."""
    source, seen, _, _ = _wire(_node, _chat)
    source.on_next([("n1", 0.0), ("c1", 0.0), ("n2", 0.0)])
    assert seen == [[[("n1", 0.0), ("n2", 0.0)]], [("c1", 0.0)]]


def test_a_raising_predicate_costs_its_branch_the_item_and_nothing_else() -> None:
    """The chat predicate raises on one item: it is reported, the node branch still gets
    everything it takes, and the chat branch goes on with the next items."""

    def fussy(m: Any) -> bool:
        if m == "c-bad":
            raise ValueError("bad")
        return _chat(m)

    source, seen, errors, _ = _wire(_node, fussy)
    source.on_next(("c-bad", 0.0))
    source.on_next([("n1", 0.1), ("c-bad", 0.1), ("c2", 0.1)])
    source.on_next(("c3", 0.2))
    assert seen[0] == [("n1", 0.1)]
    assert seen[1] == [("c2", 0.1), ("c3", 0.2)]
    assert [e for e, _ in errors] == ["bad", "bad"]


def test_nothing_is_read_before_connect_and_errors_reach_every_branch() -> None:
    """The source is subscribed at connect (a cold source plays to every branch); its error
    ends each branch."""
    source: Subject[Any] = Subject()
    part = partition_by([_node, _chat], [lambda e, i: None] * 2)(source)
    assert not source.observers
    ends: list[str] = []
    for branch in part.branches:
        branch.subscribe(on_error=lambda e: ends.append(str(e)))
    part.connect()
    source.on_error(RuntimeError("gone"))
    assert ends == ["gone", "gone"]


def test_one_error_callback_per_predicate_is_required() -> None:
    """A mismatched wiring is refused at once."""
    with pytest.raises(ValueError, match="one error callback per predicate"):
        partition_by([_node], [])
