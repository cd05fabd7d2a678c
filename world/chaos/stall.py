"""stall: a client that stops reading must be dropped after the stall timeout, long before keepalive.

The server runs with a short stall timeout and a long keepalive (§10.3, §1). The stalled client
has a small receive buffer (SO_RCVBUF set before connect), joins a group whose history holds
long lines, stops reading, and asks for that history several times: the replies back up in the
server until a send blocks. From then on the server must abort the TCP connection within the
stall timeout (+ its once-a-second watchdog). The client cannot see a FIN it does not read,
so it keeps sending a small `move` every 50 ms: once the server has closed the socket, those
meet a reset, and the kernel's TCP state (TCP_INFO) leaves ESTABLISHED.
"""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from client.bot import Bot
from world.chaos.observer import Observer, Watch
from world.chaos.process import ServerProcess, server_env
from world.chaos.report import Outcome
from world.protocol import PROTOCOL_VERSION, decode_server, encode

TCP_ESTABLISHED = 1
LONG_LINE = "\U0001F30A" * 500          # 500 code points (the chat limit), 2000 bytes of UTF-8
MIN_SNAPS_PER_S = 25.0
REPLY_TIMEOUT_S = 10.0
REQUEST_BURST = 40                      # the request bucket's burst (§10.1)


@dataclass
class StallOptions:
    stall_timeout: float = 2.0      # the server's AGORA_STALL_TIMEOUT
    keepalive: float = 60.0         # the server's AGORA_PING_INTERVAL and AGORA_PING_TIMEOUT
    talkers: int = 10               # bots that fill the group's history (10 x 10 lines: a 200 KB page)
    lines: int = 10                 # long lines each talker says (at most its chat burst, 10)
    requests: int | None = None     # history pages asked for once it stops reading; None: enough
                                    # to overflow the server's kernel send buffer (tcp_wmem max)
    rcvbuf: int = 4096
    slack_s: float = 3.0            # dropped within stall_timeout + slack
    probe_every: float = 0.05
    give_up_s: float = 40.0


