"""A data-only wire format for values that cross the sandbox boundary, bounded both ways.

Why not pickle: loading a pickle runs whatever the pickle names, and even an allowlist
of "harmless" classes let crafted object arrays crash the caller and crafted dtypes leak
its memory. This format can only describe plain data: ``None``, ``bool``, ``int``,
``float``, ``complex``, ``str``, ``bytes``, ``bytearray``, ``list``, ``tuple``, ``dict``,
``set``, ``frozenset``, ``OrderedDict``, ``deque``, ``Counter``, ``range``, ``slice``,
``Decimal``, ``Fraction``, ``date``, ``time``, ``datetime``, ``timedelta``, fixed-offset
``timezone``, and NumPy arrays and scalars of bool, integer, float and complex dtypes
(raw bytes, never object or structured dtypes).

Decoding is linear in the input and bounded: ``Limits`` caps the input size, the
nesting depth, the size of one integer or decimal, the memory the decoded objects may
take (estimated per object, so a few bytes cannot become gigabytes) and the number of
hash collisions in sets and dict keys (colliding integers would make building them
quadratic). Every violation raises ``DecodeError`` naming what was refused.

Stdlib only, no relative imports: the sandbox's child imports this file as a top-level
module. It imports ``collections``, ``datetime``, ``decimal`` and ``fractions`` only when a
value needs them (together they cost ~10 ms of the child's start-up).
"""

from __future__ import annotations

import struct
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the child ~5 ms to import
    from typing import Any

__all__ = ["DecodeError", "EncodeError", "Limits", "decode", "encode"]

MAGIC = b"HSC1"
_F64 = struct.Struct("<d")
_C128 = struct.Struct("<dd")
_NUMERIC_KINDS = "biufc"  # bool, signed, unsigned, float, complex


class EncodeError(ValueError):
    """The value holds something this format cannot carry (the message names it)."""


class DecodeError(ValueError):
    """The bytes are malformed or exceed a limit (the message says which)."""


