"""Jupyter live view: an ``ipywidgets.HTML`` widget redrawn from a :class:`FlowState`.

:class:`LiveView` subscribes to the state's ``changes`` and re-renders
:func:`~flowrx.sinks.html_view.render_html` of the state's snapshot into its widget, throttled
to at most one render per ``refresh`` seconds of wall time (``time.monotonic``). There is no
thread: a change renders inline when a render is due; a change that arrives sooner only marks
the view stale, and the next due change, :meth:`LiveView.update` or :meth:`LiveView.close`
draws it. Give ``scheduler`` (the pipeline's own, e.g. the notebook loop's
``AsyncIOScheduler``) to have a stale view redrawn by itself once the throttle allows.

``ipywidgets`` is an optional extra (``pip install 'flowrx[jupyter]'``): it is imported only
when a view is created, so ``import flowrx`` (and this module) never needs it. A render that
fails shows a red line in the widget (logged) instead of raising into the pipeline.

In a notebook::

    view = LiveView(state)
    view            # the last expression of a cell shows the widget
"""

from __future__ import annotations

import html
import importlib
from datetime import timedelta
from time import monotonic
from typing import Any, Final

from loguru import logger
from reactivex import abc

from flowrx.concerns.effects import Change
from flowrx.sinks.html_view import render_html
from flowrx.sinks.state import FlowState

__all__ = ["MISSING_EXTRA", "LiveView"]

MISSING_EXTRA: Final = (
    "flowrx's Jupyter view needs the optional extra: pip install 'flowrx[jupyter]'"
)


def _ipywidgets() -> Any:
    """The ``ipywidgets`` module, or an :class:`ImportError` naming the extra to install."""
    try:
        return importlib.import_module("ipywidgets")
    except ImportError as exc:
        raise ImportError(MISSING_EXTRA) from exc


class LiveView:
    """A live HTML view of one :class:`FlowState` in Jupyter (an ``ipywidgets.HTML``)."""

    def __init__(
        self,
        state: FlowState,
        *,
        title: str = "flowrx",
        refresh: float = 0.25,
        scheduler: abc.SchedulerBase | None = None,
    ) -> None:
        if not refresh >= 0:
            raise ValueError(f"refresh must be zero or positive seconds, got {refresh}")
        widgets = _ipywidgets()
        self.state = state
        self.title = title
        self.refresh = refresh
        self.renders = 0
        """How many times the widget was redrawn."""
        self._scheduler = scheduler
        self._trailing: abc.DisposableBase | None = None
        self._last: float | None = None
        self._stale = False
        self._closed = False
        self._widget: Any = widgets.HTML(value=self._render())
        self._last = monotonic()
        self._subscription: abc.DisposableBase | None = state.changes.subscribe(self._on_change)

    @property
    def widget(self) -> Any:
        """The ``ipywidgets.HTML`` widget (show it, or put it in a layout)."""
        return self._widget

    @property
    def closed(self) -> bool:
        """True after :meth:`close`: the view no longer follows the state."""
        return self._closed

    def update(self) -> None:
        """Redraw now, whatever the throttle says."""
        self._cancel_trailing()
        self._stale = False
        self._widget.value = self._render()
        self._last = monotonic()

    def close(self) -> None:
        """Stop following the state, after drawing its latest state once more (the widget
        stays on screen); safe to call twice."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.dispose()
        if not self._closed:
            self._closed = True
            self.update()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Jupyter shows the view as its widget."""
        return self._widget._repr_mimebundle_(**kwargs)

    def __enter__(self) -> LiveView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals -----------------------------------------------------------------------------

    def _cancel_trailing(self) -> None:
        trailing, self._trailing = self._trailing, None
        if trailing is not None:
            trailing.dispose()

    def _render(self) -> str:
        try:
            self.renders += 1
            return render_html(self.state.snapshot(), self.state.view_graph, title=self.title)
        except Exception as exc:  # a bug in the view must not break the pipeline
            logger.opt(exception=exc).error("Jupyter view failed to render: {error!r}", error=exc)
            shown = html.escape(f"view failed to render: {exc!r}")
            return f'<div class="flowrx-view" style="color: #d93b3b">{shown}</div>'

    def _due_in(self) -> float:
        """Seconds until a render is allowed (0 or less: now)."""
        if self._last is None:
            return 0.0
        return self.refresh - (monotonic() - self._last)

    def _on_change(self, _: Change) -> None:
        if self._closed:
            return
        wait = self._due_in()
        if wait <= 0:
            self.update()
            return
        if self._stale:
            return  # a redraw is already owed (and scheduled, if there is a scheduler)
        self._stale = True
        if self._scheduler is not None:
            self._trailing = self._scheduler.schedule_relative(
                timedelta(seconds=wait), self._trailing_render
            )

    def _trailing_render(self, _: abc.SchedulerBase, __: Any = None) -> None:
        self._trailing = None
        if self._stale and not self._closed:
            self.update()
