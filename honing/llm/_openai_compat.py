"""A chat-completions client for any OpenAI-compatible server, stdlib only.

vLLM, llama.cpp's server, Ollama, LM Studio, OpenRouter and OpenAI itself
all speak ``POST {base_url}/chat/completions``. Supporting that one protocol
with ``urllib`` gives honing hosted and self-hosted models without any
dependency. Errors are sorted into transient (worth a retry: 429, 5xx,
timeouts, refused or dropped connections) and permanent (other 4xx, bad
replies), with the server's own message kept, because "400: model 'x' not
found" is what a user needs to see, not a stack trace.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from ._base import Completion, LMError, Message, TransientLMError
from ._keys import environment_key

_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
_MAX_ERROR_CHARS = 500


class OpenAICompatibleLM:
    """An LM served at ``{base_url}/chat/completions``.

    ``api_key``: without it, a key from the environment is sent only if it
    belongs to this endpoint (``$OPENAI_API_KEY`` to ``https://api.openai.com``
    or to ``$OPENAI_BASE_URL``, ``$OPENROUTER_API_KEY`` to OpenRouter, ...; see
    ``honing.llm._keys``); any other host gets no key unless you pass one.
    ``api_key=""`` sends none at all. ``extra_body`` is merged into every request (``top_p``, ``seed``,
    provider routing...). ``context_window`` (tokens), when given, lets
    prompt builders trim instead of overflowing the model.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout_s: float = 300.0,
        extra_body: dict[str, Any] | None = None,
        context_window: int | None = None,
    ) -> None:
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if not model:
            raise ValueError("model must be a non-empty model name")
        url = base_url.rstrip("/")
        self.url = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self.base_url = base_url
        self.model = model
        self.name = model
        self._key_note: str | None = None
        if api_key is None:
            self.api_key, self._key_note = environment_key(base_url)
        else:
            self.api_key = api_key
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.extra_body = dict(extra_body or {})
        self.context_window = context_window

    def request_body(self, messages: list[Message]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        body.update(self.extra_body)
        return body

    def complete(self, messages: list[Message]) -> Completion:
        data = json.dumps(self.request_body(messages)).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        started = time.monotonic()
        raw = self._send(request)
        duration = time.monotonic() - started
        return self._parse(raw, duration)

    def _send(self, request: urllib.request.Request) -> bytes:
        where = f"{self.model} at {self.url}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as exc:
            body = _read_quietly(exc)
            message = f"HTTP {exc.code} from {where}: {_server_message(body) or exc.reason}"
            if exc.code in (401, 403) and self._key_note:
                message += f" ({self._key_note})"
            if exc.code in _RETRYABLE_STATUS or exc.code >= 500:
                error = TransientLMError(message)
                error.retry_after_s = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                raise error from exc
            raise LMError(message) from exc
        except urllib.error.URLError as exc:  # refused, DNS, TLS, timeout while connecting
            raise TransientLMError(f"cannot reach {where}: {exc.reason}") from exc
        except TimeoutError as exc:
            raise TransientLMError(f"{where} did not answer within {self.timeout_s:g} s") from exc
        except (http.client.HTTPException, ConnectionError) as exc:  # dropped mid-reply
            raise TransientLMError(f"connection to {where} failed: {type(exc).__name__}: {exc}") from exc

    def _parse(self, raw: bytes, duration: float) -> Completion:
        try:
            reply = json.loads(raw)
        except ValueError as exc:
            raise LMError(f"{self.model} at {self.url} sent a reply that is not JSON: {_clip(raw)}") from exc
        if not isinstance(reply, dict):
            raise LMError(f"{self.model} at {self.url} sent an unexpected reply: {_clip(raw)}")
        if not reply.get("choices"):
            # Some gateways answer 200 with an error object instead of an HTTP error.
            problem = _server_message(raw) or f"no choices in reply: {_clip(raw)}"
            code = _error_code(reply)
            cls = TransientLMError if code is not None and (code in _RETRYABLE_STATUS or code >= 500) else LMError
            raise cls(f"{self.model} at {self.url}: {problem}")
        choice = reply["choices"][0]
        message = choice.get("message") or {}
        text = _content_text(message.get("content"))
        if text is None:
            refusal = message.get("refusal")
            why = f"refusal: {refusal}" if refusal else f"finish_reason={choice.get('finish_reason')!r}"
            raise LMError(f"{self.model} at {self.url} replied without text ({why})")
        usage = reply.get("usage") or {}
        return Completion(
            text=text,
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(usage.get("completion_tokens")),
            cost_usd=_float_or_none(usage.get("cost")),  # OpenRouter reports it; others do not
            model=reply.get("model") or self.model,
            duration_s=duration,
        )

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAICompatibleLM(base_url={self.base_url!r}, model={self.model!r})"


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # a few servers return content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return None


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except Exception:  # the body is a courtesy; the status code is what matters
        return b""


def _server_message(body: bytes) -> str:
    """The human message inside an error body (OpenAI, FastAPI and plain-text shapes)."""
    try:
        data = json.loads(body)
    except ValueError:
        return _clip(body)
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message") or error.get("msg") or error
        if error is not None:
            return _clip(error if isinstance(error, str) else json.dumps(error))
    return _clip(body)


def _error_code(reply: dict[str, Any]) -> int | None:
    error = reply.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:  # an HTTP date; the caller's own backoff is good enough
        return None


def _clip(text: Any) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    shown = str(text).strip()
    return shown if len(shown) <= _MAX_ERROR_CHARS else shown[:_MAX_ERROR_CHARS] + "..."


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
