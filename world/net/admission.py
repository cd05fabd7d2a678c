"""Who may open a connection, finish a handshake or create an account: caps per address and in all.

Sans-I/O bookkeeping for the network edge. The server asks `refuse_upgrade` when a WebSocket
request arrives (a refusal becomes HTTP 503 with the reason), tells it when a connection
opens, finishes its `hello` and closes, and asks `allow_account` before a `hello` without a
token creates an account. Addresses in `exempt` (127.0.0.1 and ::1 by default, where the
operator's own bots and tests run) skip every cap but the total of connections.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from dataclasses import dataclass

from world.net.limits import TokenBucket


@dataclass(frozen=True)
class AdmissionLimits:
    max_connections: int            # open WebSocket connections, all addresses
    max_connections_per_ip: int
    max_handshakes: int             # connections that have not finished their hello, all addresses
    max_handshakes_per_ip: int
    accounts_per_ip_per_minute: int  # 0 = no limit
    exempt: frozenset[str]


def normalise_address(host: str) -> str:
    """One spelling per address (an IPv4-mapped IPv6 address counts as its IPv4 address)."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def parse_exempt(text: str) -> frozenset[str]:
    return frozenset(normalise_address(a.strip()) for a in text.split(",") if a.strip())


class Admission:
    """Counts per address; every `opened` is matched by exactly one `closed`."""

    def __init__(self, limits: AdmissionLimits) -> None:
        self.limits = limits
        self.connections: Counter[str] = Counter()
        self.handshakes: Counter[str] = Counter()
        self.total_connections = 0
        self.total_handshakes = 0
        self.tcp: Counter[str] = Counter()
        self.total_tcp = 0
        self.refused: Counter[str] = Counter()           # reason key -> refusals so far
        self._accounts: dict[str, TokenBucket] = {}
        self._accounts_swept = time.monotonic()

    def exempt(self, address: str) -> bool:
        return address in self.limits.exempt

    def refuse_upgrade(self, address: str) -> tuple[str, str] | None:
        """(reason key, message) if a new connection from `address` must be refused now."""
        lim = self.limits
        if self.total_connections >= lim.max_connections:
            return self._refuse("connections", "the server has too many connections; try again later")
        if not self.exempt(address):
            if self.total_handshakes >= lim.max_handshakes:
                return self._refuse("handshakes", "too many connections are joining at once; try again shortly")
            if self.connections[address] >= lim.max_connections_per_ip:
                return self._refuse("connections_per_ip", "too many connections from your address")
            if self.handshakes[address] >= lim.max_handshakes_per_ip:
                return self._refuse("handshakes_per_ip", "too many connections from your address are joining at once")
        return None

    def _refuse(self, key: str, msg: str) -> tuple[str, str]:
        self.refused[key] += 1
        return key, msg

    def opened(self, address: str) -> None:
        """A connection was admitted to the upgrade; it is joining until `joined` or `closed`."""
        self.connections[address] += 1
        self.handshakes[address] += 1
        self.total_connections += 1
        self.total_handshakes += 1

    def joined(self, address: str) -> None:
        """Its hello was answered (welcome or refusal): it no longer counts as joining."""
        self._drop(self.handshakes, address)
        self.total_handshakes -= 1

    def closed(self, address: str) -> None:
        """An admitted connection ended (after `joined`, which the caller settles first)."""
        self._drop(self.connections, address)
        self.total_connections -= 1

    # TCP connections before any HTTP: each costs a descriptor and buffers even if it never
    # sends a request. Far beyond what could still be admitted, they are dropped at once.
    def tcp_opened(self, address: str) -> bool:
        """Count a new TCP connection; False if it should be dropped without an answer."""
        self.tcp[address] += 1
        self.total_tcp += 1
        lim = self.limits
        if self.total_tcp > lim.max_connections + lim.max_handshakes:
            self.refused["tcp"] += 1
            return False
        if not self.exempt(address) and \
                self.tcp[address] > 2 * (lim.max_connections_per_ip + lim.max_handshakes_per_ip):
            self.refused["tcp_per_ip"] += 1
            return False
        return True

    def tcp_closed(self, address: str) -> None:
        self._drop(self.tcp, address)
        self.total_tcp -= 1

    @staticmethod
    def _drop(counter: Counter[str], address: str) -> None:
        counter[address] -= 1
        if counter[address] <= 0:
            del counter[address]

    def allow_account(self, address: str, now: float | None = None) -> bool:
        """Take one account creation from the address's bucket (refills over a minute)."""
        per_minute = self.limits.accounts_per_ip_per_minute
        if per_minute <= 0 or self.exempt(address):
            return True
        now = time.monotonic() if now is None else now
        if now - self._accounts_swept > 60.0:       # full buckets carry no information: drop them
            self._accounts_swept = now
            for key in [k for k, b in self._accounts.items() if b.tokens + (now - b.stamp) * b.rate >= b.burst]:
                del self._accounts[key]
        bucket = self._accounts.get(address)
        if bucket is None:
            bucket = self._accounts[address] = TokenBucket(per_minute / 60.0, float(per_minute), now)
        if bucket.take(now=now):
            return True
        self.refused["accounts_per_ip"] += 1
        return False

    def stats(self) -> dict[str, object]:
        return {"connections": self.total_connections, "joining": self.total_handshakes, "tcp": self.total_tcp,
                "addresses": len(self.connections), "refused": dict(self.refused)}
