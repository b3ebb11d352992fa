"""Failed credentials, throttled per client: the sixth failure within a minute locks the client out until the
oldest of them is a minute old. Guessing an operator token or a console login costs a minute per five guesses.

Memory is bounded: a client keeps at most `limit` timestamps, and past `max_clients` the client seen least
recently is forgotten (an attacker with that many addresses gets no more guesses per address than anyone).
"""

import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field

FAILURES_PER_WINDOW = 5
WINDOW_SECONDS = 60.0
MAX_CLIENTS = 100_000


@dataclass
class FailureThrottle:
    limit: int = FAILURES_PER_WINDOW
    window: float = WINDOW_SECONDS
    max_clients: int = MAX_CLIENTS
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def retry_after(self, client: str, now: float) -> int | None:
        """Seconds until `client` may try again, or None when it may try now."""
        failures = self._failures.get(client)
        if failures is None or len(failures) < self.limit:
            return None
        wait = failures[0] + self.window - now
        if wait <= 0:
            return None
        return max(1, math.ceil(wait))

    def fail(self, client: str, now: float) -> None:
        """Record one failed attempt of `client` at `now` (seconds, monotonic)."""
        failures = self._failures.pop(client, None) or deque(maxlen=self.limit)
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        failures.append(now)
        self._failures[client] = failures
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)