class Limits:
    """Bounds on one decode; read-only after construction."""

    __slots__ = ("max_bytes", "max_collisions", "max_decimal_chars", "max_depth", "max_int_bytes", "max_seconds",
                 "memory_budget")
    max_bytes: int
    max_collisions: int
    max_decimal_chars: int
    max_depth: int
    max_int_bytes: int
    max_seconds: float
    memory_budget: int

    def __init__(self, max_bytes: int = 8 << 20, max_depth: int = 100, max_int_bytes: int = 8192,
                 max_decimal_chars: int = 8192, memory_budget: int | None = None,
                 max_collisions: int = 256, max_seconds: float = 10.0) -> None:
        # 8192-byte integers hold 65536 bits: factorial(2000) fits, a DoS-sized integer does not.
        # Decoded objects may take 16x the input (at least 32 MiB): Python objects are larger
        # than their encoding, but a few bytes must not become gigabytes.
        for name, value in (("max_bytes", max_bytes), ("max_depth", max_depth), ("max_int_bytes", max_int_bytes),
                            ("max_decimal_chars", max_decimal_chars), ("max_collisions", max_collisions),
                            ("max_seconds", max_seconds),
                            ("memory_budget",
                             max(32 << 20, 16 * max_bytes) if memory_budget is None else memory_budget)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Limits is read-only")


# ---- encoding ------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class _Encoder:
    def __init__(self, max_bytes: int, max_depth: int) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    def put(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise EncodeError(f"the value is larger than the limit of {self.max_bytes} bytes")
        self.parts.append(data)

    def blob(self, tag: bytes, data: bytes) -> None:
        self.put(tag + _varint(len(data)))
        self.put(data)

    def int_(self, tag: bytes, n: int) -> None:
        length = (n.bit_length() + 8) // 8  # room for the sign bit
        self.blob(tag, n.to_bytes(length, "little", signed=True))

    def value(self, v: Any, depth: int) -> None:
        if depth > self.max_depth:
            raise EncodeError(f"the value is nested more than {self.max_depth} levels deep (or contains itself)")
        t = type(v)
        if v is None:
            self.put(b"N")
        elif v is True or v is False:
            self.put(b"T" if v else b"F")
        elif t is int:
            self.int_(b"i", v)
        elif t is float:
            self.put(b"f" + _F64.pack(v))
        elif t is complex:
            self.put(b"c" + _C128.pack(v.real, v.imag))
        elif t is str:
            self.blob(b"s", v.encode("utf-8", "surrogatepass"))
        elif t is bytes or t is bytearray:
            self.blob(b"b" if t is bytes else b"B", bytes(v))
        elif t in _SEQUENCE_TAGS:
            self.sequence(_SEQUENCE_TAGS[t], v, depth)
        elif t is dict:
            self.mapping(b"d", v, depth)
        elif t is range or t is slice:
            self.put(b"r" if t is range else b"L")
            for part in (v.start, v.stop, v.step):
                self.value(part, depth + 1)
        elif t.__module__ == "numpy" and "numpy" in sys.modules:
            self.numpy_(v)
        else:
            self.library_type(t, v, depth)

    def library_type(self, t: type, v: Any, depth: int) -> None:
        """Types from stdlib modules, looked up only if the code imported those modules."""
        mod = sys.modules.get(t.__module__)
        name = f"{t.__module__}.{t.__qualname__}"
        if mod is None or getattr(mod, t.__qualname__, None) is not t:
            raise EncodeError(f"it contains a {name}")
        if name in ("collections.OrderedDict", "collections.Counter"):
            self.mapping(b"o" if name.endswith("OrderedDict") else b"C", v, depth)
        elif name == "collections.deque":
            self.put(b"q")
            self.value(v.maxlen, depth + 1)
            self.sequence(b"l", v, depth)
        elif name == "decimal.Decimal":
            self.blob(b"D", str(v).encode("ascii"))
        elif name == "fractions.Fraction":
            self.put(b"Q")
            self.int_(b"i", v.numerator)
            self.int_(b"i", v.denominator)
        elif t.__module__ == "datetime" and t.__qualname__ in ("date", "time", "datetime", "timedelta", "timezone"):
            self.datetime_(v)
        else:
            raise EncodeError(f"it contains a {name}")

    def mapping(self, tag: bytes, v: Any, depth: int) -> None:
        self.put(tag + _varint(len(v)))
        for key, item in v.items():
            self.value(key, depth + 1)
            self.value(item, depth + 1)

    def sequence(self, tag: bytes, items: Any, depth: int) -> None:
        self.put(tag + _varint(len(items)))
        for item in items:
            self.value(item, depth + 1)

    def datetime_(self, v: Any) -> None:
        import datetime as _dt

        if type(v) is _dt.timedelta:
            self.put(b"e")
            for n in (v.days, v.seconds, v.microseconds):
                self.int_(b"i", n)
            return
        if type(v) is _dt.timezone:
            offset = v.utcoffset(None)
            self.put(b"z")
            self.int_(b"i", offset.days * 86400 + offset.seconds)
            self.int_(b"i", offset.microseconds)
            name = v.tzname(None)
            self.value(None if name == _dt.timezone(offset).tzname(None) else name, 1)
            return
        if type(v) is _dt.date:
            self.put(b"x")
            fields: tuple[int, ...] = (v.year, v.month, v.day)
        elif type(v) is _dt.time:
            self.put(b"h")
            fields = (v.hour, v.minute, v.second, v.microsecond, v.fold)
        else:
            self.put(b"X")
            fields = (v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, v.fold)
        for n in fields:
            self.int_(b"i", n)
        if type(v) is _dt.date:
            return
        if v.tzinfo is not None and type(v.tzinfo) is not _dt.timezone:
            raise EncodeError(f"it contains a {type(v).__name__} with tzinfo {type(v.tzinfo).__qualname__} "
                              "(only datetime.timezone offsets can be carried)")
        self.value(v.tzinfo, 1)

    def numpy_(self, v: Any) -> None:
        import numpy as np

        if isinstance(v, np.ndarray) and type(v) is np.ndarray:
            tag, arr = b"a", v
        elif isinstance(v, np.generic):
            tag, arr = b"n", np.asarray(v)
        elif type(v) is np.dtype:
            raise EncodeError("it contains a numpy.dtype (return its name, e.g. str(dtype), instead)")
        else:
            raise EncodeError(f"it contains a {type(v).__module__}.{type(v).__qualname__}")
        if arr.dtype.kind not in _NUMERIC_KINDS or arr.dtype.fields is not None:
            raise EncodeError(f"it contains a NumPy array of dtype {arr.dtype} "
                              "(only bool, integer, float and complex arrays can be carried)")
        self.blob(tag, arr.dtype.str.encode("ascii"))
        self.put(_varint(arr.ndim) + b"".join(_varint(d) for d in arr.shape))
        self.blob(b"", np.ascontiguousarray(arr).tobytes())


_SEQUENCE_TAGS: dict[type, bytes] = {list: b"l", tuple: b"t", set: b"S", frozenset: b"Z"}


def encode(value: Any, max_bytes: int = 8 << 20, max_depth: int = 100) -> bytes:
    """``value`` as bytes; ``EncodeError`` names the first part that cannot be carried."""
    enc = _Encoder(max_bytes, max_depth)
    enc.put(MAGIC)
    try:
        enc.value(value, 0)
    except RecursionError:
        raise EncodeError(f"the value is nested too deeply (limit {max_depth} levels)") from None
    return b"".join(enc.parts)


# ---- decoding ------------------------------------------------------------------------

# Rough CPython sizes, so that the memory budget tracks what decoding really allocates.
_OBJ, _SLOT, _CONTAINER = 48, 8, 64


class _Decoder:
    def __init__(self, data: bytes, limits: Limits) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.limits = limits
        self.budget = limits.memory_budget
        self.items = 0
        self.deadline = time.monotonic() + limits.max_seconds

    def fail(self, why: str) -> DecodeError:
        return DecodeError(f"{why} (at byte {self.pos})")

    def charge(self, nbytes: int) -> None:
        self.budget -= nbytes
        if self.budget < 0:
            raise self.fail(f"the decoded value would take more than {self.limits.memory_budget} bytes of memory")
        self.items += 1
        if self.items & 0xFFF == 0 and time.monotonic() > self.deadline:
            raise self.fail(f"decoding took longer than {self.limits.max_seconds:g} s")

    def take(self, n: int) -> memoryview:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise self.fail("truncated data")
        out = self.data[self.pos:end]
        self.pos = end
        return out

    def varint(self) -> int:
        n = shift = 0
        while True:
            if self.pos >= len(self.data):
                raise self.fail("truncated data")
            byte = self.data[self.pos]
            self.pos += 1
            n |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return n
            shift += 7
            if shift > 63:
                raise self.fail("malformed length")

    def count(self) -> int:
        """A count of items that follow: each takes at least one byte, so it cannot exceed what is left."""
        n = self.varint()
        if n > len(self.data) - self.pos:
            raise self.fail(f"a length of {n} exceeds the data")
        return n

    def blob(self) -> bytes:
        n = self.count()
        self.charge(_OBJ + n)
        return bytes(self.take(n))

    def int_(self) -> int:
        if self.take(1) != b"i":  # type: ignore[comparison-overlap]  # a memoryview equals bytes by content
            raise self.fail("expected an integer")
        n = self.count()
        if n > self.limits.max_int_bytes:
            raise self.fail(f"an integer of {n} bytes exceeds the limit of {self.limits.max_int_bytes}")
        self.charge(_OBJ + n)
        return int.from_bytes(self.take(n), "little", signed=True)

    def value(self, depth: int) -> Any:
        if depth > self.limits.max_depth:
            raise self.fail(f"nested more than {self.limits.max_depth} levels deep")
        tag = bytes(self.take(1))
        if tag == b"N":
            return None
        if tag in (b"T", b"F"):
            return tag == b"T"
        if tag == b"i":
            self.pos -= 1
            return self.int_()
        if tag == b"f":
            self.charge(_OBJ)
            return _F64.unpack(self.take(8))[0]
        if tag == b"c":
            self.charge(_OBJ)
            return complex(*_C128.unpack(self.take(16)))
        if tag == b"s":
            try:
                return self.blob().decode("utf-8", "surrogatepass")
            except UnicodeDecodeError as exc:
                raise self.fail(f"invalid text: {exc.reason}") from None
        if tag == b"b":
            return self.blob()
        if tag == b"B":
            return bytearray(self.blob())
        if tag in (b"l", b"t", b"S", b"Z"):
            n = self.count()
            self.charge(_CONTAINER + _SLOT * n * (3 if tag in (b"S", b"Z") else 1))
            items = [self.value(depth + 1) for _ in range(n)]
            if tag == b"l":
                return items
            if tag == b"t":
                return tuple(items)
            self.check_hashes(items)
            return set(items) if tag == b"S" else frozenset(items)
        if tag == b"q":
            import collections

            maxlen = self.value(depth + 1)
            if maxlen is not None and (type(maxlen) is not int or maxlen < 0):
                raise self.fail("malformed deque")
            if self.take(1) != b"l":  # type: ignore[comparison-overlap]  # as in int_
                raise self.fail("malformed deque")
            self.pos -= 1
            return collections.deque(self.value(depth), maxlen)
        if tag in (b"d", b"o", b"C"):
            return self.mapping(tag, depth)
        if tag in (b"r", b"L"):
            parts = [self.value(depth + 1) for _ in range(3)]
            self.charge(_CONTAINER)
            if tag == b"L":
                return slice(*parts)
            if not all(type(p) is int for p in parts) or parts[2] == 0:
                raise self.fail("malformed range")
            return range(*parts)
        if tag == b"D":
            import decimal

            text = self.blob()
            if len(text) > self.limits.max_decimal_chars:
                raise self.fail(f"a Decimal of {len(text)} characters exceeds the limit")
            try:
                return decimal.Decimal(text.decode("ascii"))
            except (UnicodeDecodeError, decimal.InvalidOperation):
                raise self.fail("malformed Decimal") from None
        if tag == b"Q":
            import fractions

            num, den = self.int_(), self.int_()
            if den <= 0:
                raise self.fail("malformed Fraction")
            return fractions.Fraction(num, den)
        if tag in (b"e", b"z", b"x", b"h", b"X"):
            return self.datetime_(tag)
        if tag in (b"a", b"n"):
            return self.numpy_(tag == b"n")
        raise self.fail(f"unknown type tag {tag!r}")

    def mapping(self, tag: bytes, depth: int) -> Any:
        n = self.count()
        self.charge(_CONTAINER + 3 * _SLOT * n)
        pairs = [(self.value(depth + 1), self.value(depth + 1)) for _ in range(n)]
        self.check_hashes([k for k, _ in pairs])
        if tag == b"d":
            return dict(pairs)
        import collections

        if tag == b"o":
            return collections.OrderedDict(pairs)
        counter: collections.Counter[Any] = collections.Counter()
        counter.update(dict(pairs))
        return counter

    def check_hashes(self, keys: list[Any]) -> None:
        """Refuse keys built to collide: inserting them would take quadratic time."""
        try:
            distinct = len({hash(k) for k in keys})
        except TypeError:
            raise self.fail("a set or dict key is not hashable") from None
        if len(keys) - distinct > self.limits.max_collisions:
            raise self.fail(f"{len(keys) - distinct} set or dict keys share hash values")

    def datetime_(self, tag: bytes) -> Any:
        import datetime as _dt

        try:
            if tag == b"e":
                return _dt.timedelta(days=self.int_(), seconds=self.int_(), microseconds=self.int_())
            if tag == b"z":
                seconds, micros = self.int_(), self.int_()
                name = self.value(1)
                offset = _dt.timedelta(seconds=seconds, microseconds=micros)
                return _dt.timezone(offset) if name is None else _dt.timezone(offset, str(name))
            if tag == b"x":
                return _dt.date(self.int_(), self.int_(), self.int_())
            if tag == b"h":
                fields = [self.int_() for _ in range(5)]
                hour, minute, second, micro, fold = fields
                return _dt.time(hour, minute, second, micro, tzinfo=self.tz(), fold=fold)
            y, mo, d, h, mi, sec, us, fold = (self.int_() for _ in range(8))
            return _dt.datetime(y, mo, d, h, mi, sec, us, tzinfo=self.tz(), fold=fold)
        except (OverflowError, ValueError, TypeError) as exc:
            if isinstance(exc, DecodeError):
                raise
            raise self.fail(f"malformed date/time: {exc}") from None

    def tz(self) -> Any:
        import datetime as _dt

        tz = self.value(1)
        if tz is not None and type(tz) is not _dt.timezone:
            raise self.fail("malformed tzinfo")
        return tz

    def numpy_(self, scalar: bool) -> Any:
        dtype_text = self.blob().decode("ascii", "replace")
        ndim = self.varint()
        if ndim > 32:
            raise self.fail("an array with more than 32 dimensions")
        shape = tuple(self.varint() for _ in range(ndim))
        raw = self.take(self.count())
        try:
            import numpy as np
        except ImportError:
            raise DecodeError("the value holds NumPy arrays but NumPy is not installed in this process") from None
        try:
            dtype = np.dtype(dtype_text)
        except TypeError:
            raise self.fail(f"unknown dtype {dtype_text!r}") from None
        if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.str != dtype_text:
            raise self.fail(f"refused dtype {dtype_text!r}")
        expected = dtype.itemsize
        for d in shape:
            expected *= d
        if expected != len(raw) or (scalar and ndim):
            raise self.fail(f"array data of {len(raw)} bytes does not match shape {shape} of {dtype}")
        self.charge(_CONTAINER + len(raw) + _SLOT * ndim)
        try:
            array = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        except (ValueError, TypeError, OverflowError) as exc:
            raise self.fail(f"malformed array: {exc}") from None
        return array[()] if scalar else array


def decode(data: bytes, limits: Limits | None = None) -> Any:
    """The value ``encode`` wrote; ``DecodeError`` for anything malformed or over ``limits``."""
    limits = limits or Limits()
    if len(data) > limits.max_bytes + len(MAGIC):
        raise DecodeError(f"{len(data)} bytes exceed the limit of {limits.max_bytes}")
    if bytes(data[:len(MAGIC)]) != MAGIC:
        raise DecodeError("not an encoded value (bad header)")
    dec = _Decoder(data, limits)
    dec.pos = len(MAGIC)
    try:
        value = dec.value(0)
    except RecursionError:
        raise DecodeError("nested too deeply") from None
    if dec.pos != len(dec.data):
        raise DecodeError(f"{len(dec.data) - dec.pos} unexpected bytes after the value")
    return value
