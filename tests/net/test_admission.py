"""Admission bookkeeping without sockets: caps per address and in all, exemptions, account buckets."""

from __future__ import annotations

from world.net.admission import Admission, AdmissionLimits, normalise_address, parse_exempt


def admission(**kw) -> Admission:
    limits = dict(max_connections=10, max_connections_per_ip=3, max_handshakes=5, max_handshakes_per_ip=2,
                  accounts_per_ip_per_minute=2, exempt=parse_exempt("127.0.0.1,::1"))
    limits.update(kw)
    return Admission(AdmissionLimits(**limits))


def test_per_address_joining_cap_then_connection_cap():
    a = admission()
    for _ in range(2):
        assert a.refuse_upgrade("10.0.0.1") is None
        a.opened("10.0.0.1")
    assert a.refuse_upgrade("10.0.0.1")[0] == "handshakes_per_ip"
    assert a.refuse_upgrade("10.0.0.2") is None          # another address is not affected
    a.joined("10.0.0.1")
    a.opened("10.0.0.1")
    a.joined("10.0.0.1")
    a.joined("10.0.0.1")
    assert a.refuse_upgrade("10.0.0.1")[0] == "connections_per_ip"
    a.closed("10.0.0.1")
    assert a.refuse_upgrade("10.0.0.1") is None
    assert a.refused == {"handshakes_per_ip": 1, "connections_per_ip": 1}


def test_totals_apply_to_everyone_but_exempt_addresses_skip_the_joining_total():
    a = admission(max_handshakes=2, max_connections=3)
    for addr in ("10.0.0.1", "10.0.0.2"):
        a.opened(addr)
    assert a.refuse_upgrade("10.0.0.3")[0] == "handshakes"
    assert a.refuse_upgrade("127.0.0.1") is None
    a.opened("127.0.0.1")
    assert a.refuse_upgrade("127.0.0.1")[0] == "connections"


def test_counts_return_to_zero_and_forget_addresses():
    a = admission()
    a.opened("10.0.0.1")
    a.joined("10.0.0.1")
    a.closed("10.0.0.1")
    assert a.total_connections == a.total_handshakes == 0
    assert not a.connections and not a.handshakes


def test_tcp_far_past_the_caps_is_dropped_without_an_answer():
    a = admission(max_connections=100)
    allowed = [a.tcp_opened("10.0.0.9") for _ in range(12)]
    assert allowed.count(True) == 2 * (3 + 2) and allowed[-1] is False
    assert all(a.tcp_opened("127.0.0.1") for _ in range(12))
    for _ in range(12):
        a.tcp_closed("10.0.0.9")
    assert "10.0.0.9" not in a.tcp
    b = admission(max_connections=4, max_handshakes=1)        # the total applies to everyone
    assert [b.tcp_opened("127.0.0.1") for _ in range(6)] == [True] * 5 + [False]


def test_accounts_per_address_refill_over_a_minute():
    a = admission()
    assert a.allow_account("10.0.0.1", now=0.0) and a.allow_account("10.0.0.1", now=0.1)
    assert not a.allow_account("10.0.0.1", now=0.2)
    assert a.allow_account("10.0.0.2", now=0.2)
    assert a.allow_account("10.0.0.1", now=30.5)            # 2 per minute: one back after 30 s
    assert all(a.allow_account("::1", now=1.0) for _ in range(10))


def test_address_spellings_count_as_one():
    assert normalise_address("::ffff:10.1.2.3") == "10.1.2.3"
    assert normalise_address("fe80::1%eth0") == "fe80::1"
    assert parse_exempt(" 127.0.0.1 , ::ffff:127.0.0.1,") == frozenset({"127.0.0.1"})
