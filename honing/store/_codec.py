"""How arbitrary Python values (side info, outputs, prompts) become database text.

Resume is only exact if a record read back *equals* the record written, so the
encoding is type-preserving rather than "whatever JSON does": tuples stay
tuples, dicts with int keys keep int keys, bytes stay bytes and ``honing.Image``
comes back as an ``Image``. Plain JSON values are written as themselves, so the
database stays readable with the ``sqlite3`` shell; everything else is wrapped
in a small tagged object ``{"__honing__": tag, ...}``. A value no tag covers is
pickled (tag ``pickle``, with its type and repr kept beside it so a dashboard
can describe it without unpickling); one that cannot even be pickled is kept as
its repr (tag ``repr``) -- lossy, but a run never dies because a side info
value was exotic.

Large leaves -- long strings such as traces, bytes, images -- are moved out to
a content-addressed blob table and replaced by a reference. Evaluations that
carry the same 100 KB trace or the same rendered image therefore cost the
space of one copy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import pickle
import zlib
from typing import Any, Callable

TAG = "__honing__"
BLOB_MIN_CHARS = 1024  # strings/bytes at least this long go to the blob table

PutBlob = Callable[[str, str, bytes], None]  # (hash, kind, payload)
GetBlob = Callable[[str], tuple[str, bytes]]  # hash -> (kind, payload)


class Opaque(str):
    """Stands in for a pickled value that the reader chose not to (or could not) unpickle."""


def _is_image(value: Any) -> bool:
    cls = type(value)
    return cls.__name__ == "Image" and cls.__module__.startswith("honing") and hasattr(value, "to_data_url")


def blob_hash(kind: str, payload: bytes) -> str:
    return hashlib.sha256(kind.encode() + b"\0" + payload).hexdigest()


def pack_payload(payload: bytes) -> tuple[bytes, bool]:
    """Compress a blob when that actually saves space (traces do; PNGs do not)."""
    if len(payload) < 256:
        return payload, False
    packed = zlib.compress(payload, 1)
    return (packed, True) if len(packed) < 0.9 * len(payload) else (payload, False)


def unpack_payload(data: bytes, compressed: bool) -> bytes:
    return zlib.decompress(data) if compressed else bytes(data)


class Encoder:
    """Turns a value into JSON text, sending large leaves to ``put_blob``."""

    def __init__(self, put_blob: PutBlob) -> None:
        self._put = put_blob

    def dumps(self, value: Any) -> str:
        return json.dumps(self._enc(value), separators=(",", ":"), ensure_ascii=False)

    def _blob(self, kind: str, payload: bytes) -> dict[str, str]:
        digest = blob_hash(kind, payload)
        self._put(digest, kind, payload)
        return {TAG: "blob", "h": digest}

    def _enc(self, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        cls = type(value)
        if cls is int:
            return value
        if cls is float:
            return value if math.isfinite(value) else {TAG: "float", "v": repr(value)}
        if cls is str:
            if len(value) >= BLOB_MIN_CHARS:
                return self._blob("str", value.encode("utf-8", "surrogatepass"))
            return value
        if cls is list:
            return [self._enc(v) for v in value]
        if cls is tuple:
            return {TAG: "tuple", "v": [self._enc(v) for v in value]}
        if cls is dict:
            if TAG not in value and all(type(k) is str for k in value):
                return {k: self._enc(v) for k, v in value.items()}
            return {TAG: "dict", "v": [[self._enc(k), self._enc(v)] for k, v in value.items()]}
        if cls is bytes:
            if len(value) >= BLOB_MIN_CHARS:
                return self._blob("bytes", value)
            return {TAG: "bytes", "v": base64.b64encode(value).decode()}
        if _is_image(value):
            return self._blob("image", _image_payload(value))
        return self._pickled(value)

    def _pickled(self, value: Any) -> dict[str, Any]:
        name = f"{type(value).__module__}.{type(value).__qualname__}"
        text = _short_repr(value)
        try:
            data = pickle.dumps(value, protocol=4)
        except Exception:
            return {TAG: "repr", "type": name, "v": text}
        if len(data) >= BLOB_MIN_CHARS:
            return {TAG: "pickle", "type": name, "repr": text, "blob": self._blob("pickle", data)["h"]}
        return {TAG: "pickle", "type": name, "repr": text, "v": base64.b64encode(data).decode()}


class Decoder:
    """The inverse of ``Encoder``. ``unpickle=False`` is for viewers of someone else's run."""

    def __init__(self, get_blob: GetBlob, unpickle: bool = True) -> None:
        self._get = get_blob
        self.unpickle = unpickle

    def loads(self, text: str | None) -> Any:
        if text is None:
            return None
        return self._dec(json.loads(text))

    def _dec(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._dec(v) for v in value]
        if not isinstance(value, dict):
            return value
        tag = value.get(TAG)
        if tag is None:
            return {k: self._dec(v) for k, v in value.items()}
        if tag == "tuple":
            return tuple(self._dec(v) for v in value["v"])
        if tag == "dict":
            return {_hashable(self._dec(k)): self._dec(v) for k, v in value["v"]}
        if tag == "float":
            return float(value["v"])
        if tag == "bytes":
            return base64.b64decode(value["v"])
        if tag == "blob":
            return self._from_blob(value["h"])
        if tag == "pickle":
            if not self.unpickle:
                return Opaque(f"<{value['type']}: {value['repr']}>")
            data = self._get(value["blob"])[1] if "blob" in value else base64.b64decode(value["v"])
            try:
                return pickle.loads(data)
            except Exception as exc:
                return Opaque(f"<{value['type']} (not unpicklable here: {exc}): {value['repr']}>")
        if tag == "repr":
            return Opaque(value["v"])
        raise ValueError(f"unknown value tag {tag!r} in the run store (written by a newer honing?)")

    def _from_blob(self, digest: str) -> Any:
        kind, payload = self._get(digest)
        if kind == "str":
            return payload.decode("utf-8", "surrogatepass")
        if kind == "bytes":
            return payload
        if kind == "image":
            return _image_from_payload(payload, self.unpickle)
        if kind == "pickle":  # only reached through a "pickle" tag
            return payload
        raise ValueError(f"unknown blob kind {kind!r} in the run store")


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


