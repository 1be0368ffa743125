"""The result codec: exact round trips, and nothing but DecodeError for any input."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honing.sandbox import _codec

scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary()
           | st.complex_numbers(allow_nan=False))
hashables = st.recursive(scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=4),
                         max_leaves=8)
values = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=5) | st.tuples(inner, inner) | st.dictionaries(hashables, inner, max_size=5)
                   | st.sets(hashables, max_size=5) | st.frozensets(hashables, max_size=5)),
    max_leaves=30,
)


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_round_trip_keeps_values_and_types(value):
    assert _same(_codec.decode(_codec.encode(value)), value)


@settings(max_examples=250, deadline=None)
@given(values, st.data())
def test_mutated_encodings_raise_only_decode_error(value, data):
    encoded = bytearray(_codec.encode(value))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(encoded) - 1))
        encoded[position] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del encoded[data.draw(st.integers(len(_codec.MAGIC), len(encoded))):]
    try:
        _codec.decode(bytes(encoded), _codec.Limits(max_seconds=2.0))
    except _codec.DecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decode_error(payload):
    try:
        _codec.decode(_codec.MAGIC + payload)
    except _codec.DecodeError:
        pass


def test_numpy_arrays_round_trip_with_dtype_and_shape():
    np = pytest.importorskip("numpy")
    for array in (np.arange(12, dtype="<i4").reshape(3, 4), np.zeros((0, 5), dtype=">f8"),
                  np.array([True, False]), np.array(1 + 2j, dtype="c16"), np.asfortranarray(np.ones((2, 3)))):
        back = _codec.decode(_codec.encode(array))
        assert back.dtype == array.dtype and back.shape == array.shape and (back == array).all()
    assert type(_codec.decode(_codec.encode(np.float32(1.5)))) is np.float32


def test_input_over_the_limit_is_refused_before_decoding():
    with pytest.raises(_codec.DecodeError, match="exceed"):
        _codec.decode(_codec.encode(b"x" * 2000), _codec.Limits(max_bytes=1000))
    with pytest.raises(_codec.EncodeError, match="larger than the limit"):
        _codec.encode(b"x" * 2000, max_bytes=1000)


def test_trailing_bytes_and_bad_headers_are_refused():
    with pytest.raises(_codec.DecodeError, match="unexpected bytes"):
        _codec.decode(_codec.encode(1) + b"N")
    with pytest.raises(_codec.DecodeError, match="header"):
        _codec.decode(b"\x80\x04N.")  # a pickle
