"""Results cannot be forged, and a hostile return value cannot hurt the caller.

The code shares its process with the worker that writes the result frames, so it can
write frames too; what it cannot do is make the trusted status channel report a clean
exit that did not happen, or make the caller run, crash on, or buffer what it sends.
"""

from __future__ import annotations

import os
import resource
import struct
import threading
import time

import pytest

from honing.sandbox import ExecutionResult, _codec, run_code
from tests.sandbox._helpers import linux_only

pytestmark = linux_only


def frame(tag: bytes, payload: bytes) -> bytes:
    return tag + struct.pack(">Q", len(payload)) + payload


FORGE = (
    "import os, struct\n"
    "def forge(frames):\n"
    "    for fd in range(3, 256):\n"
    "        try:\n"
    "            os.write(fd, frames)\n"
    "        except OSError:\n"
    "            pass\n"
)

GOOD = frame(b"R", _codec.encode({"ok": True})) + frame(b"V", _codec.encode([1, 2, 3]))


@pytest.mark.parametrize("ending", [
    "import ctypes\n    ctypes.string_at(0)",  # SIGSEGV
    "import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)",
    "import time\n    time.sleep(60)",  # killed at the timeout
    "raise ValueError('after forging')",
])
def test_forged_frames_then_a_crash_are_never_ok(ending):
    code = FORGE + f"def f(frames):\n    forge(frames)\n    {ending}\n"
    r = run_code(code, "f", (GOOD,), timeout=2)
    assert not r.ok and r.value is None, r


def test_forged_frames_before_a_normal_return_corrupt_the_channel():
    code = FORGE + "def f(frames):\n    forge(frames)\n    return 'real'\n"
    r = run_code(code, "f", (GOOD,), timeout=10)
    assert not r.ok and "corrupted" in r.error


def test_junk_on_every_descriptor_is_a_result():
    code = FORGE + "def f(junk):\n    forge(junk)\n    return 1\n"
    r = run_code(code, "f", (b"R" + (2).to_bytes(8, "big") + b"[]junk",), timeout=10)
    assert isinstance(r, ExecutionResult) and not r.ok and "corrupted" in r.error


def test_the_status_channel_is_out_of_reach():
    code = ("import os\ndef f():\n    seen = []\n    for path in ('/proc/1/fd', '/proc/1/mem', '/proc/1/environ'):\n"
            "        try:\n            os.listdir(path) if path.endswith('fd') else open(path, 'rb').read(1)\n"
            "            seen.append(path)\n        except OSError:\n            pass\n    return seen\n")
    r = run_code(code, "f", timeout=10)
    assert r.ok and r.value == [], r.value


