"""Per-connection rate limits: token buckets per message class, plus a strike bucket for abuse."""

from __future__ import annotations

import time


class TokenBucket:
    """`rate` tokens per second up to `burst`; take() is False when empty."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float | None = None) -> None:
        self.rate, self.burst, self.tokens = rate, burst, burst
        self.stamp = time.monotonic() if now is None else now

    def take(self, cost: float = 1.0, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


class Limits:
    """The buckets of one connection (or one agent): classes input, chat, request; strikes; error echo."""

    def __init__(self, rates: dict[str, tuple[float, float]], strikes: tuple[float, float],
                 errors_shown: float) -> None:
        self.buckets = {name: TokenBucket(*rb) for name, rb in rates.items()}
        self.strikes = TokenBucket(*strikes)
        self.shown = TokenBucket(errors_shown, errors_shown)

    def allow(self, rate_class: str) -> bool:
        return self.buckets[rate_class].take()

    def strike(self) -> bool:
        """Record a violation; False means abuse has persisted and the connection should close."""
        return self.strikes.take()

    def show_error(self) -> bool:
        """Whether to send a rate_limited error now (they are themselves rate limited)."""
        return self.shown.take()
