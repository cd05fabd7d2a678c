"""Server configuration: one dataclass, loaded from TOML with AGORA_* environment overrides."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8765
    data: str = "agora-data"
    world: str = "plaza"
    # Simulation
    tick_hz: int = 30
    interest_radius: float = 40.0     # metres: an entity enters your view inside this radius
    interest_margin: float = 4.0      # ... and leaves it only beyond radius + margin (hysteresis)
    interest_cap: int = 128           # most entities one client knows at once (nearest kept)
    near_radius: float = 10.0         # changed entities this close are sent every tick
    snapshot_budget: int = 640        # bytes of records per client per tick (near and new ones exceed it)
    max_update_interval: int = 10     # ticks a changed entity in view waits at most for an update
    crowd_observers: int = 300        # above this many clients in one space, each client gets
    crowd_phases: int = 2             # ... a snapshot every crowd_phases ticks (staggered, budget x phases)
    parallel_entities: int = 0        # spaces with at least this many entities serve snapshots on numba's
                                      # threads (NUMBA_NUM_THREADS); 0 = never (one core each, steadier
                                      # when other processes share the cores)
    hearing_radius: float = 20.0      # metres: who hears near chat and emotes
    walk_speed: float = 3.0           # m/s
    run_speed: float = 6.0            # m/s
    avatar_radius: float = 0.3        # metres
    capacity: int = 0                 # per instance; 0 = the world file's value
    max_instances: int = 64
    # Transport
    transport_max_frame: int = 64 * 1024   # hard limit: larger frames close the connection (1009)
    hello_timeout: float = 10.0
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    close_timeout: float = 2.0
    write_limit: int = 256 * 1024           # bytes buffered in the kernel/transport before send() waits
    outbox_max: int = 1024                  # queued reliable messages before a client is "too slow"
    stall_timeout: float = 10.0             # seconds the socket may take no bytes before TCP is dropped
    socket_send_buffer: int = 64 * 1024     # SO_SNDBUF per client (0 = the kernel's autotuning, which
                                            # can hide a stalled reader behind megabytes of buffer)
    # The network edge: caps that keep a flood from crowding out real users (0 = no account limit)
    max_connections: int = 4096             # open WebSocket connections, all addresses
    max_connections_per_ip: int = 32
    max_handshakes: int = 512               # connections that have not finished their hello
    max_handshakes_per_ip: int = 8
    accounts_per_ip_per_minute: int = 20    # hellos without a token (new accounts)
    exempt_addresses: str = "127.0.0.1,::1"  # skip the per-address caps (the operator's own bots)
    prehello_max_bytes: int = 64 * 1024     # bytes one connection may send before its welcome
    listen_backlog: int = 1024              # pending TCP connections the kernel holds for us
    origins: str = ""                       # allowed browser Origin values, comma-separated; "" = any
    companions: bool = True                 # people may summon personal companions
    # Rate limits: (per second, burst)
    rate_input: tuple[float, float] = (60.0, 120.0)
    rate_chat: tuple[float, float] = (3.0, 10.0)
    rate_request: tuple[float, float] = (20.0, 40.0)
    rate_errors_shown: float = 5.0          # rate_limited errors sent per second, at most
    strikes: tuple[float, float] = (5.0, 50.0)  # violations per second, burst, before close 4005
    # Agents
    agents: str = "guide,barista"           # stationed personas spawned in each instance ("" = none)
    brain: str = "local"                    # local | openai | scripted (a persona file may override)
    agent_thought_timeout: float = 30.0     # seconds one thought (queue + phrasing) may take
    agent_max_per_space: int = 40
    agent_phrasing_queue: int = 3           # lines at most in (or waiting for) one brain; more say their draft
    # Persistence
    synchronous: str = "FULL"
    position_save_s: float = 5.0
    log_json: bool = False
    stats_every_s: float = 10.0

    @property
    def data_dir(self) -> Path:
        return Path(self.data)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "agora.sqlite3"


def _coerce(value: str, current: Any) -> Any:
    if isinstance(current, bool):
        return value.lower() in ("1", "true", "yes", "on")
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, tuple):
        return tuple(float(v) for v in value.split(","))
    return value


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
                **overrides: Any) -> Config:
    """Defaults < TOML file < AGORA_<FIELD> environment variables < explicit overrides."""
    cfg = Config()
    known = {f.name for f in fields(Config)}
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        cfg = replace(cfg, **{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
    env = os.environ if env is None else env
    from_env = {}
    for name in known:
        key = "AGORA_" + name.upper()
        if key in env:
            from_env[name] = _coerce(env[key], getattr(cfg, name))
    cfg = replace(cfg, **from_env)
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
