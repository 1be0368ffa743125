"""The codec on its own: any plain value round-trips exactly; nothing makes the encoder raise."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from honing.store._codec import TAG, Decoder, Encoder, short_repr, utf8_safe_json

# any code point, lone surrogates included
text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=40)
long_text = st.builds(lambda s, n: s * n, text.filter(bool), st.integers(1, 200))
leaves = st.none() | st.booleans() | st.integers() | st.floats() | text | long_text | st.binary(max_size=2000)
keys = text | st.integers() | st.tuples(st.integers(), text)
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
                      | st.dictionaries(keys, inner, max_size=5), max_leaves=30)


def _codec():
    blobs: dict[str, tuple[str, bytes]] = {}
    return Encoder(lambda h, k, p: blobs.__setitem__(h, (k, p))), Decoder(blobs.__getitem__)


def _same(a, b) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=300, deadline=None)
@given(values)
def test_plain_values_round_trip_exactly(value):
    enc, dec = _codec()
    stored = enc.dumps(value)
    stored.encode("utf-8")  # always storable as SQLite text
    assert _same(dec.loads(stored), value)


def test_the_tag_key_in_user_data_is_not_mistaken_for_a_tag():
    enc, dec = _codec()
    value = {TAG: "blob", "h": "0" * 64}
    assert dec.loads(enc.dumps(value)) == value


def test_utf8_safe_json_stays_readable_unless_it_must_escape():
    assert utf8_safe_json({"k": "h\u00e9"}) == '{"k":"h\u00e9"}'
    escaped = utf8_safe_json({"k": "\udc80"})
    assert escaped == '{"k":"\\udc80"}' and json.loads(escaped) == {"k": "\udc80"}


def test_short_repr_is_bounded_for_anything():
    loop: list = []
    loop.append(loop)
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    for value in (loop, deep, "x" * 10**6, {i: i for i in range(10**5)}):
        assert len(short_repr(value)) <= 303
