"""Turn whatever the user named as a model into an LM.

Configuration stays plain data (a string or a dict can live in a config file
or a CLI flag) while code can still pass an object or a function. The rules,
in order:

* an object with ``.complete(messages)``: used as it is;
* ``"local/<name>"`` or a ``*.gguf`` path: the embedded local model;
* ``{"base_url": ..., "model": ...}`` or ``"http(s)://host:port/v1#model"``:
  an OpenAI-compatible server, called with the standard library;
* any other string: a LiteLLM model string (``"openai/gpt-4.1-mini"``);
* any other callable: ``prompt -> str``.

Network-backed models are wrapped in ``RetryingLM``; local and user-supplied
ones are not (they have no rate limits, and a user's own function should fail
the way the user wrote it).

API keys: an endpoint string or dict gets a key from the environment only if
that key belongs to the endpoint (``honing.llm._keys``); pass ``api_key=`` to
send one anywhere else.
"""

from __future__ import annotations

from typing import Any, TypeGuard
from urllib.parse import urlsplit

from ._base import LM, Completion, Message, inner_attribute
from ._callable import CallableLM, callable_name
from ._retry import RetryingLM
from ._usage import UsageMeter

ACCEPTED_FORMS = (
    "an object with .complete(messages), 'local/<model>' (embedded model), "
    "'http(s)://host:port/v1#model-name' or {'base_url': ..., 'model': ...} (OpenAI-compatible server), "
    "a LiteLLM model string such as 'openai/gpt-4.1-mini', or a callable prompt -> str"
)
_RETRY_OPTIONS = ("max_attempts", "base_delay_s", "max_delay_s")


def resolve_lm(spec: Any, **options: Any) -> LM:
    """An LM for ``spec`` (see the module docstring for the accepted forms).

    ``options`` go to the constructor of the LM that is built (for example
    ``temperature=`` or ``api_base=``); ``max_attempts``, ``base_delay_s``
    and ``max_delay_s`` configure the retry wrapper of hosted models.
    """
    if _is_lm(spec):
        if options:
            raise TypeError(f"options {sorted(options)} cannot be applied to an LM object that is already built")
        return spec
    if isinstance(spec, str):
        if not spec.strip():
            raise ValueError(f"an empty string is not a model name; accepted: {ACCEPTED_FORMS}")
        if spec.startswith("local/") or spec.lower().endswith(".gguf"):
            from ._local import LocalLM  # heavy optional backend, only when asked for

            return LocalLM(spec, **options)
        if spec.startswith(("http://", "https://")):
            base_url, model = split_endpoint(spec)
            return _hosted(_openai_compatible, options, base_url=base_url, model=model)
        return _hosted(_litellm, options, model=spec)
    if isinstance(spec, dict):
        missing = [k for k in ("base_url", "model") if not spec.get(k)]
        if missing:
            needed = " and ".join(repr(k) for k in missing)
            raise ValueError(f"an endpoint dict needs {needed}; got keys {sorted(spec)}")
        return _hosted(_openai_compatible, {**spec, **options})
    if callable(spec):
        return CallableLM(spec, **options)
    raise TypeError(f"cannot use {type(spec).__name__} {_short(spec)} as a language model; accepted: {ACCEPTED_FORMS}")


def split_endpoint(spec: str) -> tuple[str, str]:
    """``"http://host:port/v1#model"`` -> ``("http://host:port/v1", "model")``."""
    base_url, _, model = spec.partition("#")
    if not model or not urlsplit(base_url).netloc:
        raise ValueError(
            f"an endpoint string must look like 'http://host:port/v1#model-name' "
            f"(the model after '#'), got {spec!r}"
        )
    return base_url, model


def lm_name(spec: Any) -> str:
    """A short display name for a model spec or LM: the model name, or a callable's qualname."""
    if isinstance(spec, str):
        if spec.startswith(("http://", "https://")) and "#" in spec:
            return spec.partition("#")[2]
        return spec
    if isinstance(spec, dict):
        return str(spec.get("model") or "openai-compatible")
    for attr in ("name", "model", "model_name"):
        value = _own_attr(spec, attr)
        if isinstance(value, str) and value:
            return value
    inner = _own_attr(spec, "inner")
    if inner is not None and inner is not spec:
        return lm_name(inner)
    if callable(spec) and not _is_lm(spec):
        return callable_name(spec)
    return type(spec).__qualname__


class ChatLM:
    """A model ready for user code: ``model(prompt) -> str``, plus ``complete``.

    Lets a task program call the same model honing reflects with (or any
    other spec) without learning the LM protocol. ``usage`` totals this
    object's own calls, so a task can report what its model cost.
    """

    def __init__(self, inner: LM, name: str) -> None:
        self.inner = inner
        self.name = name
        self.usage = UsageMeter()
        self._metered = self.usage.metered(inner)

    def __call__(self, prompt: str | list[Message]) -> str:
        return self.complete(to_messages(prompt)).text

    def complete(self, messages: list[Message]) -> Completion:
        return self._metered.complete(messages)

    def __getattr__(self, name: str) -> Any:
        return inner_attribute(self, name)

    def __repr__(self) -> str:
        return f"lm({self.name!r})"


def lm(name: Any, **options: Any) -> ChatLM:
    """A chat callable for user code, from any spec ``resolve_lm`` accepts.

    >>> model = lm("openai/gpt-4.1-mini", temperature=0)   # doctest: +SKIP
    >>> model("Say hi")                                    # doctest: +SKIP
    """
    return ChatLM(resolve_lm(name, **options), lm_name(name))


def to_messages(prompt: str | list[Message]) -> list[Message]:
    """A bare prompt becomes one user message; a message list passes unchanged."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt):
        return prompt
    raise TypeError(f"prompt must be a str or a list of chat message dicts, got {type(prompt).__name__}")


def _hosted(build: Any, options: dict[str, Any], **fixed: Any) -> LM:
    retry = {k: options.pop(k) for k in _RETRY_OPTIONS if k in options}
    return RetryingLM(build(**fixed, **options), **retry)


def _openai_compatible(**kwargs: Any) -> LM:
    from ._openai_compat import OpenAICompatibleLM

    return OpenAICompatibleLM(**kwargs)


def _litellm(model: str, **kwargs: Any) -> LM:
    from ._litellm import LiteLLMLM

    return LiteLLMLM(model, **kwargs)


def _is_lm(obj: Any) -> TypeGuard[LM]:
    return not isinstance(obj, type) and callable(getattr(obj, "complete", None))


def _own_attr(obj: Any, attr: str) -> Any:
    """``getattr`` that treats a failing property (e.g. lazy model info) as absent."""
    try:
        return getattr(obj, attr, None)
    except Exception:
        return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
