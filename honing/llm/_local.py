"""The embedded local model: an LM that runs a GGUF file in-process with llama.cpp.

It lets honing work with no API key and no network. The runtime is the
prebuilt ``xllamacpp`` wheel (the ``local`` extra), imported only when a model
is first used, so ``honing.llm`` stays importable without it.

Concurrency: one loaded model per process and model file, shared by every
``LocalLM`` that names it; calls are serialized by a per-model lock and the
runtime runs with one slot. On 2 cores that was measured fastest: 4 threads
of 64-token calls on the 135M model gave 59 tok/s in aggregate with one slot,
54 with 2 slots and 44 with 4; on the 0.5B model 13 with one slot and 6 with
two. Batched decoding only pays off with cores to spare.

Threads: unless told otherwise, the model uses the cores that are free when a
call starts (``_threads``), and reloads itself with another count when the
machine's load has changed (a reload takes seconds; a wrong count can make a
call ten times slower).
"""

from __future__ import annotations

import copy
import os
import threading
import time
from pathlib import Path
from typing import Any

from . import _local_runtime
from ._base import Completion, LMError, Message
from ._hints import PromptProfile, current_reply_hints
from ._local_runtime import CallCancelled, CallStatus, Reply, Runtime, RuntimeOptions, Speculation
from ._local_trim import CHARS_PER_TOKEN, content_text, estimate_tokens, trim_messages
from ._model_files import DEFAULT_REFLECTION_MODEL, ModelFileError, model_path
from ._threads import other_load, recent_other_load, threads_for, usable_cores

__all__ = ["LocalLM", "CallCancelled", "Speculation", "trim_messages", "estimate_tokens", "unload_models"]

#: Environment override for the thread count of models built without ``n_threads``.
THREADS_ENV = "HONING_LOCAL_THREADS"
#: A runtime younger than this is not reloaded for a new thread count (load that spikes and falls).
_MIN_RUNTIME_AGE_S = 20.0


def _load_runtime(path: Path, options: RuntimeOptions) -> Runtime:  # replaced in tests
    return Runtime.load(path, options)


_runtimes: dict[str, Runtime] = {}
_runtimes_lock = threading.Lock()


def unload_models() -> None:
    """Drop this process's loaded models (memory is freed once no call uses them)."""
    with _runtimes_lock:
        _runtimes.clear()


