"""Server-authoritative movement: speed cap, walls, bounds, bad numbers, teleport attempts, VR pose."""

from __future__ import annotations

import asyncio
import math


from client.bot import Bot
from tests.conftest import aio, running_server
from tests.server.worlds import CORRIDOR, write_world
from world.protocol import records

EAST = -math.pi / 2     # yaw 0 faces +y; forward = (-sin yaw, cos yaw)


async def _walk(bot: Bot, fwd: float, side: float, yaw: float, seconds: float, run: bool = False):
    """Walk with one intent; return (start snapshot, end snapshot) positions and tick counts."""
    seq = await bot.move(fwd, side, yaw, run)
    snap0 = await bot.wait_ack(seq)
    p0, t0 = bot.position(), snap0["tick"]
    await asyncio.sleep(seconds)
    snap1 = await bot.wait_for("snap")
    return p0, bot.position(), snap1["tick"] - t0


@aio
async def test_speed_is_capped_even_for_diagonal_and_running_intents(tmp_path):
    async with running_server(tmp_path) as srv:
        cfg = srv.cfg
        bot = await Bot.connect(srv.url, "Walker")
        p0, p1, ticks = await _walk(bot, 1.0, 1.0, 0.3, 0.5)
        dist = math.dist(p0, p1)
        assert ticks > 0 and dist > 0
        assert dist <= cfg.walk_speed * ticks / cfg.tick_hz + 0.002
        p0, p1, ticks = await _walk(bot, -1.0, 1.0, 1.0, 0.5, run=True)
        assert math.dist(p0, p1) <= cfg.run_speed * ticks / cfg.tick_hz + 0.002
        await bot.close()


@aio
async def test_out_of_range_and_non_finite_intents_are_refused(tmp_path):
    async with running_server(tmp_path) as srv:
        bot = await Bot.connect(srv.url, "Cheater")
        await bot.wait_for("snap")
        start = bot.position()
        for bad, field in ((dict(fwd=5.0), "fwd"), (dict(fwd=float("nan")), "fwd"),
                           (dict(side=float("inf")), "side"), (dict(yaw=float("-inf")), "yaw"),
                           (dict(yaw=100.0), "yaw")):
            msg = {"t": "move", "seq": 1, "fwd": 0.0, "side": 0.0, "yaw": 0.0, **bad}
            bot.mark()
            await bot.send(msg)
            err = await bot.expect("error")
            assert err["code"] == "out_of_range" and err["field"] == field
        await asyncio.sleep(0.2)
        assert math.dist(start, bot.position()) < 1e-3
        await bot.close()


@aio
async def test_teleport_attempts_are_refused_and_do_not_move_the_avatar(tmp_path):
    async with running_server(tmp_path) as srv:
        bot = await Bot.connect(srv.url, "Jumper")
        await bot.wait_for("snap")
        start = bot.position()
        await bot.send({"t": "move", "seq": 1, "fwd": 0.0, "side": 0.0, "yaw": 0.0, "x": 90.0, "y": 90.0})
        assert (await bot.expect("error"))["code"] == "unknown_field"
        await bot.send({"t": "teleport", "x": 90.0, "y": 90.0})
        assert (await bot.expect("error"))["code"] == "unknown_type"
        await bot.send({"t": "pose", "seq": 1, "head": [50.0, 0.0, 1.6, 0, 0, 0, 1]})
        assert (await bot.expect("error"))["code"] == "out_of_range"
        await asyncio.sleep(0.2)
        assert math.dist(start, bot.position()) < 1e-3
        await bot.close()


@aio
async def test_walls_and_world_bounds_stop_the_avatar(tmp_path):
    world = write_world(tmp_path, CORRIDOR, "corridor")
    async with running_server(tmp_path, world=world) as srv:
        r = srv.cfg.avatar_radius
        bot = await Bot.connect(srv.url, "Walker")
        _, p1, _ = await _walk(bot, 1.0, 0.0, 0.0, 1.5, run=True)       # north into the wall at y=3
        assert 3.0 - r - 0.02 <= p1[1] <= 3.0 - r + 1e-3
        _, p2, _ = await _walk(bot, 1.0, 0.0, EAST, 2.5, run=True)      # east into the bound at x=10
        assert 10.0 - r - 0.02 <= p2[0] <= 10.0 - r + 1e-3
        await bot.close()


@aio
async def test_vr_pose_reaches_observers_quantised(tmp_path):
    async with running_server(tmp_path) as srv:
        vr = await Bot.connect(srv.url, "Vera", kind="vr")
        desk = await Bot.connect(srv.url, "Dan")
        half = math.sqrt(0.5)
        await vr.pose([0.0, 0.1, 1.65, 0.0, 0.0, half, half], lh=[-0.3, 0.3, 1.2, 0, 0, 0, 1],
                      rh=[0.3, 0.3, 1.2, 0, 0, 0, 1])

        def has_pose(p):
            return bool(p) and vr.entity in records.poses_from_bytes(p)["id"]
        snap = await desk.wait_for("snap", p=has_pose)
        rec = records.poses_from_bytes(snap["p"])
        rec = rec[rec["id"] == vr.entity][0]
        assert (rec["hx"], rec["hy"], rec["hz"]) == (0, 100, 1650)
        q = records.decode_quat(rec["hq"])
        assert records.quat_angle(q, [0.0, 0.0, half, half]) < records.QUAT_ERROR_RAD
        bodies = records.bodies_from_bytes(snap["b"])
        _, flags = records.unpack_yaw_flags(bodies["yawf"][bodies["id"] == vr.entity])
        assert flags[0] & records.FLAG_VR
        await vr.close()
        await desk.close()
