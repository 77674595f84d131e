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


@contextmanager
def event_scope(admit_within_s: float | None = None) -> Iterator[None]:
    """Embedding and tokenising inside this block stop (``hybrid.gate.Cancelled``) when the client of the Gradio
    event running it leaves; ``admit_within_s`` as for ``hybrid.gate.embedding_scope``. Outside a queued event
    nothing is cancelled."""
    from gradio.context import LocalContext

    queue = getattr(LocalContext.blocks.get(None), "_queue", None)
    event_id = LocalContext.event_id.get(None)
    cancel = EventGone(queue, event_id) if queue is not None and event_id else None
    with embedding_scope(cancel, admit_within_s):  # type: ignore[arg-type]
        yield
