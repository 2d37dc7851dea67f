"""A fake clock, so tests that poll or back off never wait for real."""

from __future__ import annotations

import threading


class FakeClock:
    """Injected time: sleeping advances it instantly and is recorded."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = float(start)
        self.sleeps: list[float] = []
        # The fake server reads the clock from its request threads.
        self._lock = threading.Lock()

    def time(self) -> float:
        """Epoch seconds (wall clock)."""
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        """The same value as time(): tests never sleep for real, so both move together."""
        return self.time()

    def sleep(self, seconds: float) -> None:
        """Advance by `seconds` at once and record the request."""
        if seconds < 0:
            # time.sleep rejects negatives too; a negative here is a caller bug.
            raise ValueError("sleep length must be non-negative")
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep (time passing outside the code)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._now += seconds
