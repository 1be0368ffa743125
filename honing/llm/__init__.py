"""Language models: the LM protocol and its implementations.

Heavy backends (litellm, the embedded local model) are imported only when a
model that needs them is built, so ``import honing`` stays dependency-free.
"""

from ._base import LM, Completion, LMError, Message, TransientLMError
from ._callable import CallableLM
from ._litellm import LiteLLMLM
from ._openai_compat import OpenAICompatibleLM
from ._resolve import lm, resolve_lm
from ._retry import RetryingLM
from ._usage import UsageMeter

__all__ = [
    "LM",
    "CallableLM",
    "Completion",
    "LMError",
    "LiteLLMLM",
    "Message",
    "OpenAICompatibleLM",
    "RetryingLM",
    "TransientLMError",
    "UsageMeter",
    "lm",
    "resolve_lm",
]
