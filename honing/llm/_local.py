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
"""

from __future__ import annotations

import copy
import json
import math
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from ._base import Completion, LMError, Message
from ._model_files import DEFAULT_REFLECTION_MODEL, ModelFileError, model_path

__all__ = ["LocalLM", "trim_messages", "estimate_tokens", "unload_models"]

#: Conservative: code and English run 3.2-4.5 characters per token with these
#: tokenizers, so an estimate at 3.0 rarely lets an over-long prompt through.
CHARS_PER_TOKEN = 3.0
_MESSAGE_OVERHEAD = 4  # role and template tokens around each message
_MIN_KEEP = 32  # never cut a message below this many characters
_MARKER_CHARS = 40  # "\n[... 12345 characters trimmed ...]\n"
_IMAGE_PLACEHOLDER = "[image omitted: this local model reads text only]"


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    chunks = []
    for part in content:
        if part.get("type") == "text":
            chunks.append(part.get("text", ""))
        else:
            chunks.append(_IMAGE_PLACEHOLDER)
    return "\n".join(chunks)


def estimate_tokens(messages: list[Message], chars_per_token: float = CHARS_PER_TOKEN) -> int:
    """A quick upper-side token estimate for chat messages (no tokenizer needed)."""
    total = 3
    for message in messages:
        text = _content_text(message.get("content", ""))
        total += _MESSAGE_OVERHEAD + math.ceil(len(text) / chars_per_token)
    return total


def _cut_middle(text: str, keep: int) -> str:
    if keep >= len(text):
        return text
    head = keep - keep // 2
    tail = keep // 2
    trimmed = len(text) - keep
    end = text[len(text) - tail:] if tail else ""
    return f"{text[:head]}\n[... {trimmed} characters trimmed ...]\n{end}"


def _water_level(lengths: list[int], available: float) -> int:
    """The largest per-message length cap whose trimmed total fits ``available``."""
    def cost(cap: int) -> int:
        return sum(n if n <= cap else cap + _MARKER_CHARS for n in lengths)

    low, high = _MIN_KEEP, max(lengths)
    if cost(low) > available:
        return low
    while low < high:
        middle = (low + high + 1) // 2
        if cost(middle) <= available:
            low = middle
        else:
            high = middle - 1
    return low


def trim_messages(
    messages: list[Message],
    max_prompt_tokens: int,
    *,
    chars_per_token: float = CHARS_PER_TOKEN,
) -> list[Message]:
    """Shorten the longest message contents from the middle until the prompt fits.

    The longest contents are cut first, down to a common length (short
    messages such as the question stay whole). The middle goes because a
    message's start (instructions, the artifact's head) and end (the latest
    feedback) matter most. Contents come back as plain strings (image parts
    become a placeholder). Returns the messages unchanged when they fit.
    """
    if not messages or estimate_tokens(messages, chars_per_token) <= max_prompt_tokens:
        return messages
    originals = [_content_text(m.get("content", "")) for m in messages]
    lengths = [len(text) for text in originals]
    fixed = 3 + (_MESSAGE_OVERHEAD + 1) * len(messages)  # +1: rounding up per message
    available = (max_prompt_tokens - fixed) * chars_per_token
    out = list(messages)
    for _ in range(8):
        cap = _water_level(lengths, available)
        out = [
            dict(m, content=_cut_middle(text, cap))
            for m, text in zip(messages, originals)
        ]
        excess = estimate_tokens(out, chars_per_token) - max_prompt_tokens
        if excess <= 0 or cap <= _MIN_KEEP:
            break
        available -= excess * chars_per_token + 16
    return out


class _Engine:
    """One loaded model and the lock that serializes calls into it."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int | None, verbose: bool) -> None:
        try:
            import xllamacpp
        except ImportError as exc:
            raise LMError(
                "the local model runtime is not installed: pip install 'honing[local]' "
                "(or pip install xllamacpp==2026.10.11549)"
            ) from exc
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.n_parallel = 1
        if n_threads:
            params.cpuparams.n_threads = n_threads
            params.cpuparams_batch.n_threads = n_threads
        params.verbosity = 3 if verbose else 0
        # The runtime also opens an HTTP listener on a random localhost port;
        # a random key keeps other local users off it, and the web UI is off.
        self.api_key = secrets.token_hex(16)
        params.api_keys = [self.api_key]
        params.ui = False
        started = time.perf_counter()
        try:
            self.server = xllamacpp.Server(params)
        except Exception as exc:  # the runtime raises plain RuntimeErrors
            raise LMError(f"could not load local model {path}: {exc}") from exc
        self.load_s = time.perf_counter() - started
        self.path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.lock = threading.Lock()

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            try:
                reply = self.server.handle_chat_completions(request)
            except Exception as exc:
                raise LMError(f"local model call failed: {exc}") from exc
        if isinstance(reply, (str, bytes)):
            reply = json.loads(reply)
        return reply


_engines: dict[str, _Engine] = {}
_engines_lock = threading.Lock()


def _engine_for(path: Path, n_ctx: int, n_threads: int | None, verbose: bool) -> _Engine:
    key = str(path.resolve())
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None or engine.n_ctx < n_ctx:
            # A larger context needs a reload; callers holding the old engine
            # keep it until they are done, then it is freed.
            engine = _Engine(path, n_ctx, n_threads, verbose)
            _engines[key] = engine
        return engine


