"""Slow clients at the HTTP layer: deadlines for a request's headers and body, and connections per address."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Iterable

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


def guarded_protocol(header_s: float, body_idle_s: float, per_address: int,
                     exempt: Iterable[str] = ()) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the bounds uvicorn lacks, for one server (give it as ``Config(http=...)``).

    uvicorn waits for a request's headers and body as long as the client keeps the connection open (its
    keep-alive timeout ends with the first byte), so a client sending a byte now and then, or declaring a body
    it never sends, holds a connection and a task forever.

    Args:
        header_s: a request's headers must be complete this many seconds after the connection opens (or after
            the previous response); else the connection is closed.
        body_idle_s: while a request's body is read, the connection is closed after this many seconds without
            a byte (time the app itself is not reading does not count).
        per_address: connections one client address may hold open; more are closed at once.
        exempt: addresses without a cap on connections (the share tunnel and the proxies the operator names:
            their clients all share one address).
    Returns:
        The protocol class.
    """
    exempt_addresses = frozenset(exempt)
    open_per_address: Counter[str] = Counter()

    class GuardedH11Protocol(H11Protocol):
        _timer: asyncio.TimerHandle | None = None
        _phase: str | None = None
        _address: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            address = self.client[0] if self.client else None
            if address is not None and address not in exempt_addresses:
                if open_per_address[address] >= per_address:
                    log.warning("refused a connection from %s: it holds %d open already", address, per_address)
                    transport.close()
                    return
                open_per_address[address] += 1
                self._address = address
            self._watch()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop()
            self._release()
            super().connection_lost(exc)

        def _release(self) -> None:
            if self._address is not None:
                open_per_address[self._address] -= 1
                if open_per_address[self._address] <= 0:
                    del open_per_address[self._address]
                self._address = None

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch(fresh_data=True)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch()

        def handle_websocket_upgrade(self, event: h11.Request) -> None:
            # The websocket protocol takes the connection over (this one hears no connection_lost): uncounted.
            self._stop()
            self._release()
            self._phase = "websocket"
            super().handle_websocket_upgrade(event)

        def _stop(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _watch(self, fresh_data: bool = False) -> None:
            if self.transport.is_closing() or self._phase == "websocket":
                self._stop()
                return
            state = self.conn.their_state
            if state is h11.IDLE:  # waiting for a request's headers: one deadline, not renewed by data
                if self._phase != "headers":
                    self._stop()
                    self._phase = "headers"
                    self._timer = self.loop.call_later(header_s, self._expired, "headers")
            elif state is h11.SEND_BODY:  # reading a body: renewed by each byte
                if self._phase != "body" or fresh_data:
                    self._stop()
                    self._phase = "body"
                    self._timer = self.loop.call_later(body_idle_s, self._expired, "body")
            else:
                self._stop()
                self._phase = None

        def _expired(self, phase: str) -> None:
            self._timer = None
            if self._phase != phase or self.transport.is_closing():
                return
            if phase == "body" and self.flow.read_paused:  # the app is not reading: not the client's delay
                self._timer = self.loop.call_later(body_idle_s, self._expired, "body")
                return
            limit = header_s if phase == "headers" else body_idle_s
            log.info("closed a connection from %s: %s", self.client[0] if self.client else "?",
                     f"its request headers were not complete within {limit:g} s" if phase == "headers"
                     else f"its request body sent nothing for {limit:g} s")
            self.transport.close()

    return GuardedH11Protocol
