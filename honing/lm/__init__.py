"""Language models: the LM protocol and its implementations."""

from ._base import LM, Completion, LMError, Message, TransientLMError

__all__ = ["LM", "Completion", "LMError", "Message", "TransientLMError"]
