"""Server configuration: one dataclass, loaded from TOML < AGORA_* environment < flags.

Every value is checked against its field's type and the ALLOWED table as it is read, so a
bad one is reported once, naming the field, where it came from and what is allowed.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

from world.store.schema import SYNCHRONOUS


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
    orders_demo_ready_s: float = 0.0        # > 0: a demo, placed orders become ready by themselves after this
                                            # many seconds; 0: staff mark them (`agora orders ready ID`)
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


class ConfigError(Exception):
    """A configuration the server cannot start with; str() is one line for the user."""

    def __init__(self, code: str, message: str, field: str | None = None, source: str | None = None) -> None:
        super().__init__(message)
        self.code = code            # bad_value | unknown_key | bad_file | no_endpoint
        self.field = field
        self.source = source


class Allowed(NamedTuple):
    """What a field accepts beyond its type: numbers from `low` to `high` (`low` itself
    excluded when `above`), or one of `choices` (any case; stored as spelled here)."""
    low: float | None = None
    high: float | None = None
    above: bool = False
    choices: tuple[str, ...] = ()


POSITIVE = Allowed(0, above=True)
NON_NEGATIVE = Allowed(0)

# A number (or tuple of numbers) missing here must be >= 0: counts, sizes, seconds and metres.
# Tuples: the range applies to each element.
ALLOWED: dict[str, Allowed] = {
    "port": Allowed(0, 65535),
    "tick_hz": Allowed(1, 1000),            # past 1 kHz a tick is shorter than the loop's own overhead
    "interest_radius": POSITIVE,
    "interest_cap": Allowed(1),
    "snapshot_budget": Allowed(1),
    "max_update_interval": Allowed(1),
    "crowd_phases": Allowed(1),
    "hearing_radius": POSITIVE,
    "walk_speed": POSITIVE,
    "run_speed": POSITIVE,
    "avatar_radius": POSITIVE,
    "max_instances": Allowed(1),
    "transport_max_frame": Allowed(1),
    "hello_timeout": POSITIVE,
    "ping_interval": POSITIVE,
    "ping_timeout": POSITIVE,
    "write_limit": Allowed(1),
    "outbox_max": Allowed(1),
    "stall_timeout": POSITIVE,
    "rate_input": POSITIVE,
    "rate_chat": POSITIVE,
    "rate_request": POSITIVE,
    "strikes": POSITIVE,
    "agent_thought_timeout": POSITIVE,
    "brain": Allowed(choices=("local", "openai", "scripted")),
    "synchronous": Allowed(choices=SYNCHRONOUS),
    "position_save_s": POSITIVE,
    "stats_every_s": POSITIVE,
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


class _Rejected(Exception):
    """A value that is not of its field's type or outside what ALLOWED says."""


@functools.cache
def _hints() -> dict[str, Any]:
    return typing.get_type_hints(Config)


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _is_number(hint: Any) -> bool:
    if typing.get_origin(hint) is tuple:
        return all(_is_number(a) for a in typing.get_args(hint) if a is not Ellipsis)
    return hint in (int, float)


def _allowed(name: str, hint: Any) -> Allowed:
    return ALLOWED.get(name) or (NON_NEGATIVE if _is_number(hint) else Allowed())


def _scalar(value: Any, hint: Any, text: bool) -> Any:
    """`value` as `hint`. Text (environment, flags) is parsed; TOML values must have the type already."""
    if text and isinstance(value, str) and hint is not str:
        value = value.strip()
        try:
            if hint is bool:
                if value.lower() in _TRUE + _FALSE:
                    return value.lower() in _TRUE
                raise _Rejected
            if hint is int:
                return int(value)
            if hint is float:
                out = float(value)
                if not math.isfinite(out):      # nan passes no comparison; inf breaks the grids
                    raise _Rejected
                return out
        except ValueError:
            raise _Rejected from None
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Rejected
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Rejected
        if hint is int and not isinstance(value, int):
            raise _Rejected
        if hint is float and not math.isfinite(value):
            raise _Rejected
        return hint(value)
    if hint is str and not isinstance(value, str):
        raise _Rejected
    return value        # str, or a type this loader does not know: taken as given


def _in_range(value: Any, allowed: Allowed) -> Any:
    if allowed.choices:
        for choice in allowed.choices:
            if isinstance(value, str) and value.strip().lower() == choice.lower():
                return choice
        raise _Rejected
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = allowed.low, allowed.high
        if low is not None and (value < low or (allowed.above and value == low)):
            raise _Rejected
        if high is not None and value > high:
            raise _Rejected
    return value


