"""The loaded model behind ``LocalLM``: one llama.cpp runtime, called one request at a time.

Every call streams: the runtime reports each batch of prompt tokens it has
read and each token it writes. That is what allows

* a live status for progress displays (``CallStatus.describe``), so a slow
  machine looks slow rather than stuck;
* a time limit on the whole call, prompt reading included, checked at every
  report (the runtime's own limit counts only writing, and only at line ends);
* stopping early: on ``cancel``, or once the reply holds a complete answer.

Prompt batches are kept small (``PROMPT_BATCH`` tokens) so those reports, and
with them a time limit or a cancel, come every second or two even while a long
prompt is read; on 2 cores reading was no slower than with the runtime's
default of 2048 (measured in ``bench/local_lm.py``).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._base import LMError

__all__ = ["CallCancelled", "CallStatus", "Reply", "Runtime", "RuntimeOptions", "Speculation", "PROMPT_BATCH"]

PROMPT_BATCH = 128
_clock = time.monotonic  # the time limit's clock (tests replace it)
SPECULATION_KINDS = ("ngram_simple", "ngram_map_k", "ngram_mod", "ngram_cache", "draft")


class CallCancelled(LMError):
    """The call was ended by ``LocalLM.cancel()`` (for example because the run it served stopped)."""


@dataclass(frozen=True)
class Speculation:
    """Speculative decoding: cheap guesses of the next tokens that the model checks in one batch.

    ``kind`` is an n-gram lookup in the text so far (``ngram_simple``, ...;
    code edits copy much of the prompt) or ``draft`` with ``draft_path``, a
    smaller model with the same tokenizer. ``n_min``/``n_max`` bound the
    guessed tokens per step.
    """

    kind: str
    n_min: int = 0
    n_max: int = 16
    ngram: int = 4
    draft_path: Path | None = None

    def __post_init__(self) -> None:
        if self.kind not in SPECULATION_KINDS:
            raise ValueError(f"speculation kind must be one of {', '.join(SPECULATION_KINDS)}; got {self.kind!r}")
        if self.kind == "draft" and self.draft_path is None:
            raise ValueError("speculation kind 'draft' needs draft_path (a GGUF model with the same tokenizer)")


@dataclass(frozen=True)
class RuntimeOptions:
    n_ctx: int
    n_threads: int
    speculation: Speculation | None = None
    verbose: bool = False


@dataclass
class Reply:
    """What one call produced. ``finish``: stop, length, timeout, or the reason a ``stop_at`` hint gave."""

    text: str
    finish: str
    prompt_tokens: int | None
    completion_tokens: int | None
    timings: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None


class CallStatus:
    """The live state of one call, written by the calling thread and read by any other.

    Each update replaces one tuple, so a reader always sees a consistent state
    without taking a lock. Rates are taken when a report arrives (the prompt's
    from the runtime's own clock), so they do not sag between reports.
    """

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self._state: tuple[str, int, int, float, float] = ("queued", 0, 0, 0.0, time.monotonic())

    @property
    def phase(self) -> str:
        return self._state[0]

    def set(self, phase: str, done: int = 0, total: int = 0, rate: float = 0.0) -> None:
        since = self._state[4] if self._state[0] == phase else time.monotonic()
        self._state = (phase, done, total, rate, since)

    def wrote(self, tokens: int) -> None:
        """One more reply token; the rate counts from the first."""
        phase, _, _, _, since = self._state
        now = time.monotonic()
        if phase != "writing":
            self._state = ("writing", tokens, 0, 0.0, now)
            return
        elapsed = now - since
        self._state = ("writing", tokens, 0, (tokens - 1) / elapsed if elapsed > 0 else 0.0, since)

    def describe(self) -> str:
        phase, done, total, rate, since = self._state
        if phase == "reading":
            text = f"reading prompt {done}/{total} tok" if total else "reading prompt"
            return text + (f", {rate:.0f} tok/s" if rate > 0 else "")
        if phase == "writing":
            return f"writing {done} tok" + (f", {rate:.1f} tok/s" if rate > 0 and done > 2 else "")
        if phase == "loading":
            return f"loading model ({time.monotonic() - since:.0f} s)"
        return "queued"


def _xllamacpp() -> Any:
    try:
        import xllamacpp
    except ImportError as exc:
        raise LMError(
            "the local model runtime is not installed: pip install 'honing[local]' "
            "(or pip install xllamacpp==2026.10.11549)"
        ) from exc
    return xllamacpp


class Runtime:
    """One loaded model and the lock that serializes calls into it."""

    def __init__(self, server: Any, path: Path, options: RuntimeOptions, load_s: float = 0.0,
                 api_key: str = "") -> None:
        self.server = server  # anything with handle_chat_completions(body, callback), like xllamacpp.Server
        self.api_key = api_key  # for the runtime's own HTTP listener (serve-lm proxies to it)
        self.path = path
        self.options = options
        self.load_s = load_s
        self.loaded_at = time.monotonic()
        self.lock = threading.Lock()

    @classmethod
    def load(cls, path: Path, options: RuntimeOptions) -> Runtime:
        """Load ``path`` into a new llama.cpp runtime (seconds for the 1.5B model)."""
        x = _xllamacpp()
        params = x.CommonParams()
        params.model.path = str(path)
        params.n_ctx = options.n_ctx
        params.n_parallel = 1
        params.n_batch = PROMPT_BATCH
        params.n_ubatch = PROMPT_BATCH
        params.cpuparams.n_threads = options.n_threads
        params.cpuparams_batch.n_threads = options.n_threads
        params.verbosity = 3 if options.verbose else 0
        if options.speculation is not None:
            _configure_speculation(x, params, options.speculation, options.n_threads)
        # The runtime also opens an HTTP listener on a random localhost port;
        # a random key keeps other local users off it, and the web UI is off.
        api_key = secrets.token_hex(16)
        params.api_keys = [api_key]
        params.ui = False
        started = time.perf_counter()
        try:
            server = x.Server(params)
        except Exception as exc:  # the runtime raises plain RuntimeErrors
            raise LMError(f"could not load local model {path}: {exc}") from exc
        return cls(server, path, options, time.perf_counter() - started, api_key)

    def call(self, request: dict[str, Any], status: CallStatus, *, timeout_s: float | None = None,
             stop_at: Callable[[str], str | None] | None = None) -> Reply:
        """Run one chat request (the caller holds ``self.lock``), streaming, and collect the reply.

        ``timeout_s`` counts from now and covers reading the prompt too;
        ``stop_at(text)`` is asked at each line end and ends the call when it
        gives a reason (the reply holds a complete answer, or is looping).
        """
        deadline = None if timeout_s is None else _clock() + timeout_s
        collected = _Collector(status, deadline, stop_at)
        body = dict(request, stream=True, return_progress=True, stream_options={"include_usage": True})
        if timeout_s is not None:  # (so is the deadline)
            body["t_max_predict_ms"] = max(1, int(timeout_s * 1000))
        status.set("reading")
        try:
            self.server.handle_chat_completions(body, collected.on_chunk)
        except Exception as exc:
            raise LMError(f"local model call failed: {exc}") from exc
        if collected.failure is not None:  # raised inside the callback, which must not raise
            raise LMError(f"local model call failed: {collected.failure}") from collected.failure
        if status.cancelled.is_set() and collected.finish == "cancelled":
            raise CallCancelled("the local model call was cancelled")
        return collected.reply()


class _Collector:
    """The streaming callback: gathers text and counts, updates the status, says when to stop."""

    def __init__(self, status: CallStatus, deadline: float | None,
                 stop_at: Callable[[str], str | None] | None) -> None:
        self.status = status
        self.deadline = deadline
        self.stop_at = stop_at
        self.parts: list[str] = []
        self.tokens = 0
        self.prompt_total: int | None = None
        self.finish: str | None = None
        self.usage: dict[str, Any] = {}
        self.timings: dict[str, Any] = {}
        self.error: dict[str, Any] | None = None
        self.failure: BaseException | None = None

    def on_chunk(self, chunk: Any) -> bool:
        """Return True to stop the call."""
        try:
            return self._take(chunk)
        except BaseException as exc:  # the runtime would swallow it: keep it and stop
            self.failure = exc
            return True

    def _take(self, chunk: Any) -> bool:
        if isinstance(chunk, (str, bytes)):
            chunk = json.loads(chunk)
        if not isinstance(chunk, dict):
            raise LMError(f"unexpected chunk from the runtime: {str(chunk)[:200]}")
        if "error" in chunk or chunk.get("type", "").endswith("_error"):
            self.error = chunk.get("error") if isinstance(chunk.get("error"), dict) else chunk
            return True
        progress = chunk.get("prompt_progress")
        if progress:
            self.prompt_total = int(progress.get("total") or 0)
            done, cached = int(progress.get("processed") or 0), int(progress.get("cache") or 0)
            spent_ms = float(progress.get("time_ms") or 0)
            rate = (done - cached) * 1000.0 / spent_ms if spent_ms > 0 and done > cached else 0.0
            self.status.set("reading", done, self.prompt_total, rate)
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        if chunk.get("timings"):
            self.timings = chunk["timings"]
        new_line = False
        for choice in chunk.get("choices") or ():
            delta = (choice.get("delta") or {}).get("content")
            if delta:
                self.parts.append(delta)
                self.tokens += 1
                new_line = new_line or "\n" in delta
                self.status.wrote(self.tokens)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        if self.status.cancelled.is_set():
            self.finish = "cancelled"
            return True
        if self.deadline is not None and _clock() >= self.deadline:
            self.finish = "timeout"
            return True
        if new_line and self.stop_at is not None:
            reason = self.stop_at("".join(self.parts))
            if reason:
                self.finish = str(reason)
                return True
        return False

    def reply(self) -> Reply:
        usage = self.usage
        return Reply(
            text="".join(self.parts),
            finish=self.finish or "stop",
            prompt_tokens=usage.get("prompt_tokens", self.prompt_total),
            completion_tokens=usage.get("completion_tokens", self.tokens if self.parts else 0),
            timings=self.timings,
            error=self.error,
        )


def _configure_speculation(x: Any, params: Any, spec: Speculation, n_threads: int) -> None:
    sp = params.speculative
    kinds = x.common_speculative_type
    if spec.kind == "draft":
        sp.draft.mparams.path = str(spec.draft_path)
        sp.draft.n_max = spec.n_max
        sp.draft.n_min = spec.n_min
        sp.draft.cpuparams.n_threads = n_threads
        sp.draft.cpuparams_batch.n_threads = n_threads
        sp.types = [kinds.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
        return
    sp.types = [getattr(kinds, "COMMON_SPECULATIVE_TYPE_" + spec.kind.upper())]
    if spec.kind in ("ngram_simple", "ngram_map_k"):
        table = sp.ngram_simple if spec.kind == "ngram_simple" else sp.ngram_map_k
        table.size_n = spec.ngram
        table.size_m = spec.n_max
    elif spec.kind == "ngram_mod":
        sp.ngram_mod.n_match = spec.ngram
        sp.ngram_mod.n_min = max(1, spec.n_min)
        sp.ngram_mod.n_max = spec.n_max
