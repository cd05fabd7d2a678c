"""The `agora` command. Each subcommand imports what it needs lazily."""

from __future__ import annotations

import argparse
import sys


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from world.config import ConfigError, exposure_notice, load_config, require_brain_endpoint
    from world.logs import event, setup_logging

    try:
        cfg = load_config(args.config, host=args.host, port=args.port, data=args.data, world=args.world,
                          tick_hz=args.tick_hz, log_json=True if args.log_json else None, brain=args.brain,
                          agents=args.agents, companions=False if args.no_companions else None)
        require_brain_endpoint(cfg)
    except ConfigError as exc:
        print(f"agora serve: {exc}", file=sys.stderr)
        return 2
    try:
        setup_logging(args.log_level, cfg.log_json)
    except ValueError:
        print(f"agora serve: bad --log-level {args.log_level!r}: expected one of DEBUG, INFO, WARNING, ERROR",
              file=sys.stderr)
        return 2
    notice = exposure_notice(cfg)
    if notice:
        # Said before the kernels warm up, so it is the first thing on the terminal.
        print(f"agora serve: warning: {notice}", file=sys.stderr, flush=True)
        event("exposed", level=logging.WARNING, host=cfg.host, port=cfg.port, notice=notice)

    from world.net.server import run_server     # after the checks: numba and the model load slowly
    try:
        asyncio.run(run_server(cfg))
    except OSError as exc:
        print(f"agora serve: cannot listen on {cfg.host}:{cfg.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


def _admin(args: argparse.Namespace) -> int:
    from world.config import ConfigError, load_config
    from world.store import Store

    try:
        cfg = load_config(args.config, data=args.data)
    except ConfigError as exc:
        print(f"agora admin: {exc}", file=sys.stderr)
        return 2
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(cfg.db_path, synchronous=cfg.synchronous)
    try:
        if args.action == "create-token":
            uid, token = store.create_user(args.name, "desktop", role=args.role)
            store.audit(None, "create_token", uid, f'{{"role": "{args.role}"}}')
            print(f"user {uid} ({args.name}, {args.role}); token:", file=sys.stderr)
            print(token)
        elif args.action == "audit":
            for e in store.audit_log(args.limit):
                print(f"{e.id}\t{e.ts}\tactor={e.actor}\t{e.action}\ttarget={e.target}\t{e.detail}")
    finally:
        store.close()
    return 0


def _order_id(text: str) -> int:
    """'3' or '#3'."""
    try:
        return int(text.lstrip("#"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an order number: {text!r}") from None


def _orders(args: argparse.Namespace) -> int:
    import asyncio

    from world.agents.order_queue import staff_command
    from world.config import ConfigError, load_config

    try:
        cfg = load_config(args.config, data=args.data)
    except ConfigError as exc:
        print(f"agora orders: {exc}", file=sys.stderr)
        return 2
    if not cfg.db_path.exists():
        print(f"agora orders: no store at {cfg.db_path} (is --data the server's data directory?)", file=sys.stderr)
        return 2
    if args.action != "list" and args.id is None:
        print(f"agora orders {args.action}: which order? (agora orders {args.action} ID)", file=sys.stderr)
        return 2
    code, lines = asyncio.run(staff_command(str(cfg.db_path), args.action, args.id, args.all, cfg.synchronous))
    for line in lines:
        if code:
            print(f"agora orders: {line}", file=sys.stderr)
        else:
            print(line)
    return code


def _bots(args: argparse.Namespace) -> int:
    from client import load

    return load.run(args) or 0


def _talk(args: argparse.Namespace) -> int:
    from client import talk

    return talk.run(args)


def _eval(args: argparse.Namespace) -> int:
    from world.bench import eval_agents as evaluate

    return evaluate.run(args) or 0


def _client(args: argparse.Namespace) -> int:
    from client.app import cli

    return cli.run(args) or 0


def _bench(args: argparse.Namespace) -> int:
    import importlib

    return importlib.import_module(f"world.bench.{args.bench}").run(args) or 0


def _chaos(args: argparse.Namespace) -> int:
    from world.chaos import cli

    return cli.run(args)


def _soak(args: argparse.Namespace) -> int:
    from world.chaos import cli

    return cli.run_soak(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="agora", description="Agora shared 3D/VR social spaces")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the world server")
    s.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=None, help="TCP port (default 8765; 0 = any free port)")
    s.add_argument("--data", default=None, help="data directory for the SQLite store (default ./agora-data)")
    s.add_argument("--world", default=None, help="world name in assets/worlds or a .toml path (default plaza)")
    s.add_argument("--tick-hz", type=int, default=None, help="simulation rate (default 30)")
    s.add_argument("--brain", default=None, choices=["local", "openai", "scripted"],
                   help="how agents phrase replies: local SmolLM2 (default), an OpenAI-compatible "
                        "endpoint (AGORA_OPENAI_BASE_URL, AGORA_OPENAI_MODEL, AGORA_OPENAI_API_KEY), or scripted")
    s.add_argument("--agents", default=None,
                   help="stationed agents to spawn, comma-separated persona keys (default guide,barista; '' = none)")
    s.add_argument("--no-companions", action="store_true",
                   help="people may not summon personal companions (AGORA_COMPANIONS=false)")
    s.add_argument("--config", default=None, help="TOML file with Config fields")
    s.add_argument("--log-level", default="INFO")
    s.add_argument("--log-json", action="store_true", help="log JSON lines instead of key=value")
    s.set_defaults(func=_serve)

    a = sub.add_parser("admin", help="administration on the data directory")
    a.add_argument("action", choices=["create-token", "audit"])
    a.add_argument("--data", default=None)
    a.add_argument("--config", default=None)
    a.add_argument("--name", default="admin", help="display name of the new account")
    a.add_argument("--role", default="admin", choices=["admin", "moderator", "member"])
    a.add_argument("--limit", type=int, default=50)
    a.set_defaults(func=_admin)

    o = sub.add_parser("orders", help="the staff queue: list placed orders, mark them preparing or ready")
    o.add_argument("action", choices=["list", "preparing", "ready", "collected", "cancel"],
                   help="list open orders, or move order ID along (the barista tells the customer)")
    o.add_argument("id", nargs="?", type=_order_id, help="order number, as in 'order #3'")
    o.add_argument("--all", action="store_true", help="list: every order, not only open ones")
    o.add_argument("--data", default=None, help="the server's data directory (default ./agora-data)")
    o.add_argument("--config", default=None)
    o.set_defaults(func=_orders)

    b = sub.add_parser("bots", help="run headless bots against a server (load and smoke tests)")
    from client import load
    load.add_arguments(b)
    b.set_defaults(func=_bots)

    t = sub.add_parser("talk", help="terminal chat client: talk with agents and people without the 3D client")
    from client import talk
    talk.add_arguments(t)
    t.set_defaults(func=_talk)

    ev = sub.add_parser("eval", help="evaluation harnesses over the real protocol")
    ev_kinds = ev.add_subparsers(dest="eval", required=True)
    ea = ev_kinds.add_parser("agents", help="memory recall, privacy probes, orders and directions, local brain")
    ea.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ea.add_argument("--brain", default="local", choices=["local", "openai", "scripted"])
    ea.add_argument("--data", default=None, help="data directory (default: a fresh temporary one)")
    ea.add_argument("--detail", default=None, metavar="FILE.json", help="write every probe and reply here")
    ea.set_defaults(func=_eval)

    c = sub.add_parser("client", help="the 3D client (desktop, VR, or offscreen for screenshots)")
    from client.app import cli as client_cli
    client_cli.add_arguments(c)
    c.set_defaults(func=_client)

    bench = sub.add_parser("bench", help="benchmarks: print a table and ratios against baselines")
    kinds = bench.add_subparsers(dest="bench", required=True)
    from world.bench import sim
    sim.add_arguments(kinds.add_parser("sim", help="simulation tick and neighbour search vs cKDTree"))
    from world.bench import agents as agents_bench
    agents_bench.add_arguments(kinds.add_parser("agents", help="brain latency, memory retrieval, tick with agents"))
    from world.bench import client as client_bench
    client_bench.add_arguments(kinds.add_parser("client", help="client update cost and offscreen frame time"))
    bench.set_defaults(func=_bench)

    ch = sub.add_parser("chaos", help="chaos scenarios against a real server: kill9, fuzz, flood, stall, disk")
    from world.chaos import cli as chaos_cli
    chaos_cli.add_arguments(ch)
    ch.set_defaults(func=_chaos)

    so = sub.add_parser("soak", help="many walking, chatting bots for minutes: memory growth, tick drift")
    chaos_cli.add_soak_arguments(so)
    so.set_defaults(func=_soak)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
