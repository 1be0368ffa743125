"""Language models: the LM protocol and its implementations.

Heavy backends (litellm, the embedded local model) are imported only when a
model that needs them is built, so ``import honing`` stays dependency-free.
"""

from ._base import LM, Completion, LMError, Message, TransientLMError
from ._callable import CallableLM
from ._litellm import LiteLLMLM
from ._local import CallCancelled, LocalLM, Speculation, trim_messages
from ._model_files import DEFAULT_REFLECTION_MODEL, DEFAULT_TASK_MODEL, MODELS, ModelFileError
from ._openai_compat import OpenAICompatibleLM
from ._resolve import lm, resolve_lm
from ._retry import RetryingLM
from ._server import serve
from ._usage import UsageMeter

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
