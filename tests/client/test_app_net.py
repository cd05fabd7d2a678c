"""The client's network thread and model against real servers (no Panda3D needed)."""

from __future__ import annotations

import asyncio
import math
import threading
import time

import msgpack
import pytest
from websockets.asyncio.server import serve

from client.app.model import ClientModel, Status
from client.app.net import NetThread
from client.app.predict import Intent
from client.bot import Bot
from tests.client.harness import FACING, ServerThread, pump
from world.protocol import encode

EAST = -math.pi / 2          # yaw facing +x (forward = (-sin, cos))


class Driver:
    """The app's frame loop without the view: drain events, run local ticks, send."""

    def __init__(self, url: str, name: str, **kw) -> None:
        self.net = NetThread(url, name, **kw).start()
        self.model = ClientModel(name)
        self.intent = Intent()
        self.acc = 0.0
        self.last = time.monotonic()

    def step(self) -> None:
        now = time.monotonic()
        dt, self.last = now - self.last, now
        m = self.model
        for ev in self.net.drain():
            m.apply(ev)
        if m.status == Status.ONLINE and m.predictor is not None:
            self.acc = min(self.acc + dt, 0.2)
            while self.acc >= 1 / m.tick_hz:
                self.acc -= 1 / m.tick_hz
                move = m.tick(self.intent)
                if move is not None:
                    self.net.send(move)
        for msg in m.outbox:
            self.net.send(msg)
        m.outbox.clear()
        m.own_position(dt)                          # the view's per-frame read (decays corrections)

    def run_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.step()
            time.sleep(1 / 120)

    def until(self, predicate, what: str, timeout: float = 10.0) -> None:
        pump(self.step, predicate, timeout, what)

    def close(self) -> None:
        self.net.stop()


@pytest.fixture
def facing(tmp_path):
    world = tmp_path / "facing.toml"
    world.write_text(FACING)
    with ServerThread(tmp_path / "data", world=str(world)) as srv:
        yield srv


def test_bot_chat_appears_in_the_chat_model_and_over_its_head(facing):
    d = Driver(facing.url, "Ada")
    try:
        d.until(lambda: d.model.status == Status.ONLINE, "welcome")
        bob = facing.call(Bot.connect(facing.url, "Bob"))
        d.until(lambda: bob.entity in d.model.entities, "Bob in view")
        facing.call(bob.say("hello Ada"))
        d.until(lambda: "hello Ada" in d.model.chat.texts("near"), "Bob's line")
        line = d.model.chat.lines("near")[-1]
        assert line.name == "Bob" and line.sender == bob.user and line.id is not None
        assert [b.text for b in d.model.chat.bubbles[bob.entity]] == ["hello Ada"]
        # The people list follows presence.
        d.until(lambda: bob.user in d.model.people, "Bob in the people list")
        # A DM tab opens for a direct message, and our reply is acknowledged there.
        facing.call(bob.dm(d.model.me, "psst"))
        d.until(lambda: d.model.chat.texts(f"dm:{bob.user}") == ["psst"], "DM tab")
        d.model.say("hi Bob", f"dm:{bob.user}")
        d.step()                                   # hands the request to the network thread
        got = facing.call(bob.expect("chat", text="hi Bob"))
        assert got["ch"] == "dm"
        d.until(lambda: d.model.chat.lines(f"dm:{bob.user}")[-1].id is not None, "ack")
        # Opening the tab fetches its history: merged with what is shown, no duplicates.
        facing.call(bob.dm(d.model.me, "while you were typing"))
        d.model.open_dm(bob.user)
        d.until(lambda: d.model.chat.tabs[f"dm:{bob.user}"].history_cursor is not None, "history page")
        d.until(lambda: "while you were typing" in d.model.chat.texts(f"dm:{bob.user}"), "second DM")
        texts = d.model.chat.texts(f"dm:{bob.user}")
        assert texts.count("psst") == 1 and texts.count("hi Bob") == 1
        facing.call(bob.close())
    finally:
        d.close()


def test_prediction_converges_after_the_server_blocks_a_wall_the_client_did_not_predict(facing):
    d = Driver(facing.url, "Ada")
    d.model.predict_boxes = False          # the client does not know the east wall at x = 3
    try:
        d.until(lambda: d.model.status == Status.ONLINE and d.model.snapshots > 3, "snapshots")
        x0 = d.model.predictor.x
        d.intent = Intent(1.0, 0.0, EAST)
        d.run_for(1.6)                     # 4.8 m of walking: the wall stops the server at x = 2.7
        p = d.model.predictor
        assert p.corrections > 0           # the server corrected the prediction...
        d.intent = Intent(0.0, 0.0, EAST)
        d.run_for(0.6)
        wall = 3.0 - 0.3
        assert abs(p.server_x - wall) < 0.01
        assert abs(p.x - p.server_x) < 1e-3 and abs(p.y - p.server_y) < 1e-3     # ...and it converged
        shown = d.model.own_position(0.0)
        assert abs(shown[0] - wall) < 0.01 and shown[0] > x0
    finally:
        d.close()


