"""Recent decisions by request id, so explicit feedback can reach the policy that chose.

Bounded in count (LRU) and in age (TTL): memory cannot grow without limit, and feedback for
a request older than the TTL is answered 'unknown request'.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from extproc.decision.model import Decision


@dataclass(frozen=True, slots=True)
class Remembered:
    decision: Decision
    at: float  # monotonic


class DecisionMemory:
    def __init__(self, max_entries: int = 100_000, ttl_s: float = 3600.0) -> None:
        if max_entries < 1 or ttl_s <= 0:
            raise ValueError("max_entries must be >= 1 and ttl_s > 0")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._entries: OrderedDict[str, Remembered] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, request_id: str, decision: Decision, now: float | None = None) -> None:
        if not request_id:
            return
        entries = self._entries
        entries[request_id] = Remembered(decision, time.monotonic() if now is None else now)
        entries.move_to_end(request_id)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)

    def recall(self, request_id: str, now: float | None = None) -> Decision | None:
        entry = self._entries.get(request_id)
        if entry is None:
            return None
        now = time.monotonic() if now is None else now
        if now - entry.at > self.ttl_s:
            del self._entries[request_id]
            return None
        return entry.decision

    def expire(self, now: float | None = None) -> int:
        """Drop entries past the TTL (oldest first); returns how many."""
        now = time.monotonic() if now is None else now
        entries = self._entries
        dropped = 0
        while entries:
            key, entry = next(iter(entries.items()))
            if now - entry.at <= self.ttl_s:
                break
            del entries[key]
            dropped += 1
        return dropped
