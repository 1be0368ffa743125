"""How arbitrary Python values (side info, outputs, prompts) become database text.

Resume is only exact if a record read back *equals* the record written, so the
encoding is type-preserving rather than "whatever JSON does": tuples stay
tuples, dicts with int keys keep int keys, bytes stay bytes and ``honing.Image``
comes back as an ``Image``. Plain JSON values are written as themselves, so the
database stays readable with the ``sqlite3`` shell; everything else is wrapped
in a small tagged object ``{"__honing__": tag, ...}``.

Any value can be stored -- an evaluator's side info is not ours to vet, and no
value may end a run:

* a value no tag covers is pickled (tag ``pickle``, with its type and a short
  repr beside it so a viewer can describe it without unpickling);
* a container that holds itself (a cycle) is pickled as a whole, which keeps the
  cycle; nesting deeper than ``MAX_DEPTH`` is pickled from that level down;
* what cannot be pickled is kept as a bounded repr (tag ``repr``), and an object
  whose ``repr`` raises is described by its type and the error -- lossy, but
  stored;
* strings with lone surrogates (``"\\udc80"``, which UTF-8 cannot hold) are
  written with JSON escapes and come back identical;
* a single value over ``MAX_VALUE_BYTES`` keeps its first ``CUT_KEEP_CHARS``
  characters and says how much was cut (tag ``cut``), so one 2 GB trace cannot
  exhaust memory or SQLite's row limit.

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
import reprlib
import zlib
from collections.abc import Callable
from typing import Any

from ._images import image_from_payload, image_payload, is_image

TAG = "__honing__"
BLOB_MIN_CHARS = 1024  # strings/bytes at least this long go to the blob table
MAX_DEPTH = 64  # nesting below this is pickled as one value (a bound on recursion, here and on reading)
MAX_VALUE_BYTES = 64 * 2**20  # one string, bytes or pickle larger than this is cut
MAX_NODES = 2_000_000  # containers + leaves in one value; more is pickled (or cut) as a whole
CUT_KEEP_CHARS = 100_000
REPR_CHARS = 300

PutBlob = Callable[[str, str, bytes], None]  # (hash, kind, payload)
GetBlob = Callable[[str], tuple[str, bytes]]  # hash -> (kind, payload)


class Opaque(str):
    """Stands in for a value that was stored as a description: not unpickled, unpicklable, or cut."""


class _Cycle(Exception):
    """Raised by the encoder when a container is reached again below itself."""

    def __init__(self, container_id: int) -> None:
        super().__init__(container_id)
        self.container_id = container_id


class _TooBig(Exception):
    """The value has more than ``MAX_NODES`` parts."""


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


def utf8_safe_json(value: Any) -> str:
    """JSON text that SQLite can store: readable UTF-8, or ``\\u`` escapes when lone surrogates need them."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # json.loads turns the escapes back into the same lone surrogates
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return text


