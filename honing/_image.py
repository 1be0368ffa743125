"""``honing.Image``: an image an evaluator can put in side info.

Evaluators that render something (a plot, an SVG, a web page, a robot camera
frame) learn most when the reflection model *sees* the result. They return an
``Image`` anywhere inside their side info; the renderer swaps it for a
placeholder such as ``[image 1]`` and the prompt builder attaches the pixels as
an OpenAI-style ``image_url`` part.

The class stores encoded bytes plus a mime type, never decoded pixels: that is
what chat APIs want (a base64 data URL), it is cheap to hash, pickle and store,
and it keeps Pillow optional. Pillow is imported only to accept a PIL image or
to re-encode formats chat APIs do not take (BMP, TIFF, ...) as PNG.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import re
import struct
from pathlib import Path
from typing import Any

__all__ = ["Image"]

# Formats every major chat API accepts as-is; anything else is re-encoded as PNG.
_PASSTHROUGH = ("image/png", "image/jpeg", "image/gif", "image/webp")
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,(?P<data>.*)$", re.S)
_B64_CHARS = re.compile(r"^[A-Za-z0-9+/=_-]+$")


def _sniff(data: bytes) -> str | None:
    """The mime type from the file's magic number (no Pillow needed)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"BM"):
        return "image/bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return None


def _require_pillow(why: str) -> Any:
    try:
        from PIL import Image as PILImage
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"Pillow is needed to {why}; install it with: pip install 'honing[images]' (or pip install Pillow)"
        ) from exc
    return PILImage


def _is_pil_image(obj: Any) -> bool:
    # Checked by module name so that merely testing an object never imports PIL.
    return type(obj).__module__.startswith("PIL.") and hasattr(obj, "save") and hasattr(obj, "mode")


def _pil_to_png(pil: Any) -> bytes:
    if pil.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
        pil = pil.convert("RGBA" if "A" in pil.mode else "RGB")
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return buffer.getvalue()


def _size(data: bytes, mime: str) -> tuple[int, int] | None:
    """Width and height read from the header, for ``repr``; None when unsure."""
    try:
        if mime == "image/png" and len(data) >= 24:
            return struct.unpack(">II", data[16:24])
        if mime == "image/gif" and len(data) >= 10:
            return struct.unpack("<HH", data[6:10])
        if mime == "image/jpeg":
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    i += 1
                    continue
                marker = data[i + 1]
                if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                    h, w = struct.unpack(">HH", data[i + 5:i + 9])
                    return w, h
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                    i += 2
                    continue
                i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    except struct.error:
        return None
    return None