class _Family:
    """What a LocalLM shares with its ``with_options`` copies: its calls in progress, for ``activity``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[CallStatus] = []


class LocalLM:
    """A local GGUF chat model behind the LM protocol.

    ``name_or_path`` is a registered name (``local/qwen2.5-coder-1.5b``,
    ``local/qwen2.5-coder-0.5b``, ``local/smollm2-135m``) or a GGUF file path.
    The model loads on first use (or with ``load()``). Prompts longer than
    ``n_ctx - max_tokens`` are trimmed from the middle, never refused.

    ``timeout_s`` bounds each call from the moment the model takes it up:
    reading the prompt and writing the reply (time spent queued behind other
    calls, or loading the model, is not counted). A call that runs out of
    time returns what was written so far. ``n_threads=None`` uses the cores
    that are free (``$HONING_LOCAL_THREADS`` overrides). ``speculation``
    turns on speculative decoding (see ``Speculation``).
    """

    #: One generation at a time: the engine queues proposals for this slot itself.
    max_concurrency = 1
    #: Text only: images in side information are shown as placeholders.
    multimodal = False

    def __init__(
        self,
        name_or_path: str | os.PathLike[str] = DEFAULT_REFLECTION_MODEL,
        *,
        n_ctx: int = 4096,
        max_tokens: int = 1024,
        temperature: float = 0.7,
        timeout_s: float = 300.0,
        n_threads: int | None = None,
        seed: int | None = None,
        speculation: Speculation | None = None,
        verbose: bool = False,
    ) -> None:
        if n_ctx < 256:
            raise ValueError("n_ctx must be at least 256 tokens")
        if n_threads is not None and (not isinstance(n_threads, int) or isinstance(n_threads, bool)
                                      or n_threads < 1):
            raise ValueError(f"n_threads must be a positive integer or None (use the free cores), got {n_threads!r}")
        if not timeout_s or timeout_s <= 0:
            raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        self.name = str(name_or_path)
        self.n_ctx = n_ctx
        # Keep at least a quarter of the window for the prompt.
        self.max_tokens = max(1, min(max_tokens, n_ctx * 3 // 4))
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.n_threads = n_threads if n_threads is not None else _threads_from_env()
        self.seed = seed
        self.speculation = speculation
        self.verbose = verbose or bool(os.environ.get("HONING_LLAMA_VERBOSE"))
        self._path: Path | None = None
        self._family = _Family()

    # -- what the engine and the prompt builder read -------------------------------------------
    @property
    def context_window(self) -> int:
        """Tokens the model sees at once, prompt and reply together."""
        return self.n_ctx

    @property
    def max_prompt_tokens(self) -> int:
        return self.n_ctx - self.max_tokens

    @property
    def prompt_profile(self) -> PromptProfile:
        """Short prompts: on 2 cores the 1.5B model reads about 60 tokens a second."""
        return PromptProfile(compact=True, max_prompt_chars=min(6000, int(self.max_prompt_tokens * 2.5)))

    def activity(self) -> str | None:
        """What the model is doing for this LM right now, in a few words; None when idle.

        For progress displays: "reading prompt 812/1600 tok, 60 tok/s",
        "writing 120 tok, 8.1 tok/s", "queued", "loading model". Cheap and
        safe to call from any thread.
        """
        with self._family.lock:
            calls = list(self._family.calls)
        if not calls:
            return None
        running = [c for c in calls if c.phase != "queued"]
        text = running[0].describe() if running else "queued"
        waiting = len(calls) - (1 if running else 0)
        if running and waiting:
            text += f" (+{waiting} queued)"
        return text

    def cancel(self) -> int:
        """End this LM's running and queued calls now (they raise ``CallCancelled``); returns how many."""
        with self._family.lock:
            calls = list(self._family.calls)
        for call in calls:
            call.cancelled.set()
        return len(calls)

    # -- loading ---------------------------------------------------------------------------------
    def _model_file(self) -> Path:
        if self._path is None:
            try:
                self._path = model_path(self.name)
            except ModelFileError as exc:
                raise LMError(str(exc)) from exc
        return self._path

    def _key(self) -> str:
        return str(self._model_file().resolve())

    def _wanted_threads(self, current: int | None) -> int:
        """For a model loaded with ``current`` threads (None: not loaded), the count that suits the load now."""
        if self.n_threads is not None:
            return self.n_threads
        cores, steady = usable_cores(), other_load()
        if current is not None and threads_for(cores, current, recent=steady, steady=steady) == current:
            return current  # the steady load agrees with the count in use: no second look needed
        return threads_for(cores, current, recent=recent_other_load(), steady=steady)

    def _compatible(self, runtime: Runtime) -> bool:
        """Whether ``runtime`` can serve this LM's calls (a thread count that moved is handled apart)."""
        options = runtime.options
        if options.n_ctx < self.n_ctx or options.speculation != self.speculation:
            return False
        return self.n_threads is None or options.n_threads == self.n_threads

    def _load(self, status: CallStatus | None, threads: int) -> Runtime:
        if status is not None:
            status.set("loading")
        runtime = _load_runtime(self._model_file(), RuntimeOptions(self.n_ctx, threads, self.speculation,
                                                                    self.verbose))
        # The caller holds _runtimes_lock. Calls holding the old runtime keep it until they are done.
        _runtimes[self._key()] = runtime
        return runtime

    def _current(self, status: CallStatus | None) -> Runtime:
        """The loaded runtime for this model, loading it first when there is none that fits."""
        key = self._key()
        with _runtimes_lock:
            runtime = _runtimes.get(key)
            if runtime is not None and self._compatible(runtime):
                return runtime
            return self._load(status, self._wanted_threads(None))

    def load(self) -> float:
        """Load the model now (otherwise the first call does); returns seconds spent (0 if loaded)."""
        before = _runtimes.get(self._key())
        runtime = self._current(None)
        return runtime.load_s if runtime is not before else 0.0

    def endpoint(self) -> tuple[str, str]:
        """The runtime's own HTTP listener: (``http://127.0.0.1:PORT``, API key); loads the model.

        ``honing serve-lm`` proxies to it, so streaming, stop sequences, JSON
        mode and logprobs are llama.cpp's own, not a reimplementation.
        """
        runtime = self._current(None)
        return runtime.server.listening_address, runtime.api_key

    @property
    def threads_in_use(self) -> int | None:
        """The thread count of the loaded model, or None before it is loaded."""
        if self._path is None:
            return None
        runtime = _runtimes.get(str(self._path.resolve()))
        return runtime.options.n_threads if runtime is not None else None

    def with_options(
        self,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        timeout_s: float | None = None,
    ) -> LocalLM:
        """A copy with other sampling settings that shares this one's loaded model and activity."""
        other = copy.copy(self)
        if max_tokens is not None:
            other.max_tokens = max(1, min(max_tokens, self.n_ctx * 3 // 4))
        if temperature is not None:
            other.temperature = temperature
        if seed is not None:
            other.seed = seed
        if timeout_s is not None:
            other.timeout_s = timeout_s
        return other

    # -- calls -------------------------------------------------------------------------------------
    def complete(self, messages: list[Message]) -> Completion:
        return self.chat(messages)[0]

    def chat(self, messages: list[Message]) -> tuple[Completion, str]:
        """Like ``complete``, also returning the finish reason (``stop`` or ``length``)."""
        completion, reply = self.chat_reply(messages)
        return completion, "length" if reply.finish in ("length", "timeout") else "stop"

    def chat_reply(self, messages: list[Message]) -> tuple[Completion, Reply]:
        """Like ``chat``, with the runtime's full account of the call (finish reason, timings)."""
        status = CallStatus()
        with self._family.lock:
            self._family.calls.append(status)
        started = time.perf_counter()
        try:
            runtime = self._acquire(status)
            try:
                reply = self._ask(runtime, messages, status)
            finally:
                runtime.lock.release()
        finally:
            with self._family.lock:
                self._family.calls.remove(status)
        return self._completion(reply, time.perf_counter() - started), reply

    def _acquire(self, status: CallStatus) -> Runtime:
        """Wait for the model (a cancel ends the wait); returns it locked and fit for this call.

        A thread count that no longer suits the machine's load is changed here,
        while this call holds the model, so no other call is running on it.
        """
        while True:
            runtime = self._current(status)
            status.set("queued")
            while not runtime.lock.acquire(timeout=0.1):
                if status.cancelled.is_set():
                    raise CallCancelled("the local model call was cancelled while it waited")
            if _runtimes.get(self._key()) is not runtime or not self._compatible(runtime):
                runtime.lock.release()  # replaced while we waited
                continue
            threads = runtime.options.n_threads
            if self.n_threads is None and time.monotonic() - runtime.loaded_at >= _MIN_RUNTIME_AGE_S:
                threads = self._wanted_threads(threads)
            if threads == runtime.options.n_threads:
                return runtime
            try:
                with _runtimes_lock:
                    self._load(status, threads)
            finally:
                runtime.lock.release()

    def _ask(self, runtime: Runtime, messages: list[Message], status: CallStatus) -> Reply:
        hints = current_reply_hints()
        max_tokens = self.max_tokens
        if hints is not None and hints.max_tokens:
            max_tokens = max(1, min(max_tokens, hints.max_tokens))
        stop_at = hints.stop_at if hints is not None else None
        deadline = _local_runtime._clock() + self.timeout_s
        chars_per_token = CHARS_PER_TOKEN
        for _ in range(4):
            prompt = trim_messages(messages, self.n_ctx - max_tokens, chars_per_token=chars_per_token)
            request: dict[str, Any] = {
                "messages": [
                    {"role": m.get("role", "user"), "content": content_text(m.get("content", ""))} for m in prompt
                ],
                "max_tokens": max_tokens,
                "temperature": self.temperature,
                # Reusing the previous request's cached prefix changes the numerics slightly, so a
                # greedy (temperature 0) call could answer differently depending on what ran before.
                "cache_prompt": self.temperature > 0,
            }
            if self.seed is not None:
                request["seed"] = self.seed
            remaining = deadline - _local_runtime._clock()
            if remaining <= 0:
                return Reply("", "timeout", None, 0)
            reply = runtime.call(request, status, timeout_s=remaining, stop_at=stop_at)
            error = reply.error
            if not error:
                return reply
            if error.get("type") != "exceed_context_size_error":
                raise LMError(f"local model {self.name}: {error.get('message', error)}")
            # The runtime counted the tokens for us: recalibrate and trim again.
            counted = int(error.get("n_prompt_tokens") or 0)
            chars = sum(len(content_text(m.get("content", ""))) for m in prompt)
            if counted > 0 and chars > 0:
                chars_per_token = min(chars_per_token, 0.9 * chars / counted)
            else:
                chars_per_token /= 2
        raise LMError(f"local model {self.name}: could not trim the prompt to fit {self.n_ctx} tokens")

    def _completion(self, reply: Reply, duration_s: float) -> Completion:
        return Completion(
            text=reply.text,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cost_usd=0.0,
            model=self.name,
            duration_s=duration_s,
        )

    def __call__(self, prompt: str | list[Message]) -> str:
        """Convenience: a string becomes one user message; returns the reply text."""
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        return self.complete(messages).text

    def __repr__(self) -> str:
        threads = "auto" if self.n_threads is None else self.n_threads
        return f"LocalLM({self.name!r}, n_ctx={self.n_ctx}, max_tokens={self.max_tokens}, n_threads={threads})"


def _threads_from_env() -> int | None:
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"${THREADS_ENV} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"${THREADS_ENV} must be a positive integer, got {raw!r}")
    return value
