"""Hosted models through LiteLLM: one model string for any provider.

LiteLLM maps ``"openai/gpt-4.1-mini"``, ``"anthropic/..."``, ``"openrouter/..."``,
``"ollama/..."`` and many more onto their providers and keeps a price table,
which is what lets a run stop on cost. It is heavy and optional, so it is
imported only when a LiteLLM model is actually used, with an error that says
how to install it. Pricing is best effort: a model missing from the table
gives ``cost_usd=None`` ("unknown"), never an exception mid-run.
"""

from __future__ import annotations

import os
import threading
import time
from types import ModuleType
from typing import Any

from ._base import Completion, LMError, Message, TransientLMError
from ._keys import LITELLM_PROVIDER_KEYS, environment_key

INSTALL_HINT = "LiteLLM model strings need litellm: pip install 'honing[hosted]'"

# LiteLLM exception class names that mean "try again later".
_TRANSIENT_NAMES = (
    "RateLimitError", "Timeout", "APIConnectionError", "ServiceUnavailableError",
    "InternalServerError", "BadGatewayError", "RouterRateLimitError",
)
_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
NO_KEY = "no-key"  # sent instead of an environment key that belongs to another host


def import_litellm() -> ModuleType:
    """Import litellm or raise ImportError with the install command."""
    # litellm fetches its price table from the internet at import unless told to use
    # the copy it ships; honing must work offline, so prefer the local copy.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    # Without this, litellm prints a "Provider List: https://docs.litellm.ai/..." banner (and
    # "Give Feedback / Get Help" on errors) straight to stdout on every call it cannot price or
    # map; honing reports such failures itself, so the banner is only noise in the user's output.
    litellm.suppress_debug_info = True
    return litellm


class LiteLLMLM:
    """An LM called through ``litellm.completion(model=model, messages=..., **kwargs)``.

    ``kwargs`` go to every call unchanged (``api_base``, ``api_key``,
    ``temperature``, ``max_tokens``, ``timeout``...). litellm's own retries
    are left to the caller; wrap in ``RetryingLM`` (``resolve_lm`` does).

    With an ``api_base`` of another host and no ``api_key``, LiteLLM would send
    the provider's key from the environment to that host; a placeholder key is
    sent instead unless the key belongs there (see ``honing.llm._keys``).
    """

    def __init__(self, model: str, **kwargs: Any) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError("model must be a non-empty LiteLLM model string, e.g. 'openai/gpt-4.1-mini'")
        self._litellm = import_litellm()
        self.model = model
        self.name = model
        self._key_note: str | None = None
        self.kwargs = self._guard_key(model, dict(kwargs))
        self._window: int | None = None
        self._window_known = False
        self._window_lock = threading.Lock()

    def _guard_key(self, model: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        base = kwargs.get("api_base") or kwargs.get("base_url")
        var = LITELLM_PROVIDER_KEYS.get(model.split("/", 1)[0] if "/" in model else "openai")
        if not base or kwargs.get("api_key") is not None or var is None:
            return kwargs
        key, why = environment_key(str(base), var)
        if key is None and why:
            kwargs["api_key"] = NO_KEY  # LiteLLM falls back to the environment on None or ""
            self._key_note = why
        return kwargs

    def complete(self, messages: list[Message]) -> Completion:
        litellm = self._litellm
        started = time.monotonic()
        try:
            response = litellm.completion(model=self.model, messages=messages, **self.kwargs)
        except Exception as exc:
            raise _translate(litellm, exc, self.model, self._key_note) from exc
        duration = time.monotonic() - started
        try:
            message = response.choices[0].message
        except (AttributeError, IndexError, KeyError, TypeError) as exc:
            raise LMError(f"{self.model} returned a reply without choices: {response!r:.300}") from exc
        text = getattr(message, "content", None)
        if not isinstance(text, str):
            finish = getattr(response.choices[0], "finish_reason", None)
            raise LMError(f"{self.model} replied without text (finish_reason={finish!r})")
        usage = getattr(response, "usage", None)
        return Completion(
            text=text,
            prompt_tokens=_int_or_none(getattr(usage, "prompt_tokens", None)),
            completion_tokens=_int_or_none(getattr(usage, "completion_tokens", None)),
            cost_usd=self._cost(response),
            model=getattr(response, "model", None) or self.model,
            duration_s=duration,
        )

    def _cost(self, response: Any) -> float | None:
        try:
            cost = self._litellm.completion_cost(completion_response=response, model=self.model)
        except Exception:  # unpriced model or provider: unknown, not an error
            return None
        return float(cost) if isinstance(cost, (int, float)) and cost >= 0 else None

    @property
    def context_window(self) -> int | None:
        """Input tokens the model accepts, from LiteLLM's table (None if it is not listed)."""
        with self._window_lock:
            if not self._window_known:
                info = _model_info(self._litellm, self.model)
                window = (info.get("max_input_tokens") or info.get("max_tokens")) if info else None
                self._window = window if isinstance(window, int) and window > 0 else None
                self._window_known = True
            return self._window

    # Picklable: the module and the lock are rebuilt in the receiving process.
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_litellm", "_window_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._litellm = import_litellm()
        self._window_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LiteLLMLM({self.model!r})"


def price_per_token(model: str) -> tuple[float, float] | None:
    """(input, output) USD per token for ``model`` from LiteLLM's cost map.

    None when litellm is not installed or the model has no listed price:
    cost estimates are advisory and must never stop a run from starting.
    """
    try:
        litellm = import_litellm()
    except ImportError:
        return None
    info = _model_info(litellm, model)
    if not info:
        return None
    cost_in, cost_out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if not isinstance(cost_in, (int, float)) or not isinstance(cost_out, (int, float)):
        return None
    return float(cost_in), float(cost_out)


def _model_info(litellm: ModuleType, model: str) -> dict[str, Any] | None:
    try:
        info = litellm.get_model_info(model)
    except Exception:
        info = None
    if not info:  # fall back to the raw table, with and without the provider prefix
        table = getattr(litellm, "model_cost", None) or {}
        info = table.get(model) or table.get(model.split("/", 1)[-1])
    return dict(info) if info else None


def _translate(litellm: ModuleType, exc: Exception, model: str, key_note: str | None = None) -> LMError:
    """Map a litellm (or openai/httpx) exception onto TransientLMError or LMError."""
    if isinstance(exc, LMError):
        return exc
    transient = tuple(t for t in (getattr(litellm, n, None) for n in _TRANSIENT_NAMES) if isinstance(t, type))
    status = getattr(exc, "status_code", None)
    retry = (
        isinstance(exc, transient + (TimeoutError, ConnectionError))
        or (isinstance(status, int) and (status in _RETRYABLE_STATUS or status >= 500))
    )
    detail = str(exc).strip() or type(exc).__name__
    if len(detail) > 800:
        detail = detail[:800] + "..."
    message = f"{model}: {type(exc).__name__}: {detail}"
    if key_note and status in (401, 403):
        message += f" ({key_note})"
    return TransientLMError(message) if retry else LMError(message)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