def test_walking_in_the_open_needs_no_correction(facing):
    d = Driver(facing.url, "Ada")
    try:
        d.until(lambda: d.model.status == Status.ONLINE and d.model.snapshots > 3, "snapshots")
        d.intent = Intent(1.0, 0.0, math.pi)       # south, nothing in the way
        d.run_for(1.0)
        d.intent = Intent(0.0, 0.0, math.pi)
        d.run_for(0.5)
        p = d.model.predictor
        assert abs(p.x - p.server_x) < 1e-3 and abs(p.y - p.server_y) < 1e-3
        assert p.server_y < -2.0
    finally:
        d.close()


def test_reconnects_and_resumes_with_its_token_after_a_server_restart(facing):
    d = Driver(facing.url, "Ada")
    try:
        d.until(lambda: d.model.status == Status.ONLINE, "welcome")
        user, token = d.model.me, d.model.welcome["token"]
        facing.stop()
        d.until(lambda: d.model.status == Status.RECONNECTING, "reconnecting state")
        assert any("reconnecting" in t for t in d.model.chat.texts("near"))
        facing.start()
        d.until(lambda: d.model.welcomes == 2, "second welcome", timeout=15)
        assert d.model.status == Status.ONLINE
        assert d.model.welcome["resumed"] and d.model.me == user and d.net.token == token
        # and the session works: a bot hears us
        bob = facing.call(Bot.connect(facing.url, "Bob"))
        d.model.say("back again")
        d.step()
        facing.call(bob.expect("chat", text="back again"))
        facing.call(bob.close())
    finally:
        d.close()


def test_network_loss_shows_reconnecting_then_resumes(facing):
    d = Driver(facing.url, "Ada")
    try:
        d.until(lambda: d.model.status == Status.ONLINE, "welcome")
        d.net.drop()                              # TCP aborted, no close frame (1006)
        d.until(lambda: d.model.status == Status.RECONNECTING, "reconnecting state")
        d.until(lambda: d.model.welcomes == 2 and d.model.status == Status.ONLINE, "resumed")
        assert d.model.welcome["resumed"]
    finally:
        d.close()


def test_summon_is_answered_and_the_client_carries_on(facing):
    d = Driver(facing.url, "Ada")
    try:
        d.until(lambda: d.model.status == Status.ONLINE, "welcome")
        d.model.summon()
        # The server sends the companion; it enters the client's view as an agent.
        d.until(lambda: d.model.companion is not None, "summoned")
        d.until(lambda: d.model.companion in d.model.entities
                and d.model.entities[d.model.companion].kind == "agent", "the companion in view")
        bob = facing.call(Bot.connect(facing.url, "Bob"))
        d.model.say("still talking")
        d.step()
        facing.call(bob.expect("chat", text="still talking"))
        assert d.model.status == Status.ONLINE
        facing.call(bob.close())
    finally:
        d.close()


def test_malformed_server_frames_are_logged_and_skipped():
    """A scripted server (the real one never misbehaves) sends junk between valid messages."""
    welcome = {"t": "welcome", "v": 1, "you": 1, "user": 1, "token": "t" * 43, "name": "Ada",
               "role": "member", "tick_hz": 30, "resumed": False, "pos": [0.0, 0.0, 0.0], "yaw": 0.0,
               "space": {"id": "w#1", "instance": 1, "world": "w", "title": "W", "capacity": 5,
                         "bounds": [-10.0, -10.0, 10.0, 10.0], "sky": [0, 0, 0], "ground": [0, 0, 0],
                         "boxes": [], "places": [], "spawns": [{"at": [0, 0], "yaw": 0}]},
               "limits": {}}
    junk = ["a text frame", b"\xc1", msgpack.packb([1, 2]), msgpack.packb({"t": "snap", "b": b"x"}),
            msgpack.packb({"t": "enter", "e": 5}), msgpack.packb({"t": "chat", "ch": "near"}),
            encode({"t": "chat", "id": 1, "ch": "near", "from": 2, "name": "Bob", "text": "survived",
                    "ts": 1, "e": 2})]
    ready = threading.Event()
    port: list[int] = []
    loop = asyncio.new_event_loop()

    async def handler(ws):
        await ws.recv()
        await ws.send(encode(welcome))
        for frame in junk:
            await ws.send(frame)
        await asyncio.sleep(5)

    async def main():
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            port.append(server.sockets[0].getsockname()[1])
            ready.set()
            await asyncio.sleep(8)

    t = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    t.start()
    assert ready.wait(5)
    d = Driver(f"ws://127.0.0.1:{port[0]}/", "Ada")
    try:
        d.until(lambda: "survived" in d.model.chat.texts("near"), "the valid line after the junk")
        assert d.net.bad_frames == 3                  # text frame, undecodable bytes, not a map
        assert d.model.bad_messages == 3              # a bad snap, a bad enter, a chat without text
        assert d.model.status == Status.ONLINE
    finally:
        d.close()
