"""Make docs/img/client.png: people gathered in front of the desktop client on the default world.

    agora serve --port 8822 --data /tmp/shot-data &
    python docs/img/client_screenshot.py docs/img/client.png      (from the repository root)

Seven bots walk to spots between the client's spawn and the fountain (one of them "vr",
sending head/hand poses), talk and wave; one asks Mira, the guide (an AI agent), to walk to the
fountain, so she comes into view and answers; the client resumes an account that spawned at
(10, 0) facing the fountain and saves a 1280x720 offscreen frame.
"""
import asyncio
import math
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from client.bot import Bot

URL = "ws://127.0.0.1:8822"

async def walk_to(bot, tx, ty):
    x, y = bot.position()
    d = math.hypot(tx - x, ty - y)
    yaw = math.atan2(-(tx - x), ty - y)        # forward = (-sin, cos)
    await bot.move(1.0, 0.0, yaw)
    await asyncio.sleep(d / 3.0)
    await bot.move(0.0, 0.0, -math.pi / 2)

async def main():
    ada = await Bot.connect(URL, "Ada")          # the client's account: spawn (10, 0) facing the fountain
    token = ada.token
    await ada.close()
    names = ["Maya", "Theo", "Iris", "Noor", "Sam", "Lena", "Kofi"]
    bots = [await Bot.connect(URL, n, kind=("vr" if n == "Noor" else "bot")) for n in names]
    targets = [(5.5, 2.6), (4.2, -1.0), (6.0, -2.8), (3.4, 1.4), (2.6, -3.6), (2.8, 4.2), (6.8, 0.6)]
    await bots[4].say("Mira, take me to the fountain please")       # the guide walks into view
    await asyncio.gather(*(walk_to(b, *t) for b, t in zip(bots, targets)))
    # everyone faces the visitor (who will stand at (10, 0)), i.e. +x: yaw -pi/2
    for b in bots:
        await b.move(0.0, 0.0, -math.pi / 2)
    proc = subprocess.Popen([sys.executable, "-m", "world.cli", "client", URL, "--name", "Ada", "--token", token,
                             "--offscreen", "--screenshot", sys.argv[1], "--frames", "300",
                             "--timeout", "60"], cwd=Path(__file__).resolve().parents[2])
    lines = ["Welcome to the plaza, Ada!", "The cafe is just north-east of here.", "Anyone up for the talk at the stage?"]
    k = 0
    while proc.poll() is None:
        await bots[0].say(lines[(k // 4) % 3]) if k % 4 == 0 else None
        await bots[2].say("Hi Ada! Nice to see you.") if k == 1 else None
        await bots[4].say("Mira, what's on at the stage?") if k == 12 else None
        await bots[1].emote("wave")
        t = k * 0.5
        await bots[3].pose([0.0, 0.05, 1.65, 0, 0, math.sin(0.2 * math.sin(t)), math.cos(0.2 * math.sin(t))],
                           [-0.25, 0.2, 1.0, 0, 0, 0, 1], [0.35, 0.3, 1.55, 0, 0, 0, 1])
        k += 1
        await asyncio.sleep(0.5)
    print("client exit", proc.returncode)
    for b in bots:
        await b.close()

asyncio.run(main())