def pages_to_overflow(page_bytes: int) -> int:
    """History pages that outgrow the server's socket buffer (loopback autotunes it to MBs) and its
    transport's write limit, while staying inside the request burst (40) and the outbox (4 MiB)."""
    try:
        wmem_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        wmem_max = 4 * 1024 * 1024
    return max(1, min(REQUEST_BURST, -(-(wmem_max + 3 * 1024 * 1024 // 2) // max(1, page_bytes))))


class StalledClient:
    """A raw WebSocket client on a socket with a small receive buffer; it can stop reading."""

    def __init__(self, ws: ClientConnection, sock: socket.socket) -> None:
        self.ws = ws
        self.sock = sock
        self.user = 0
        self.rid = 0
        self.rcvbuf = 0                        # as the kernel set it (Linux doubles the request)

    @classmethod
    async def join(cls, url: str, rcvbuf: int) -> "StalledClient":
        parts = urllib.parse.urlsplit(url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)    # before connect: sets the window
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
        ws = await connect(url, sock=sock, compression=None, proxy=None, ping_interval=None, max_size=2**24,
                           open_timeout=REPLY_TIMEOUT_S, close_timeout=1.0)
        self = cls(ws, sock)
        await ws.send(encode({"t": "hello", "v": PROTOCOL_VERSION, "name": "Staller", "kind": "bot"}))
        welcome = await self.wait(lambda m: m["t"] in ("welcome", "error"))
        if welcome["t"] != "welcome":
            raise RuntimeError(f"the stalled client's hello was refused: {welcome.get('code')}")
        self.user = welcome["user"]
        self.rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        return self

    async def wait(self, match: Any) -> dict[str, Any]:
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            while True:
                raw = await self.ws.recv()
                if isinstance(raw, bytes):
                    msg = decode_server(raw)
                    if match(msg):
                        return msg

    async def request(self, t: str, **fields: Any) -> dict[str, Any]:
        self.rid += 1
        rid = self.rid
        await self.ws.send(encode({"t": t, "rid": rid, **fields}))
        return await self.wait(lambda m: m.get("rid") == rid and m["t"] != "chat")

    def stop_reading(self) -> None:
        self.ws.transport.pause_reading()     # the kernel buffer fills, then the window closes

    def tcp_state(self) -> int | None:
        try:
            return self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
        except OSError:
            return None

    async def poke(self, seq: int) -> str | None:
        """Send a tiny move; how the connection ended ("reset", "close 1006", ...) or None if it is up."""
        state = self.tcp_state()
        if state is not None and state != TCP_ESTABLISHED:
            return f"tcp state {state}"
        try:
            await asyncio.wait_for(self.ws.send(encode({"t": "move", "seq": seq, "fwd": 0.0, "side": 0.0,
                                                        "yaw": 0.0})), 1.0)
        except ConnectionClosed as exc:
            return f"close {exc.rcvd.code if exc.rcvd else 1006}"
        except TimeoutError:
            return None                       # our own send buffer is full; not a verdict
        except OSError as exc:
            return type(exc).__name__
        return None

    def abort(self) -> None:
        self.ws.transport.abort()


async def run(opts: StallOptions, work: Path) -> Outcome:
    out = Outcome("stall")
    env = server_env(stall_timeout=opts.stall_timeout, ping_interval=opts.keepalive, ping_timeout=opts.keepalive)
    srv = ServerProcess.start(work / "data", work / "server.log", env=env)
    observer: Observer | None = None
    talkers: list[Bot] = []
    staller: StalledClient | None = None
    try:
        observer = await asyncio.to_thread(Observer(Watch(srv.url)).start)
        talkers = [await Bot.connect(srv.url, f"Talker{i}") for i in range(opts.talkers)]
        staller = await StalledClient.join(srv.url, opts.rcvbuf)
        group = (await talkers[0].group("create", name="long lines"))["group"]["id"]
        for member in talkers[1:]:
            await talkers[0].group("invite", group=group, user=member.user)
            await member.group("join", group=group)
        await talkers[0].group("invite", group=group, user=staller.user)
        await staller.request("group", op="join", group=group)
        for bot in talkers:
            await asyncio.gather(*(bot.group_say(group, LONG_LINE) for _ in range(opts.lines)))
        page = await staller.request("history", ch="group", to=group, limit=100)
        page_bytes = len(encode(page))
        clients_before = (srv.stats() or {}).get("clients")

        log_mark = srv.log_size()
        staller.stop_reading()
        t_stop = time.monotonic()
        requests = opts.requests or pages_to_overflow(page_bytes)
        for _ in range(requests):
            staller.rid += 1
            await staller.ws.send(encode({"t": "history", "rid": staller.rid, "ch": "group", "to": group,
                                          "limit": 100}))
        seen_end: str | None = None
        seq = 0
        while time.monotonic() - t_stop < opts.give_up_s:
            seq += 1
            seen_end = await staller.poke(seq)
            if seen_end is not None:
                break
            await asyncio.sleep(opts.probe_every)
        t_drop = time.monotonic()
        stalled_s = t_drop - t_stop if seen_end is not None else None
        await asyncio.sleep(1.0)
        seen = await asyncio.to_thread(observer.stop)
        observer = None
        if seen.error:
            out.reason = f"observer: {seen.error}"
        clients_after = (srv.stats() or {}).get("clients")
        server_log = srv.log_text(log_mark)
    finally:
        if staller is not None:
            staller.abort()
        for bot in talkers:
            if not bot.closed:
                await bot.close()
        if observer is not None:
            observer.stop()
        srv.terminate()

    out.at_most("stalled client dropped after it stopped reading (s)", stalled_s,
                opts.stall_timeout + opts.slack_s, " s")
    out.below("... well before the keepalive would (s)", stalled_s, opts.keepalive / 2, " s")
    out.at_least("bystander snapshots/s meanwhile", seen.snaps_per_s(t_stop, t_drop + 1.0), MIN_SNAPS_PER_S)
    out.check("bystander stayed connected", seen.closed_code is None, seen.closed_code or "connected", "connected")
    out.metrics.update({
        "server stall_timeout / keepalive (s)": [opts.stall_timeout, opts.keepalive],
        "client SO_RCVBUF (asked / kernel)": [opts.rcvbuf, staller.rcvbuf if staller else None],
        "history asked for after stopping (bytes)": f"{requests} x {page_bytes:,}",
        "what the client saw": seen_end or "nothing: still connected",
        "server logged client_too_slow": "event=client_too_slow" in server_log,
        "server clients before / after": [clients_before, clients_after],
        "bystander worst second (snapshots)": seen.worst_second(t_stop, t_drop + 1.0),
    })
    return out

