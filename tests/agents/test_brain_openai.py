"""OpenAIBrain against a real OpenAI-compatible server (llama-cpp-python's own server running
the SmolLM2 GGUF), a dead port, and a server that accepts connections but never answers."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import aio
from world.agents.brain import BrainError, OpenAIBrain, default_model_path
from world.agents.speech import Voice, acceptable, phrase

PROMPT = [
    {"role": "system", "content": "You are a friendly barista. Answer in one short sentence."},
    {"role": "user", "content": "Greet a new customer.\nDRAFT: Hello, welcome to the cafe."},
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """``python -m llama_cpp.server`` on a free port; yields its /v1 base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()),
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024",
           "--n_threads", "1", "--n_threads_batch", "1", "--model_alias", "smollm2"]
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(base + "/models", timeout=2) as r:
                    if r.status == 200 and json.load(r).get("data"):
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not answer within 90 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_openai_streams_from_llama_server(llama_server):
    @aio
    async def run():
        brain = OpenAIBrain(base_url=llama_server, model="smollm2", timeout_s=30, retries=1)
        lines: list[str] = []
        await brain.start(progress=lines.append)
        try:
            out = [p async for p in brain.stream(PROMPT, max_tokens=16)]
            capped = [p async for p in brain.stream(
                [{"role": "user", "content": "Count from 1 to 30, separated by commas."}],
                max_tokens=40, temperature=0.0, stop=[","])]
            final = None
            async for text, is_final in phrase(brain, Voice("Mo", "a barista", "warmly"),
                                               "A flat white is 3.20.", facts=["3.20"],
                                               heard="How much is a flat white?", timeout_s=30):
                if is_final:
                    final = text
            return lines, out, capped, final, brain.last_attempts
        finally:
            await brain.close()
    lines, out, capped, final, attempts = run()
    assert lines and llama_server in lines[0]
    assert out and all(isinstance(p, str) and p for p in out)
    assert "".join(out).strip()
    assert "," not in "".join(capped)
    assert final is not None and acceptable(final, ["3.20"])
    assert attempts == 1


def test_openai_dead_port_raises_after_retries():
    port = free_port()                        # nothing listens there now
    brain = OpenAIBrain(base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout_s=5,
                        retries=2, backoff_s=0.01)

    @aio
    async def run():
        try:
            with pytest.raises(BrainError, match="3 attempts"):
                async for _ in brain.stream(PROMPT):
                    pass
        finally:
            await brain.close()
    run()
    assert brain.last_attempts == 3


def test_openai_silent_server_times_out():
    @aio
    async def run():
        connections = []

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(writer)
            try:
                while await reader.read(4096):   # read the request, never answer
                    pass
            finally:
                writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        brain = OpenAIBrain(base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout_s=0.5,
                            retries=1, backoff_s=0.01)
        try:
            with pytest.raises(BrainError, match="timed out|Timeout"):
                async for _ in brain.stream(PROMPT):
                    pass
        finally:
            await brain.close()
            server.close()
            for w in connections:
                w.close()
            await server.wait_closed()
        return brain.last_attempts, len(connections)
    attempts, conns = run()
    assert attempts == 2 and conns >= 1


def test_openai_http_error_is_brain_error_without_retry():
    """A 4xx answer (here: 404 for a wrong path) is not retried."""
    @aio
    async def run():
        async def not_found(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            body = b'{"error": {"message": "no such route"}}'
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                         b"Connection: close\r\n\r\n" + body)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(not_found, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        brain = OpenAIBrain(base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout_s=5,
                            retries=3, backoff_s=0.01)
        try:
            with pytest.raises(BrainError, match="404|NotFound"):
                async for _ in brain.stream(PROMPT):
                    pass
        finally:
            await brain.close()
            server.close()
            await server.wait_closed()
        return brain.last_attempts
    assert run() == 1
