"""``direct`` observables behave as ``reactivex.create``'s do, minus the per-item layer."""

from __future__ import annotations

from typing import Any

import pytest
import reactivex
from reactivex import abc, operators
from reactivex.disposable import Disposable
from reactivex.subject import Subject
from reactivex.testing import ReactiveTest, TestScheduler

from flowrx.operators._direct import direct


def _relay(source: Subject[int], log: list[str]) -> Any:
    """A producer that forwards the subject and records when its subscription is disposed."""

    def subscribe(observer: abc.ObserverBase[int], _: Any = None) -> abc.DisposableBase:
        inner = source.subscribe(
            lambda x: observer.on_next(x), observer.on_error, observer.on_completed
        )

        def dispose() -> None:
            log.append("disposed")
            inner.dispose()

        return Disposable(dispose)

    return subscribe


def _holding(log: list[str]) -> tuple[Any, list[abc.ObserverBase[int]]]:
    """A producer that keeps the observer it is handed (to emit by hand) and logs disposal."""
    held: list[abc.ObserverBase[int]] = []

    def subscribe(observer: abc.ObserverBase[int], _: Any = None) -> abc.DisposableBase:
        held.append(observer)
        return Disposable(lambda: log.append("disposed"))

    return subscribe, held


@pytest.mark.parametrize("make", [direct, reactivex.create], ids=["direct", "create"])
def test_a_direct_observable_delivers_what_a_created_one_delivers(make: Any) -> None:
    """Items, then completion, in virtual time, exactly as reactivex.create's observable."""
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        ReactiveTest.on_next(210, 1), ReactiveTest.on_next(220, 2), ReactiveTest.on_completed(230)
    )

    def subscribe(observer: abc.ObserverBase[int], _: Any = None) -> abc.DisposableBase:
        return xs.subscribe(lambda x: observer.on_next(x * 10), None, observer.on_completed)

    results = scheduler.start(lambda: make(subscribe).pipe(operators.map(lambda x: x + 1)))
    assert results.messages == [
        ReactiveTest.on_next(210, 11),
        ReactiveTest.on_next(220, 21),
        ReactiveTest.on_completed(230),
    ]


@pytest.mark.parametrize("end", ["completed", "error"])
def test_nothing_reaches_a_stopped_subscriber_and_its_subscription_is_disposed(end: str) -> None:
    """After completion or an error, later items are ignored and the producer is torn down."""
    log: list[str] = []
    seen: list[object] = []
    subscribe, held = _holding(log)
    direct(subscribe).subscribe(seen.append, seen.append, lambda: seen.append("done"))
    held[0].on_next(1)
    boom = ValueError("boom")
    if end == "completed":
        held[0].on_completed()
    else:
        held[0].on_error(boom)
    held[0].on_next(2)  # a misbehaving producer emits after the end
    assert seen == [1, "done" if end == "completed" else boom]
    assert log == ["disposed"]


def test_disposing_stops_items_at_once_and_tears_the_producer_down() -> None:
    """Dispose: the producer's subscription goes, and an item already in flight is ignored."""
    log: list[str] = []
    seen: list[int] = []
    subscribe, held = _holding(log)
    subscription = direct(subscribe).subscribe(seen.append)
    held[0].on_next(1)
    subscription.dispose()
    held[0].on_next(2)
    assert seen == [1]
    assert log == ["disposed"]


def test_a_subscribe_function_that_raises_reports_to_on_error() -> None:
    """As with reactivex.create: the exception goes to the subscriber's on_error."""
    errors: list[Exception] = []

    def subscribe(observer: abc.ObserverBase[int], _: Any = None) -> abc.DisposableBase:
        raise RuntimeError("cannot subscribe")

    direct(subscribe).subscribe(on_error=errors.append)
    assert [str(e) for e in errors] == ["cannot subscribe"]


def test_an_observer_object_is_accepted_as_well_as_callbacks() -> None:
    """Subscribing an observer uses its three methods, like Observable.subscribe."""
    source: Subject[int] = Subject()
    seen: list[object] = []

    class Recorder(abc.ObserverBase[int]):
        def on_next(self, value: int) -> None:
            seen.append(value)

        def on_error(self, error: Exception) -> None:
            seen.append(error)

        def on_completed(self) -> None:
            seen.append("done")

    direct(_relay(source, [])).subscribe(Recorder())
    source.on_next(5)
    source.on_completed()
    assert seen == [5, "done"]


def test_the_subscriber_callback_is_called_with_no_layer_between() -> None:
    """The observer handed to the producer has the subscriber's callback as its on_next."""
    held: list[abc.ObserverBase[int]] = []

    def subscribe(observer: abc.ObserverBase[int], _: Any = None) -> abc.DisposableBase:
        held.append(observer)
        return Disposable()

    def callback(value: int) -> None:
        pass

    direct(subscribe).subscribe(callback)
    assert held[0].on_next is callback
