"""serve-lm's request checks: every malformed or unsupported request becomes a 4xx with a reason.

A request is checked whole before any model sees it: strict JSON (no NaN,
Infinity or out-of-range numbers), the OpenAI field types and ranges, and an
allow-list of parameters per endpoint and backend. A parameter that the
backend would ignore is refused with a 400 naming it, never dropped
silently: a client that asks for tools or five choices must learn it did not
get them.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_MESSAGES = 4096
MAX_STOP = 16
ROLES = ("system", "user", "assistant", "developer")

# Accepted and dropped: bookkeeping and routing hints that cannot change the reply (clients send them
# unasked: LiteLLM adds OpenRouter's "usage", SDKs pass "user" and "metadata" through).
IGNORED = {"user", "metadata", "store", "usage", "provider", "transforms", "route"}
# Parameters the runtime's own server honours, per endpoint.
_SAMPLING = {
    "max_tokens", "temperature", "top_p", "top_k", "min_p", "seed", "stop", "presence_penalty",
    "frequency_penalty", "repeat_penalty", "logit_bias", "n", "stream", "stream_options", "model",
} | IGNORED
LOCAL_CHAT = _SAMPLING | {"messages", "max_completion_tokens", "logprobs", "top_logprobs", "response_format"}
LOCAL_COMPLETIONS = _SAMPLING | {"prompt", "logprobs"}
# A plain LM object answers a message list and nothing more.
PLAIN_CHAT = {"messages", "model", "stream", "stream_options", "n"} | IGNORED

_WHY_NOT = {
    "tools": "serve-lm does not do tool calling",
    "tool_choice": "serve-lm does not do tool calling",
    "parallel_tool_calls": "serve-lm does not do tool calling",
    "functions": "serve-lm does not do function calling",
    "function_call": "serve-lm does not do function calling",
    "audio": "the served models are text-only",
    "modalities": "the served models are text-only",
    "echo": "the prompt is not echoed",
    "suffix": "insertion (suffix) is not supported",
    "best_of": "one completion is generated per request",
}


class RequestError(Exception):
    """A request the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.param = param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.kind, "param": self.param, "code": self.status}}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; send a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, refusing NaN, Infinity and numbers a double cannot hold."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except UnicodeDecodeError as exc:
        raise RequestError(400, f"the body is not UTF-8 text: {exc}") from exc
    except RecursionError as exc:
        raise RequestError(400, "the body is nested too deeply") from exc
    except ValueError as exc:
        raise RequestError(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise RequestError(400, f"the body must be a JSON object, got {type(value).__name__}")
    return value


def content_length(header: str | None) -> int:
    if header is None:
        raise RequestError(411, "a Content-Length header is required (chunked request bodies are not accepted)")
    if not header.strip().isdigit():
        raise RequestError(400, f"Content-Length must be a non-negative integer, got {header[:40]!r}")
    length = int(header)
    if length > MAX_BODY_BYTES:
        raise RequestError(413, f"the body is {length} bytes; at most {MAX_BODY_BYTES} are accepted",
                           "request_too_large")
    return length


# -- field checks ------------------------------------------------------------------
def _number(body: dict[str, Any], name: str, low: float, high: float, integer: bool = False) -> None:
    if name not in body or body[name] is None:
        return
    value = body[name]
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise RequestError(400, f"'{name}' must be {kind}, got {json.dumps(value)[:60]}", param=name)
    if not low <= value <= high:
        raise RequestError(400, f"'{name}' must be between {low:g} and {high:g}, got {value!r:.60}", param=name)


def _flag(body: dict[str, Any], name: str) -> None:
    if body.get(name) is not None and not isinstance(body[name], bool):
        raise RequestError(400, f"'{name}' must be true or false, got {json.dumps(body[name])[:40]}", param=name)


def _check_stop(body: dict[str, Any]) -> None:
    stop = body.get("stop")
    if stop is None or isinstance(stop, str):
        return
    if (not isinstance(stop, list) or len(stop) > MAX_STOP
            or not all(isinstance(s, str) and s for s in stop)):
        raise RequestError(400, f"'stop' must be a string or a list of at most {MAX_STOP} non-empty strings",
                           param="stop")


def _check_response_format(body: dict[str, Any]) -> None:
    fmt = body.get("response_format")
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        raise RequestError(400, "'response_format' must be {\"type\": \"text\" | \"json_object\" | \"json_schema\"}",
                           param="response_format")
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise RequestError(400, "'response_format' of type json_schema needs json_schema.schema, a JSON "
                               "Schema object", param="response_format")


def _check_message(index: int, message: Any) -> dict[str, Any]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise RequestError(400, f"{where} must be an object with 'role' and 'content', got "
                           f"{json.dumps(message)[:60]}", param="messages")
    role = message.get("role")
    if role == "tool" or "tool_calls" in message or "function_call" in message:
        raise RequestError(400, f"{where}: serve-lm does not do tool calling", param="messages")
    if role not in ROLES:
        raise RequestError(400, f"{where}.role must be one of {', '.join(ROLES)}, got {json.dumps(role)[:40]}",
                           param="messages")
    extra = set(message) - {"role", "content", "name"}
    if extra:
        raise RequestError(400, f"{where} has fields serve-lm does not use: {', '.join(sorted(extra))}",
                           param="messages")
    content = message.get("content")
    if content is None and role == "assistant":
        return {"role": role, "content": ""}
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise RequestError(400, f"{where}.content: only text parts are supported (the served models are "
                                   f"text-only), got a {kind!r} part", param="messages")
            parts.append(part["text"])
        text = "".join(parts)
    else:
        raise RequestError(400, f"{where}.content must be a string or a list of text parts, got "
                           f"{json.dumps(content)[:60]}", param="messages")
    return {"role": "system" if role == "developer" else role, "content": text}


def _check_allowed(body: dict[str, Any], allowed: set[str], served: str) -> None:
    for name in body:
        if name in allowed:
            continue
        reason = _WHY_NOT.get(name, f"serve-lm does not support it for {served}")
        raise RequestError(400, f"unsupported parameter '{name}': {reason}", param=name)


def check_sampling(body: dict[str, Any], max_tokens_limit: int) -> None:
    for name in ("max_tokens", "max_completion_tokens"):
        _number(body, name, 1, max_tokens_limit, integer=True)
    _number(body, "temperature", 0, 100)
    _number(body, "top_p", 0, 1)
    _number(body, "min_p", 0, 1)
    _number(body, "top_k", 0, 1_000_000, integer=True)
    _number(body, "seed", -(2**63), 2**64 - 1, integer=True)
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    _number(body, "repeat_penalty", 0, 100)
    if body.get("n") not in (None, 1):
        raise RequestError(400, f"'n' must be 1: one choice per request is generated (got "
                           f"{json.dumps(body['n'])[:40]}); send several requests instead", param="n")
    _flag(body, "stream")
    options = body.get("stream_options")
    if options is not None and (not isinstance(options, dict)
                                or not isinstance(options.get("include_usage", False), bool)):
        raise RequestError(400, "'stream_options' must be an object like {\"include_usage\": true}",
                           param="stream_options")
    bias = body.get("logit_bias")
    if bias is not None and (not isinstance(bias, dict) or not all(
            k.lstrip("-").isdigit() and isinstance(v, (int, float)) and not isinstance(v, bool)
            for k, v in bias.items())):
        raise RequestError(400, "'logit_bias' must map token ids to numbers", param="logit_bias")
    _check_stop(body)
    if "model" in body and not isinstance(body["model"], (str, type(None))):
        raise RequestError(400, "'model' must be a string", param="model")


def check_chat(body: dict[str, Any], *, local: bool, served: str, max_tokens_limit: int) -> list[dict[str, Any]]:
    """Check a chat request; returns its messages in the form the model is given."""
    _check_allowed(body, LOCAL_CHAT if local else PLAIN_CHAT, served)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "'messages' must be a non-empty list of {\"role\", \"content\"} objects",
                           param="messages")
    if len(messages) > MAX_MESSAGES:
        raise RequestError(400, f"at most {MAX_MESSAGES} messages are accepted", param="messages")
    checked = [_check_message(i, m) for i, m in enumerate(messages)]
    check_sampling(body, max_tokens_limit)
    _flag(body, "logprobs")
    _number(body, "top_logprobs", 0, 20, integer=True)
    _check_response_format(body)
    return checked


def check_completion(body: dict[str, Any], *, served: str, max_tokens_limit: int) -> None:
    _check_allowed(body, LOCAL_COMPLETIONS, served)
    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        raise RequestError(400, "'prompt' must be a string", param="prompt")
    check_sampling(body, max_tokens_limit)
    logprobs = body.get("logprobs")
    if logprobs is not None and (isinstance(logprobs, bool) or not isinstance(logprobs, int)
                                 or not 0 <= logprobs <= 20):
        raise RequestError(400, "'logprobs' for completions is the number of alternatives per token, 0 to 20",
                           param="logprobs")

