"""Language models: the LM protocol and its implementations.

Only the protocol (``LM``, ``Completion``, the errors) is loaded with the package. Every
implementation -- a callable's wrapper, litellm, OpenAI-compatible HTTP, the embedded local
model, the ``serve-lm`` server -- is imported the first time one of its names is used, so
``import honing`` and a run with a callable LM never load an HTTP stack, a server or a model
runtime (issue 12: that import was most of a small run's fixed cost).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from ._base import LM, Completion, LMError, Message, TransientLMError

if TYPE_CHECKING:
    from ._callable import CallableLM
    from ._litellm import LiteLLMLM
    from ._local import CallCancelled, LocalLM, Speculation, trim_messages
    from ._model_files import DEFAULT_REFLECTION_MODEL, DEFAULT_TASK_MODEL, MODELS, ModelFileError
    from ._openai_compat import OpenAICompatibleLM
    from ._resolve import lm, resolve_lm
    from ._retry import RetryingLM
    from ._server import serve
    from ._usage import UsageMeter

#: public name -> the submodule that defines it, imported on first use
_LAZY = {
    "CallableLM": "._callable",
    "LiteLLMLM": "._litellm",
    "CallCancelled": "._local", "LocalLM": "._local", "Speculation": "._local", "trim_messages": "._local",
    "DEFAULT_REFLECTION_MODEL": "._model_files", "DEFAULT_TASK_MODEL": "._model_files", "MODELS": "._model_files",
    "ModelFileError": "._model_files",
    "OpenAICompatibleLM": "._openai_compat",
    "lm": "._resolve", "resolve_lm": "._resolve",
    "RetryingLM": "._retry",
    "serve": "._server",
    "UsageMeter": "._usage",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())

__all__ = [
    "CallCancelled",
    "DEFAULT_REFLECTION_MODEL",
    "DEFAULT_TASK_MODEL",
    "LM",
    "MODELS",
    "CallableLM",
    "Completion",
    "LMError",
    "LiteLLMLM",
    "LocalLM",
    "ModelFileError",
    "Message",
    "OpenAICompatibleLM",
    "RetryingLM",
    "Speculation",
    "TransientLMError",
    "UsageMeter",
    "lm",
    "resolve_lm",
    "serve",
    "trim_messages",
]