class Encoder:
    """Turns a value into JSON text, sending large leaves to ``put_blob``. Never raises for a value."""

    def __init__(self, put_blob: PutBlob, *, blob_strings: bool = True) -> None:
        self._put = put_blob
        self._blob_strings = blob_strings  # False: long strings stay inline (for text compressed as a whole)
        self._path: set[int] = set()  # ids of the containers being encoded (cycle detection)
        self._nodes = 0

    def dumps(self, value: Any) -> str:
        self._path.clear()
        self._nodes = 0
        try:
            encoded = self._enc(value, 0)
        except _TooBig:
            self._path.clear()
            encoded = self._pickled(value)
        return utf8_safe_json(encoded)

    def dumps_packed(self, value: Any, packer: Any) -> str:
        """Like ``dumps``, compressed as a whole by ``packer`` (a ``_prompts.PromptPacker``)."""
        if value is None:
            return "null"
        inline = Encoder(self._put, blob_strings=False).dumps(value)
        return utf8_safe_json(packer.pack(inline, self._put))

    def _blob(self, kind: str, payload: bytes) -> dict[str, str]:
        digest = blob_hash(kind, payload)
        self._put(digest, kind, payload)
        return {TAG: "blob", "h": digest}

    def _enc(self, value: Any, depth: int) -> Any:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _TooBig
        if value is None or isinstance(value, bool):
            return value
        cls = type(value)
        if cls is int:
            return value
        if cls is float:
            return value if math.isfinite(value) else {TAG: "float", "v": repr(value)}
        if cls is str:
            return self._str(value)
        if cls is bytes:
            return self._bytes(value)
        if cls in (list, tuple, dict):
            if depth >= MAX_DEPTH:
                return self._pickled(value)
            return self._container(value, depth)
        if is_image(value):
            try:
                return self._blob("image", image_payload(value))
            except Exception as exc:  # an image that cannot render is described, not lost silently
                return _described(value, f"image that could not be encoded: {_error_text(exc)}")
        return self._pickled(value)

    def _str(self, value: str) -> Any:
        if len(value) < BLOB_MIN_CHARS:
            return value
        if len(value) * 4 > MAX_VALUE_BYTES and len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
            return _cut("str", value, len(value), "characters")
        if not self._blob_strings:
            return value
        return self._blob("str", value.encode("utf-8", "surrogatepass"))

    def _bytes(self, value: bytes) -> Any:
        if len(value) < BLOB_MIN_CHARS:
            return {TAG: "bytes", "v": base64.b64encode(value).decode()}
        if len(value) > MAX_VALUE_BYTES:
            return _cut("bytes", repr(value[:CUT_KEEP_CHARS // 4]), len(value), "bytes")
        return self._blob("bytes", value)

    def _container(self, value: list[Any] | tuple[Any, ...] | dict[Any, Any], depth: int) -> Any:
        ident = id(value)
        if ident in self._path:
            raise _Cycle(ident)
        self._path.add(ident)
        try:
            if not isinstance(value, dict):  # the caller passes exactly a list, a tuple or a dict
                if type(value) is list:
                    return [self._enc(v, depth + 1) for v in value]
                return {TAG: "tuple", "v": [self._enc(v, depth + 1) for v in value]}
            if TAG not in value and all(type(k) is str for k in value):
                return {k: self._enc(v, depth + 1) for k, v in value.items()}
            return {TAG: "dict", "v": [[self._enc(k, depth + 1), self._enc(v, depth + 1)] for k, v in value.items()]}
        except _Cycle as cycle:
            if cycle.container_id != ident:
                raise
            return self._pickled(value)  # pickle keeps the cycle; the engine gets the same object graph back
        finally:
            self._path.discard(ident)

    def _pickled(self, value: Any) -> dict[str, Any]:
        name = _type_name(value)
        text = short_repr(value)
        try:
            data = pickle.dumps(value, protocol=4)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a hostile __reduce__ may raise anything; it is recorded
            return {TAG: "repr", "type": name, "v": text, "why": f"not picklable: {_error_text(exc)}"}
        if len(data) > MAX_VALUE_BYTES:
            return _cut(name, text, len(data), "bytes pickled")
        if len(data) >= BLOB_MIN_CHARS:
            return {TAG: "pickle", "type": name, "repr": text, "blob": self._blob("pickle", data)["h"]}
        return {TAG: "pickle", "type": name, "repr": text, "v": base64.b64encode(data).decode()}


def _cut(kind: str, text: str, size: int, unit: str) -> dict[str, Any]:
    return {TAG: "cut", "type": kind, "size": size, "unit": unit, "v": text[:CUT_KEEP_CHARS]}


def _described(value: Any, why: str) -> dict[str, Any]:
    return {TAG: "repr", "type": _type_name(value), "v": short_repr(value), "why": why}


class _BoundedRepr(reprlib.Repr):
    def repr_instance(self, value: Any, level: int) -> str:
        try:
            text = repr(value)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - described instead
            return f"<{_type_name(value)} whose repr raised {_error_text(exc)}>"
        return text if len(text) <= self.maxother else text[:self.maxother] + "..."


_REPR = _BoundedRepr()
_REPR.maxlevel = 6
_REPR.maxstring = _REPR.maxother = REPR_CHARS
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 30


def short_repr(value: Any, limit: int = REPR_CHARS) -> str:
    """A repr that always returns, in bounded time and size: cycles, deep nesting and raising ``__repr__`` included."""
    try:
        text = _REPR.repr(value)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - described instead
        text = f"<{_type_name(value)} whose repr raised {_error_text(exc)}>"
    return text if len(text) <= limit else text[:limit] + "..."


def _type_name(value: Any) -> str:
    try:
        cls = type(value)
        return f"{cls.__module__}.{cls.__qualname__}"
    except Exception:
        return "object"


def _error_text(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"[:REPR_CHARS]
    except Exception:
        return type(exc).__name__


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
            return dict(self._pair(k, v) for k, v in value["v"])
        if tag == "float":
            return float(value["v"])
        if tag == "bytes":
            return base64.b64decode(value["v"])
        if tag == "blob":
            return self._from_blob(value["h"])
        if tag == "pickle":
            return self._unpickled(value)
        if tag == "repr":
            return Opaque(value["v"])
        if tag == "zjson":
            from ._prompts import unpack

            return self._dec(json.loads(unpack(value, self._get)))
        if tag == "cut":
            return Opaque(f"{value['v']}\n[... cut: the {value['type']} value was {value['size']:,} {value['unit']}; "
                          f"the run store keeps values up to {MAX_VALUE_BYTES // 2**20} MiB]")
        raise ValueError(f"unknown value tag {tag!r} in the run store (written by a newer honing?)")

    def _pair(self, key: Any, value: Any) -> tuple[Any, Any]:
        k = _hashable(self._dec(key))
        try:
            hash(k)
        except TypeError:  # e.g. an unpickled key whose class is not hashable here
            k = Opaque(short_repr(k))
        return k, self._dec(value)

    def _unpickled(self, value: dict[str, Any]) -> Any:
        if not self.unpickle:
            return Opaque(f"<{value['type']}: {value['repr']}>")
        data = self._get(value["blob"])[1] if "blob" in value else base64.b64decode(value["v"])
        try:
            return pickle.loads(data)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a class that moved or a hostile __setstate__: described
            return Opaque(f"<{value['type']} (not unpicklable here: {_error_text(exc)}): {value['repr']}>")

    def _from_blob(self, digest: str) -> Any:
        kind, payload = self._get(digest)
        if kind == "str":
            return payload.decode("utf-8", "surrogatepass")
        if kind == "bytes":
            return payload
        if kind == "image":
            return image_from_payload(payload, self.unpickle)
        if kind in ("pickle", "zdict"):  # only reached through a "pickle" or "zjson" tag
            return payload
        raise ValueError(f"unknown blob kind {kind!r} in the run store")


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key