def _convert(name: str, value: Any, text: bool) -> Any:
    hint, optional = _unwrap_optional(_hints()[name])
    if optional and (value is None or (text and value == "" and hint is not str)):
        return None
    allowed = _allowed(name, hint)
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        items = value.split(",") if text and isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise _Rejected
        each = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if each is None and len(items) != len(args):
            raise _Rejected
        return tuple(_in_range(_scalar(v, each or args[i], text), allowed) for i, v in enumerate(items))
    return _in_range(_scalar(value, hint, text), allowed)


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def expected(name: str, text: bool = True) -> str:
    """What field `name` accepts, in words (`text`: as typed in the environment or a flag, else in TOML)."""
    hint, optional = _unwrap_optional(_hints()[name])
    allowed = _allowed(name, hint)
    if allowed.choices:
        return "one of " + ", ".join(allowed.choices)
    bounds = ""
    if allowed.low is not None and allowed.high is not None:
        bounds = f" from {_number(allowed.low)} to {_number(allowed.high)}"
    elif allowed.low is not None:
        bounds = f" {'>' if allowed.above else '>='} {_number(allowed.low)}"
    elif allowed.high is not None:
        bounds = f" <= {_number(allowed.high)}"
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        variable = len(args) == 2 and args[1] is Ellipsis
        noun = {int: "integers", float: "finite numbers", str: "strings", bool: "booleans"}.get(args[0], "values")
        default = getattr(Config(), name)
        example = ",".join(_number(v) if isinstance(v, (int, float)) else str(v) for v in default) if text \
            else "[" + ", ".join(repr(v) for v in default) + "]"
        shape = "comma-separated" if text else "an array"
        return f"{'any number of' if variable else len(args)} {noun}{bounds} ({shape}, e.g. {example})"
    noun = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}.get(hint, str(hint))
    if hint is bool and text:
        noun += " (or 1/0, yes/no, on/off)"
    return noun + bounds + (" (or empty for none)" if optional and text else "")


def _take(name: str, value: Any, source: str, text: bool) -> Any:
    try:
        return _convert(name, value, text)
    except _Rejected:
        raise ConfigError("bad_value", f"bad {name} {value!r} from {source}: expected {expected(name, text)}",
                          field=name, source=source) from None


def _read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    source = f"config file {os.fspath(path)}"
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError("bad_file", f"cannot read {source}: {exc.strerror or exc}", source=source) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("bad_file", f"{source} is not valid TOML: {exc}", source=source) from None
    known = [f.name for f in fields(Config)]
    unknown = [k for k in data if k not in known]
    if unknown:
        named = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            named.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError("unknown_key", f"unknown key{'s' if len(unknown) > 1 else ''} in {source}: "
                          f"{', '.join(named)}; settings are the fields of world.config.Config",
                          field=unknown[0], source=source)
    return {k: _take(k, v, source, text=False) for k, v in data.items()}


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None,
                **overrides: Any) -> Config:
    """Defaults < TOML file < AGORA_<FIELD> environment variables < explicit overrides (the CLI's flags).

    Raises ConfigError for an unreadable file, an unknown key in it, or a value (from any of
    the three) that its field does not allow. Overrides that are None are not given."""
    cfg = Config()
    if path:
        cfg = replace(cfg, **_read_file(path))
    env = os.environ if env is None else env
    from_env = {}
    for f in fields(Config):
        key = "AGORA_" + f.name.upper()
        if key in env:
            from_env[f.name] = _take(f.name, env[key], f"environment variable {key}", text=True)
    cfg = replace(cfg, **from_env)
    flags = {k: _take(k, v, f"flag --{k.replace('_', '-')}", text=isinstance(v, str))
             for k, v in overrides.items() if v is not None and k in _hints()}
    unknown = {k: v for k, v in overrides.items() if v is not None and k not in _hints()}
    return replace(cfg, **flags, **unknown)      # an unknown override is a caller's bug: replace() says so


def require_brain_endpoint(cfg: Config, env: Mapping[str, str] | None = None) -> None:
    """Refuse `brain = openai` without an endpoint the operator chose: the OpenAI client's default
    is a hosted service, and people's chat must not go there by omission."""
    env = os.environ if env is None else env
    if cfg.brain != "openai":
        return
    if env.get("AGORA_OPENAI_BASE_URL") or env.get("OPENAI_BASE_URL"):
        return
    raise ConfigError("no_endpoint", "brain 'openai' needs AGORA_OPENAI_BASE_URL, the OpenAI-compatible endpoint "
                      "to send agents' prompts to (e.g. http://127.0.0.1:8080/v1 for a local llama.cpp server); "
                      "refusing to default to a hosted one", field="brain")


def is_loopback(host: str) -> bool:
    """True when `host` can be reached only from this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False        # a host name: it may resolve to any interface
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def exposure_notice(cfg: Config) -> str | None:
    """The warning for a server other machines can reach (None when it binds loopback only)."""
    if is_loopback(cfg.host):
        return None
    name = cfg.host.strip()
    where = (f"every interface ({name or 'all addresses'})" if name in ("", "0.0.0.0", "::")
             else f"{name}, not a loopback address")
    return (f"listening on {where}, so other machines can connect: /stats and /health answer anyone "
            f"without authentication, and the WebSocket is plain ws:// without TLS (tokens and chat "
            f"cross the network unencrypted); bind 127.0.0.1, or put a TLS proxy (wss://) and a "
            f"firewall in front")