def test_a_gigabyte_into_the_result_pipe_is_not_buffered():
    code = FORGE.replace("os.write(fd, frames)", "[os.write(fd, frames) for _ in range(1 << 14)]") + (
        "def f():\n    forge(b'V' * (1 << 16))\n    return 1\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    r = run_code(code, "f", max_result_bytes=1 << 20, timeout=30)
    assert not r.ok
    assert time.monotonic() - start < 30
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 64, f"the caller grew by {grown_mb:.0f} MB"


def test_result_size_cap_is_configurable():
    code = "def f(n):\n    return b'x' * n\n"
    assert run_code(code, "f", (100_000,), max_result_bytes=200_000, timeout=10).ok
    r = run_code(code, "f", (300_000,), max_result_bytes=200_000, timeout=10)
    assert not r.ok and "larger than the limit" in r.error


def test_object_arrays_are_refused_in_the_sandbox():
    np = pytest.importorskip("numpy")
    code = "import numpy as np\ndef f():\n    return np.array([1, 'a', None], dtype=object)\n"
    r = run_code(code, "f", timeout=20)
    assert not r.ok and "dtype object" in r.error
    assert np is not None


@pytest.mark.parametrize("payload", [
    pytest.param(b"a" + bytes([3]) + b"|O8" + bytes([1, 1]) + bytes([8]) + b"\0" * 8, id="object-dtype"),
    pytest.param(b"a" + bytes([4]) + b"|V16" + bytes([1, 1]) + bytes([16]) + b"\0" * 16, id="void-dtype"),
    pytest.param(b"a" + bytes([3]) + b"<f8" + bytes([1]) + b"\xff" * 9 + b"\x01" + bytes([0]), id="huge-shape"),
    pytest.param(b"i" + b"\xff\xff\x03" + b"\x01" * 10, id="truncated-int"),
    pytest.param(b"l" * 5000 + b"N", id="deep-nesting"),
    pytest.param(b"l\x80\x80\x80\x80\x80\x01", id="count-beyond-data"),
])
def test_crafted_values_after_a_clean_exit_are_refused(payload):
    forged = frame(b"R", _codec.encode({"ok": True})) + frame(b"V", _codec.MAGIC + payload)
    code = ("import os\ndef f(frames):\n    for fd in range(3, 64):\n        try:\n            os.write(fd, frames)\n"
            "        except OSError:\n            pass\n    os._exit(0)\n")
    start = time.monotonic()
    r = run_code(code, "f", (forged,), timeout=10)
    assert not r.ok and "refused" in r.error, r.error
    assert time.monotonic() - start < 5


def test_colliding_integer_keys_are_refused_fast():
    modulus = (1 << 61) - 1  # CPython hashes integers modulo this prime
    keys = [i * modulus for i in range(1, 20_001)]  # 20000 distinct ints, one hash
    payload = _codec.encode(set(keys))
    start = time.monotonic()
    with pytest.raises(_codec.DecodeError, match="share hash values"):
        _codec.decode(payload)
    assert time.monotonic() - start < 2


def test_a_huge_set_is_bounded_in_memory_and_time():
    code = "def f():\n    return set(range(10**7))\n"
    start = time.monotonic()
    r = run_code(code, "f", timeout=30)
    assert not r.ok and "larger than the limit" in r.error
    assert time.monotonic() - start < 30


def test_huge_fractions_and_integers_are_refused():
    with pytest.raises(_codec.DecodeError, match="integer"):
        _codec.decode(_codec.encode(10 ** 100_000, max_bytes=1 << 20))
    code = "from fractions import Fraction\ndef f():\n    return Fraction(10 ** 30_000, 3)\n"
    start = time.monotonic()
    r = run_code(code, "f", timeout=10)
    assert not r.ok and "refused" in r.error and time.monotonic() - start < 5


def test_decoding_stops_at_its_deadline():
    payload = _codec.encode([[i] for i in range(200_000)])
    with pytest.raises(_codec.DecodeError, match="longer than"):
        _codec.decode(payload, _codec.Limits(max_seconds=0.0))


def test_decoding_memory_is_bounded():
    payload = _codec.encode([{} for _ in range(100_000)])
    with pytest.raises(_codec.DecodeError, match="memory"):
        _codec.decode(payload, _codec.Limits(max_bytes=1 << 20, memory_budget=1 << 20))


def test_a_slow_return_value_does_not_delay_other_calls():
    """Decoding happens after the child exited, on the caller's thread, in bounded time."""
    code = "def f():\n    return [[i, str(i), float(i)] for i in range(150_000)]\n"
    results = {}

    def heavy():
        results["heavy"] = run_code(code, "f", timeout=30)

    thread = threading.Thread(target=heavy)
    thread.start()
    start = time.monotonic()
    r = run_code("import time\ntime.sleep(5)\n", timeout=1)
    assert r.timed_out and time.monotonic() - start < 4
    thread.join()
    assert results["heavy"].ok


def test_the_value_crosses_as_plain_data_only():
    code = ("import collections, datetime, decimal, fractions\ndef f():\n"
            "    return {'t': (1, 2.5, 3j), 's': {1, 2}, 'fs': frozenset('ab'), 'b': b'x', 'ba': bytearray(b'y'),\n"
            "            'od': collections.OrderedDict(a=1), 'dq': collections.deque([1], maxlen=3),\n"
            "            'c': collections.Counter('aab'), 'r': range(3), 'sl': slice(1, 2),\n"
            "            'd': decimal.Decimal('1.10'), 'q': fractions.Fraction(1, 3),\n"
            "            'dt': datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.timezone.utc),\n"
            "            'td': datetime.timedelta(seconds=5), 'date': datetime.date(2026, 1, 2), 'n': None}\n")
    r = run_code(code, "f", timeout=10)
    assert r.ok, r.error
    import collections
    import datetime
    import decimal
    import fractions

    assert r.value == {
        "t": (1, 2.5, 3j), "s": {1, 2}, "fs": frozenset("ab"), "b": b"x", "ba": bytearray(b"y"),
        "od": collections.OrderedDict(a=1), "dq": collections.deque([1], maxlen=3),
        "c": collections.Counter("aab"), "r": range(3), "sl": slice(1, 2),
        "d": decimal.Decimal("1.10"), "q": fractions.Fraction(1, 3),
        "dt": datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.timezone.utc),
        "td": datetime.timedelta(seconds=5), "date": datetime.date(2026, 1, 2), "n": None}


@pytest.mark.parametrize("code, fragment", [
    ("class Mine:\n    pass\ndef f():\n    return Mine()\n", "__sandbox__.Mine"),
    ("import os\ndef f():\n    return os.stat('/')\n", "os.stat_result"),
    ("def f():\n    return (i for i in range(3))\n", "generator"),
    ("def f():\n    return lambda: 1\n", "function"),
])
def test_other_types_are_refused_with_their_name(code, fragment):
    r = run_code(code, "f", timeout=10)
    assert not r.ok and fragment in r.error and "not serializable" in r.error


def test_a_pickle_payload_never_runs_in_the_caller(tmp_path):
    marker = tmp_path / "pwned"
    code = (f"import os\nclass Evil:\n    def __reduce__(self):\n        return (os.system, ('touch {marker}',))\n"
            "def f():\n    return Evil()\n")
    r = run_code(code, "f", timeout=10)
    assert not r.ok and not marker.exists()
    assert not os.path.exists(marker)
