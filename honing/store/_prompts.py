"""Reflection prompts, compressed against a recent prompt of the same run.

Consecutive prompts share most of their text: the instructions, the goal and
background, a parent candidate that differs from the last one by a line, side
info laid out the same way. Compressed with a recent prompt as zlib's preset
dictionary (``zdict``) they take a fraction of what each compressed alone
would (``python bench/store.py`` measures it: the "prompt storage" table).
The dictionary is stored once, as a blob; every prompt names its dictionary,
so any prompt decodes on its own.
A new dictionary is taken every ``ROTATE_EVERY`` prompts, or when a prompt
compresses poorly against the current one (the run's prompts drifted).
"""

from __future__ import annotations

import base64
import threading
import zlib
from typing import Any

from ._codec import TAG, GetBlob, PutBlob, blob_hash

ROTATE_EVERY = 200
ROTATE_ABOVE = 0.35  # compressed/raw ratio that says the dictionary no longer fits
ZDICT_BYTES = 32 * 1024  # zlib looks back at most this far


class PromptPacker:
    """Turns a prompt's JSON text into ``{"__honing__": "zjson", "d": dict hash, "v": base64}``. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dict: tuple[str, bytes] | None = None
        self._uses = 0

    def pack(self, text: str, put_blob: PutBlob) -> dict[str, str]:
        raw = text.encode("utf-8", "surrogatepass")
        with self._lock:
            if self._dict is None or self._uses >= ROTATE_EVERY:
                self._rotate(raw, put_blob)
            digest, zdict = self._dict  # type: ignore[misc]
            data = _compress(raw, zdict)
            if len(data) > ROTATE_ABOVE * len(raw) and self._uses > 0:
                self._rotate(raw, put_blob)
                digest, zdict = self._dict  # type: ignore[misc]
                data = _compress(raw, zdict)
            self._uses += 1
        return {TAG: "zjson", "d": digest, "v": base64.b64encode(data).decode()}

    def _rotate(self, raw: bytes, put_blob: PutBlob) -> None:
        zdict = raw[-ZDICT_BYTES:]
        digest = blob_hash("zdict", zdict)
        put_blob(digest, "zdict", zdict)
        self._dict = (digest, zdict)
        self._uses = 0


def unpack(value: dict[str, Any], get_blob: GetBlob) -> str:
    """The JSON text inside a ``zjson`` value."""
    kind, zdict = get_blob(value["d"])
    if kind != "zdict":
        raise ValueError(f"a compressed prompt names blob {value['d']} of kind {kind!r} as its dictionary")
    inflater = zlib.decompressobj(zdict=zdict)
    raw = inflater.decompress(base64.b64decode(value["v"])) + inflater.flush()
    return raw.decode("utf-8", "surrogatepass")


def _compress(raw: bytes, zdict: bytes) -> bytes:
    deflater = zlib.compressobj(6, zdict=zdict)
    return deflater.compress(raw) + deflater.flush()