def _short_repr(value: Any, limit: int = 300) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."


# -- images -----------------------------------------------------------------------
class StoredImage:
    """An image read back where ``honing.Image`` cannot rebuild it; enough to display it."""

    def __init__(self, data_url: str) -> None:
        self._data_url = data_url

    def to_data_url(self) -> str:
        return self._data_url

    def __repr__(self) -> str:
        return f"StoredImage({self._data_url[:40]}...)"


def _image_payload(image: Any) -> bytes:
    """The data URL (what every viewer needs) plus a pickle when the class cannot be rebuilt from it."""
    record: dict[str, str] = {"data_url": image.to_data_url()}
    if not _rebuilds_from_data_url(image, record["data_url"]):
        try:
            record["pickle"] = base64.b64encode(pickle.dumps(image, protocol=4)).decode()
        except Exception:
            pass
    return json.dumps(record, sort_keys=True).encode()


_REBUILDS: dict[type, bool] = {}


def _rebuilds_from_data_url(image: Any, data_url: str) -> bool:
    """Whether ``type(image).from_data_url`` gives back an equal image (checked once per class)."""
    cls = type(image)
    if cls not in _REBUILDS:
        from_url = getattr(cls, "from_data_url", None)
        try:
            _REBUILDS[cls] = callable(from_url) and from_url(data_url) == image
        except Exception:
            _REBUILDS[cls] = False
    return _REBUILDS[cls]


def _image_from_payload(payload: bytes, unpickle: bool) -> Any:
    record = json.loads(payload)
    if "pickle" in record and unpickle:
        try:
            return pickle.loads(base64.b64decode(record["pickle"]))
        except Exception:
            pass
    if "pickle" not in record:
        try:
            from .._image import Image

            return Image.from_data_url(record["data_url"])
        except Exception:
            pass
    return StoredImage(record["data_url"])
