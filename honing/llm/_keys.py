"""Which API key from the environment may go to which host.

A key in ``$OPENAI_API_KEY`` belongs to OpenAI. Sending it to whatever host an endpoint
string names (``"http://host:8000/v1#model"``, a LiteLLM ``api_base``) hands it to that
host, and model strings can come from config files, CLI flags or other people. So a key
from the environment goes only to its provider's own HTTPS origin, or to the endpoint the
user paired it with in the matching ``*_BASE_URL`` variable. A key passed explicitly
(``api_key=...``) goes where the user says.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

__all__ = ["KEY_HINT", "environment_key", "origin", "provider_origin"]

# env var holding the key -> (the provider's origin, env vars that may name another endpoint for it)
PROVIDERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "OPENAI_API_KEY": ("https://api.openai.com", ("OPENAI_BASE_URL", "OPENAI_API_BASE")),
    "OPENROUTER_API_KEY": ("https://openrouter.ai", ("OPENROUTER_BASE_URL", "OPENROUTER_API_BASE")),
    "ANTHROPIC_API_KEY": ("https://api.anthropic.com", ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_BASE")),
    "GROQ_API_KEY": ("https://api.groq.com", ("GROQ_BASE_URL", "GROQ_API_BASE")),
    "TOGETHER_API_KEY": ("https://api.together.xyz", ("TOGETHER_BASE_URL", "TOGETHERAI_API_BASE")),
    "TOGETHERAI_API_KEY": ("https://api.together.xyz", ("TOGETHERAI_API_BASE",)),
    "DEEPSEEK_API_KEY": ("https://api.deepseek.com", ("DEEPSEEK_BASE_URL", "DEEPSEEK_API_BASE")),
    "MISTRAL_API_KEY": ("https://api.mistral.ai", ("MISTRAL_BASE_URL", "MISTRAL_API_BASE")),
    "FIREWORKS_AI_API_KEY": ("https://api.fireworks.ai", ("FIREWORKS_AI_API_BASE",)),
    "XAI_API_KEY": ("https://api.x.ai", ("XAI_BASE_URL", "XAI_API_BASE")),
    "GEMINI_API_KEY": ("https://generativelanguage.googleapis.com", ("GEMINI_API_BASE",)),
}
# LiteLLM provider prefix -> the env var of its key
LITELLM_PROVIDER_KEYS = {
    "openai": "OPENAI_API_KEY", "openrouter": "OPENROUTER_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
    "groq": "GROQ_API_KEY", "together_ai": "TOGETHERAI_API_KEY", "deepseek": "DEEPSEEK_API_KEY",
    "mistral": "MISTRAL_API_KEY", "fireworks_ai": "FIREWORKS_AI_API_KEY", "xai": "XAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
}
KEY_HINT = ("an API key from the environment is sent only to its provider (or to the endpoint in the matching "
            "*_BASE_URL variable); pass api_key=... to send one to this endpoint")


def origin(url: str) -> str:
    """``scheme://host[:port]``, lower-cased, default ports dropped."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is None or (scheme, port) in (("https", 443), ("http", 80)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def provider_origin(var: str) -> str | None:
    entry = PROVIDERS.get(var)
    return entry[0] if entry else None


def _allowed_origins(var: str) -> set[str]:
    own, base_vars = PROVIDERS[var]
    allowed = {own}
    allowed.update(origin(os.environ[v]) for v in base_vars if os.environ.get(v, "").strip())
    return allowed


def environment_key(base_url: str, var: str | None = None) -> tuple[str | None, str | None]:
    """``(key, None)`` when an environment key may go to ``base_url``; else ``(None, why)``.

    ``var`` names the key's variable when the provider is known (LiteLLM's prefix);
    otherwise every known provider key is considered, the one whose origin matches wins.
    """
    target = origin(base_url)
    candidates = [var] if var else list(PROVIDERS)
    refused = []
    for name in candidates:
        key = os.environ.get(name or "")
        if not key or name not in PROVIDERS:
            continue
        if target in _allowed_origins(name):
            return key, None
        refused.append(name)
    if refused:
        owners = ", ".join(f"${n} belongs to {PROVIDERS[n][0]}" for n in refused)
        return None, f"no API key was sent to {target}: {owners}; {KEY_HINT}"
    return None, None