def unload_models() -> None:
    """Drop this process's loaded models (memory is freed once no call uses them)."""
    with _engines_lock:
        _engines.clear()


class LocalLM:
    """A local GGUF chat model behind the LM protocol.

    ``name_or_path`` is a registered name (``local/qwen2.5-coder-1.5b``,
    ``local/qwen2.5-coder-0.5b``, ``local/smollm2-135m``) or a GGUF file path.
    The model loads on first use (or with ``load()``). Prompts longer than
    ``n_ctx - max_tokens`` are trimmed from the middle, never refused.
    Generation stops at ``max_tokens`` or after ``timeout_s`` seconds of
    generating (llama.cpp checks the time limit at line ends), whichever
    comes first.
    """

    #: One generation at a time: the engine queues proposals for this slot itself.
    max_concurrency = 1

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
        verbose: bool = False,
    ) -> None:
        if n_ctx < 256:
            raise ValueError("n_ctx must be at least 256 tokens")
        self.name = str(name_or_path)
        self.n_ctx = n_ctx
        # Keep at least a quarter of the window for the prompt.
        self.max_tokens = max(1, min(max_tokens, n_ctx * 3 // 4))
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.n_threads = n_threads  # None: llama.cpp picks (physical cores)
        self.seed = seed
        self.verbose = verbose or bool(os.environ.get("HONING_LLAMA_VERBOSE"))
        self._engine: _Engine | None = None
        self._engine_lock = threading.Lock()

    @property
    def context_window(self) -> int:
        """Tokens the model sees at once, prompt and reply together."""
        return self.n_ctx

    @property
    def max_prompt_tokens(self) -> int:
        return self.n_ctx - self.max_tokens

    def load(self) -> float:
        """Load the model now (otherwise the first call does); returns seconds spent."""
        with self._engine_lock:
            if self._engine is None:
                try:
                    path = model_path(self.name)
                except ModelFileError as exc:
                    raise LMError(str(exc)) from exc
                engine = _engine_for(path, self.n_ctx, self.n_threads, self.verbose)
                self._engine = engine
                return engine.load_s
            return 0.0

    def endpoint(self) -> tuple[str, str]:
        """The runtime's own HTTP listener: (``http://127.0.0.1:PORT``, API key); loads the model.

        ``honing serve-lm`` proxies to it, so streaming, stop sequences, JSON
        mode and logprobs are llama.cpp's own, not a reimplementation.
        """
        self.load()
        assert self._engine is not None
        return self._engine.server.listening_address, self._engine.api_key

    def with_options(
        self,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> "LocalLM":
        """A copy with other sampling settings that shares this one's loaded model."""
        other = copy.copy(self)
        other._engine_lock = threading.Lock()
        if max_tokens is not None:
            other.max_tokens = max(1, min(max_tokens, self.n_ctx * 3 // 4))
        if temperature is not None:
            other.temperature = temperature
        if seed is not None:
            other.seed = seed
        return other

    def complete(self, messages: list[Message]) -> Completion:
        return self.chat(messages)[0]

    def chat(self, messages: list[Message]) -> tuple[Completion, str]:
        """Like ``complete``, also returning the finish reason (``stop`` or ``length``)."""
        if self._engine is None:
            self.load()
        engine = self._engine
        assert engine is not None
        started = time.perf_counter()
        chars_per_token = CHARS_PER_TOKEN
        for _ in range(4):
            prompt = trim_messages(messages, self.max_prompt_tokens, chars_per_token=chars_per_token)
            request: dict[str, Any] = {
                "messages": [
                    {"role": m.get("role", "user"), "content": _content_text(m.get("content", ""))}
                    for m in prompt
                ],
                "max_tokens": self.max_tokens,
                "temperature": self.temperature,
                "t_max_predict_ms": max(1, int(self.timeout_s * 1000)),
                # Reusing the previous request's cached prefix changes the numerics slightly, so a
                # greedy (temperature 0) call could answer differently depending on what ran before.
                "cache_prompt": self.temperature > 0,
            }
            if self.seed is not None:
                request["seed"] = self.seed
            reply = engine.chat(request)
            error = reply.get("error")
            if not error:
                choice = (reply.get("choices") or [{}])[0]
                completion = self._completion(reply, time.perf_counter() - started)
                return completion, choice.get("finish_reason") or "stop"
            if error.get("type") != "exceed_context_size_error":
                raise LMError(f"local model {self.name}: {error.get('message', error)}")
            # The runtime counted the tokens for us: recalibrate and trim again.
            counted = int(error.get("n_prompt_tokens") or 0)
            chars = sum(len(_content_text(m.get("content", ""))) for m in prompt)
            if counted > 0 and chars > 0:
                chars_per_token = min(chars_per_token, 0.9 * chars / counted)
            else:
                chars_per_token /= 2
        raise LMError(f"local model {self.name}: could not trim the prompt to fit {self.n_ctx} tokens")

    def _completion(self, reply: dict[str, Any], duration_s: float) -> Completion:
        choices = reply.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content") or ""
        usage = reply.get("usage") or {}
        return Completion(
            text=text,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            cost_usd=0.0,
            model=self.name,
            duration_s=duration_s,
        )

    def __call__(self, prompt: str | list[Message]) -> str:
        """Convenience: a string becomes one user message; returns the reply text."""
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        return self.complete(messages).text

    def __repr__(self) -> str:
        return f"LocalLM({self.name!r}, n_ctx={self.n_ctx}, max_tokens={self.max_tokens})"

