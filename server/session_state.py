"""Gradio's per-session state, evicted fairly: a full server drops a session of the client holding the most."""

from __future__ import annotations

import collections
import time

from gradio.state_holder import StateHolder

from .access import is_loopback

# Owners remembered beyond the sessions held (claims of sessions whose state Gradio has not made yet, or never
# will: a refused event); above this many times the capacity, those without state are forgotten, unless claimed
# in the last CLAIM_GRACE_S (an event still waiting in the queue keeps its owner).
OWNERS_PER_SESSION = 4
CLAIM_GRACE_S = 120.0
# At most this many sessions hold state for one client, and for the anonymous clients of one address together
# (each browser of an open server is an anonymous client, and a new one costs a request; not loopback, whence
# every visitor of a share link comes through its tunnel): a client naming more
# loses its least recently used one, whether or not the server is full. A session can hold tens of MB (a
# knowledge base, its vectors, the values of its events), so without a share one client could fill the memory
# before the server's capacity made anyone lose a session.
SESSIONS_PER_CLIENT = 16
SESSIONS_PER_ADDRESS = 64


class FairStateHolder(StateHolder):
    """Gradio's ``StateHolder`` whose eviction is fair between clients: when more than ``capacity`` sessions hold
    state, the client holding the most sessions loses its least recently used one (Gradio drops the least recently
    used of all). A client minting session ids (each costs one request) then pushes out its own sessions, not other
    visitors' knowledge bases; to push out a visitor holding one session it needs as many clients as the server keeps
    sessions, and new clients are rate-limited (``HYBRID_LOGIN_RATE``).

    Sessions are owned by the client that first named them (``claim``); sessions nobody claimed count as one client.
    A client holds at most ``SESSIONS_PER_CLIENT`` sessions, the anonymous clients of one address together
    ``SESSIONS_PER_ADDRESS``: beyond, it loses its own least recently used one, even on a server with room.
    """

    def __init__(self) -> None:
        super().__init__()
        self.owners: dict[str, str] = {}
        self._addresses: dict[str, str] = {}  # the address of each session an anonymous client claimed
        self._claimed: dict[str, float] = {}  # when each owner was recorded
        self._prune_at = 0

    def claim(self, session_hash: str, client: str, address: str | None = None) -> None:
        """Record ``client`` as the owner of ``session_hash`` unless it already has one.

        Args:
            session_hash: the session id a request named.
            client: the client it came from (``server.access.client_bucket``).
            address: the client's address when it is anonymous (its sessions count toward the address's share).
        """
        now = time.monotonic()
        with self.lock:
            if session_hash not in self.owners:
                self.owners[session_hash], self._claimed[session_hash] = client, now
                if address is not None and not is_loopback(address):  # a share link's tunnel: every visitor
                    self._addresses[session_hash] = address
            floor = OWNERS_PER_SESSION * max(self.capacity, 1)
            if len(self.owners) > max(floor, self._prune_at):
                kept = {s for s in self.owners
                        if s in self.session_data or now - self._claimed.get(s, now) < CLAIM_GRACE_S}
                self.owners = {s: c for s, c in self.owners.items() if s in kept}
                self._claimed = {s: t for s, t in self._claimed.items() if s in kept}
                self._addresses = {s: a for s, a in self._addresses.items() if s in kept}
                self._prune_at = 2 * len(self.owners)  # young claims kept: the next pass waits for twice as many

    def owner(self, session_hash: str) -> str | None:
        """The client that owns ``session_hash``; None if none claimed it."""
        return self.owners.get(session_hash)

    def update(self, session_id: str) -> None:
        with self.lock:
            if session_id in self.session_data:
                self.session_data.move_to_end(session_id)
            while (victim := self._over_share(session_id)) is not None:
                self._drop(victim)
            while len(self.session_data) > self.capacity:
                victim = self._victim(keep=session_id)
                if victim is None:
                    break
                self._drop(victim)

    def _drop(self, session: str) -> None:
        self.session_data.pop(session, None)
        self.time_last_used.pop(session, None)
        self.owners.pop(session, None)
        self._claimed.pop(session, None)
        self._addresses.pop(session, None)

    def _over_share(self, keep: str) -> str | None:
        """The least recently used other session of ``keep``'s client when that client holds more than
        ``SESSIONS_PER_CLIENT``, or of its address's anonymous clients when they hold more than
        ``SESSIONS_PER_ADDRESS``; else None."""
        for table, share in ((self.owners, SESSIONS_PER_CLIENT), (self._addresses, SESSIONS_PER_ADDRESS)):
            group = table.get(keep)
            if group is None:
                continue
            held = [s for s in self.session_data if table.get(s) == group]  # least recently used first
            if len(held) > share:
                return next(s for s in held if s != keep)
        return None

    def _victim(self, keep: str) -> str | None:
        """The least recently used session of the client holding the most (ties: the client whose least recently
        used session is the oldest), never ``keep``, the session being used."""
        held: dict[str | None, list[str]] = collections.defaultdict(list)
        age: dict[str | None, int] = {}
        for rank, session in enumerate(self.session_data):  # least recently used first
            client = self.owners.get(session)
            held[client].append(session)
            age.setdefault(client, rank)
        candidates = [c for c, sessions in held.items() if any(s != keep for s in sessions)]
        if not candidates:
            return None
        client = max(candidates, key=lambda c: (len(held[c]), -age[c]))
        return next(s for s in held[client] if s != keep)


def install(gradio_app, blocks) -> FairStateHolder:
    """Give a mounted Gradio app (and its Blocks) a ``FairStateHolder`` before it holds any session.

    Args:
        gradio_app: Gradio's ``App`` (``gr.mount_gradio_app`` made it).
        blocks: its Blocks (``state_session_capacity`` is the capacity).
    Returns:
        The holder, whose ``claim`` the guard of Gradio's routes calls.
    """
    holder = FairStateHolder()
    holder.set_blocks(blocks)  # also sets blocks.state_holder, and the capacity
    gradio_app.state_holder = holder
    return holder
