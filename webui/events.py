"""A Gradio event's work stops when its client leaves: an embedding scope cancelled once Gradio drops the event."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from hybrid.gate import embedding_scope


class EventGone:
    """A cancel flag (``is_set()``, as ``threading.Event``) that is set once Gradio no longer runs event
    ``event_id`` for a client.

    When a page's or an API client's event stream closes, Gradio's queue drops the session's waiting events and
    marks its running ones not ``alive``, but lets the running function go on; this flag reads that mark.
    """

    def __init__(self, queue: Any, event_id: str) -> None:
        self._queue = queue
        self._event_id = event_id

    def is_set(self) -> bool:
        """Whether the event's client has gone."""
        for job in list(self._queue.active_jobs):
            for event in job or ():
                if event._id == self._event_id:
                    return not event.alive
        return False


class RequestGone:
    """A cancel flag (``is_set()``) for an event run inside its own HTTP request (``/gradio_api/run/NAME``, not
    queued): set once that request's client has disconnected. Read from the event's worker thread (started by
    anyio, as Gradio runs a function), through the event loop."""

    def __init__(self, request: Any) -> None:
        self._request = request

    def is_set(self) -> bool:
        """Whether the request's client has gone."""
        import anyio.from_thread

        try:
            return bool(anyio.from_thread.run(self._request.is_disconnected))
        except Exception:  # noqa: BLE001 - not in an event loop's worker thread, or no channel: nothing to ask
            return False


@contextmanager
def event_scope(admit_within_s: float | None = None) -> Iterator[None]:
    """Embedding and tokenising inside this block stop (``hybrid.gate.Cancelled``) when the client of the Gradio
    event running it leaves (a queued event's stream closes, or the request of an unqueued one); ``admit_within_s``
    as for ``hybrid.gate.embedding_scope``. Outside an event nothing is cancelled."""
    from gradio.context import LocalContext

    queue = getattr(LocalContext.blocks.get(None), "_queue", None)
    event_id = LocalContext.event_id.get(None)
    http = getattr(LocalContext.request.get(None), "request", None)  # the fastapi request of a gr.Request
    cancel: EventGone | RequestGone | None = None
    if queue is not None and event_id:
        cancel = EventGone(queue, event_id)
    elif http is not None and hasattr(http, "is_disconnected"):
        cancel = RequestGone(http)
    with embedding_scope(cancel, admit_within_s):  # type: ignore[arg-type]
        yield