class Image:
    """An encoded image (PNG/JPEG, or GIF/WebP kept as given) with its mime type.

    Build one from whatever is at hand::

        Image("plot.png")                    # a path (str or Path)
        Image(path="plot.png")
        Image(png_bytes)                     # raw encoded bytes
        Image(pil_image)                     # a PIL image (needs Pillow)
        Image("data:image/png;base64,...")   # a data URL or bare base64
        Image(base64_data="iVBOR...", media_type="image/png")   # GEPA's keywords
        Image(url="data:image/png;base64,...")

    Immutable; equal and hashed by content, so the same picture appearing in
    many evaluations is stored and sent once. It always holds the image's
    bytes, which the run store keeps: ``url=`` takes a ``data:`` URL, and a
    web address is refused (fetch the image and pass its bytes), so a report
    never loads anything from elsewhere.
    """

    __slots__ = ("_data", "_mime", "_hash")
    _data: bytes
    _mime: str
    _hash: str

    def __init__(self, source: Any = None, /, *, path: str | os.PathLike[str] | None = None,
                 base64_data: str | None = None, url: str | None = None, mime_type: str | None = None,
                 media_type: str | None = None) -> None:
        given = [name for name, value in (("a source", source), ("path", path), ("base64_data", base64_data),
                                          ("url", url)) if value is not None]
        if len(given) != 1:
            raise TypeError("Image() takes exactly one of: a source (path, bytes, PIL image, base64/data URL), "
                            f"path=..., base64_data=... or url=...; got {', '.join(given) or 'none'}")
        if mime_type is not None and media_type is not None and mime_type != media_type:
            raise TypeError(f"Image(mime_type={mime_type!r}, media_type={media_type!r}): these are honing's and "
                            "GEPA's names for one setting; pass one of them")
        declared = mime_type or media_type
        if path is not None:
            data, mime = _read_path(path)
        elif base64_data is not None:
            image = Image.from_base64(base64_data, declared)
            data, mime = image._data, image._mime
        elif url is not None:
            data, mime = _from_url(url)
        else:
            data, mime = _from_any(source)
        self._set(data, declared or mime)

    # -- alternative constructors ---------------------------------------------
    @classmethod
    def _build(cls, data: bytes, mime: str | None) -> Image:
        image = cls.__new__(cls)
        image._set(data, mime)
        return image

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Image:
        return cls._build(*_read_path(path))

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, mime_type: str | None = None) -> Image:
        """Encoded image bytes (PNG, JPEG, GIF, WebP; other formats are re-encoded with Pillow)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"Image.from_bytes() needs bytes, got {type(data).__name__}")
        return cls._build(bytes(data), mime_type)

    @classmethod
    def from_pil(cls, pil: Any, format: str = "PNG") -> Image:
        """Encode a PIL image (PNG by default, lossless; ``format="JPEG"`` for photos)."""
        _require_pillow("build an Image from a PIL image")
        if not _is_pil_image(pil):
            raise TypeError(f"Image.from_pil() needs a PIL.Image.Image, got {type(pil).__name__}")
        fmt = format.upper()
        if fmt == "PNG":
            return cls._build(_pil_to_png(pil), "image/png")
        if fmt in ("JPEG", "JPG"):
            buffer = io.BytesIO()
            pil.convert("RGB").save(buffer, format="JPEG", quality=90)
            return cls._build(buffer.getvalue(), "image/jpeg")
        raise ValueError(f"Image.from_pil(format=...) must be 'PNG' or 'JPEG', got {format!r}")

    @classmethod
    def from_base64(cls, text: str, mime_type: str | None = None) -> Image:
        """Bare base64 (standard or URL-safe, whitespace allowed) or a ``data:image/...;base64,`` URL."""
        if not isinstance(text, str):
            raise TypeError(f"Image.from_base64() needs a str, got {type(text).__name__}")
        match = _DATA_URL.match(text.strip())
        payload = match.group("data") if match else text
        declared = (match.group("mime") if match else None) or mime_type
        return cls._build(_b64decode(payload), declared)

    from_data_url = from_base64  # the run store rebuilds images through this name

    # -- views --------------------------------------------------------------------
    @property
    def data(self) -> bytes:
        return self._data

    @property
    def mime_type(self) -> str:
        return self._mime

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) from the file header, or None when it cannot be read cheaply."""
        return _size(self._data, self._mime)

    @property
    def content_hash(self) -> str:
        """SHA-256 of the encoded bytes (hex)."""
        return self._hash

    def to_base64(self) -> str:
        return base64.b64encode(self._data).decode("ascii")

    def to_data_url(self) -> str:
        return f"data:{self._mime};base64,{self.to_base64()}"

    def to_content_part(self) -> dict[str, Any]:
        """The OpenAI-style chat content part for this image."""
        return {"type": "image_url", "image_url": {"url": self.to_data_url()}}

    to_openai_content_part = to_content_part  # GEPA's name

    def to_pil(self) -> Any:
        pil_image = _require_pillow("decode an Image into a PIL image")
        pil = pil_image.open(io.BytesIO(self._data))
        pil.load()
        return pil

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_bytes(self._data)

    # -- value semantics --------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return NotImplemented
        return self._hash == other._hash and self._mime == other._mime

    def __hash__(self) -> int:
        return hash(self._hash)

    def __repr__(self) -> str:
        size = self.size
        dims = f"{size[0]}x{size[1]}, " if size else ""
        return f"Image({self._mime.split('/')[-1]}, {dims}{_human(len(self._data))}, {self._hash[:8]})"

    def __getstate__(self) -> tuple[bytes, str]:
        return self._data, self._mime

    def __setstate__(self, state: tuple[bytes, str]) -> None:
        self._set(*state)

    def _set(self, data: bytes, mime: str | None) -> None:
        if not data:
            raise ValueError("Image data is empty")
        sniffed = _sniff(data)
        if sniffed is None:
            if mime is None or not mime.startswith("image/"):
                raise ValueError(f"not a recognised image: {len(data)} bytes starting with {data[:8]!r} "
                                 "(expected PNG, JPEG, GIF or WebP; pass mime_type= for other image formats)")
            sniffed = mime.lower()
        if sniffed not in _PASSTHROUGH:
            pil_image = _require_pillow(f"convert {sniffed} to PNG")
            data, sniffed = _pil_to_png(pil_image.open(io.BytesIO(data))), "image/png"
        object.__setattr__(self, "_data", bytes(data))
        object.__setattr__(self, "_mime", sniffed)
        object.__setattr__(self, "_hash", hashlib.sha256(data).hexdigest())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Image is immutable")


def _human(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def _b64decode(payload: str) -> bytes:
    cleaned = "".join(payload.split())
    if not cleaned or not _B64_CHARS.match(cleaned):
        raise ValueError("not valid base64 image data")
    cleaned = cleaned.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not valid base64 image data: {exc}") from None


def _read_path(path: str | os.PathLike[str]) -> tuple[bytes, str | None]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no image file at {str(p)!r}")
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
            ".webp": "image/webp"}.get(p.suffix.lower())
    return p.read_bytes(), mime


def _from_url(url: str) -> tuple[bytes, str | None]:
    if not isinstance(url, str):
        raise TypeError(f"Image(url=...) needs a str, got {type(url).__name__}")
    if url.strip().startswith("data:"):
        image = Image.from_base64(url)
        return image._data, image._mime
    raise ValueError(f"Image(url={_clip(url)!r}): honing keeps an image's bytes with the run (in the store and in "
                     "reports) and never fetches from the web; download it and pass Image(path=...) or "
                     "Image(image_bytes), or give a data: URL")


def _from_any(source: Any) -> tuple[bytes, str | None]:
    """Dispatch the one-argument constructor on what was given."""
    if isinstance(source, Image):
        return source._data, source._mime
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None
    if isinstance(source, os.PathLike):
        return _read_path(source)
    if isinstance(source, str):
        text = source.strip()
        if text.startswith("data:"):
            image = Image.from_base64(text)
            return image._data, image._mime
        # A short string naming a file is a path; a long run of base64 characters is data.
        if len(text) < 4096 and "\n" not in text:
            try:
                if Path(text).is_file():
                    return _read_path(text)
            except OSError:
                pass
        if len(text) >= 16 and _B64_CHARS.match("".join(text.split())):
            image = Image.from_base64(text)
            return image._data, image._mime
        raise ValueError(f"Image({_clip(text)!r}): not an existing file, a data URL or base64 image data")
    if _is_pil_image(source):
        image = Image.from_pil(source)
        return image._data, image._mime
    raise TypeError(
        f"Image() cannot be built from {type(source).__module__}.{type(source).__qualname__}; "
        "give a path (str or Path), encoded bytes, a PIL image, or a base64 string / data URL"
    )


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
