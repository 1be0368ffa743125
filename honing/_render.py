"""Turn evaluator side info into text a language model can read.

Side info is whatever an evaluator returned: nested dicts and lists, huge
traces, numpy arrays, exceptions, images, arbitrary objects. The reflection
model needs all of it *readable* and *bounded*:

* **Bounded** - every string is cut in the middle (``[... N chars omitted ...]``)
  so one megabyte of trace cannot push everything else out of the context;
  the head (what ran) and the tail (where it failed) are what matter. When the
  whole rendering is still over ``max_total_chars`` it is re-rendered with
  tighter per-field and per-list limits, and finally cut as a whole.
* **Readable** - a YAML-like layout (``key: value``, indented nesting, ``|``
  blocks for multi-line text). It has no markdown headings or code fences, so
  it nests inside any prompt without clashing with its sections or with the
  fence the model is asked to answer in.
* **Deterministic** - same input, same text (no memory addresses, sets
  sorted), so prompts are reproducible and cacheable.

Images (``honing.Image``, PIL images) become ``[image N]`` placeholders and are
collected so the prompt builder can attach them as image parts.
"""

from __future__ import annotations

import dataclasses
import math
import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._image import Image, _is_pil_image

__all__ = ["RenderedSideInfo", "render_side_info", "truncate_middle", "format_number"]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_MAX_DEPTH = 12
# (per-field chars, items shown per list/dict) tried in turn until the text fits.
_SHRINK_STEPS = ((1.0, 60), (0.5, 30), (0.25, 15), (0.1, 8), (0.05, 4))


@dataclass(frozen=True)
class RenderedSideInfo:
    """Readable text plus the images its ``[image N]`` placeholders refer to (in order)."""

    text: str
    images: list[Image] = field(default_factory=list)


def truncate_middle(text: str, limit: int) -> str:
    """Keep the head and tail of ``text`` so the result is at most ``limit`` chars.

    Errors usually sit at the end of a trace and context at its start, so the
    middle is what goes. The marker says how much was dropped.
    """
    if len(text) <= limit:
        return text
    omitted = len(text) - limit
    while True:  # the marker's own length depends on the number it shows
        marker = f"\n[... {omitted} chars omitted ...]\n"
        keep = max(0, limit - len(marker))
        if len(text) - keep == omitted or keep == 0:
            break
        omitted = len(text) - keep
    if keep == 0:
        return marker.strip()[:limit]
    head = keep - keep // 3  # a little more head than tail: it usually says what was being done
    tail = keep - head
    return text[:head] + marker + (text[-tail:] if tail else "")


def format_number(value: float | int) -> str:
    """Numbers as a person would write them: 0.3 not 0.30000000000000004, no spurious exponents."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    if x == 0:
        return "0.0"
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x)}.0"
    text = f"{x:.6g}"
    if "e" in text and 1e-4 <= abs(x) < 1e15:
        text = f"{x:.2f}"
    return text


def render_side_info(side_info: Any, *, max_field_chars: int = 2000, max_total_chars: int = 12000,
                     image_offset: int = 0) -> RenderedSideInfo:
    """Render ``side_info`` as bounded, readable text; images become ``[image N]``.

    ``image_offset`` starts numbering at ``image_offset + 1`` so several renders
    can share one prompt without their placeholders colliding. The returned
    text is never longer than ``max_total_chars``.
    """
    max_field_chars = max(40, int(max_field_chars))
    max_total_chars = max(40, int(max_total_chars))
    text, images = "", []
    for field_scale, max_items in _SHRINK_STEPS:
        renderer = _Renderer(max(40, int(max_field_chars * field_scale)), max_items, image_offset)
        text = "\n".join(renderer.top(side_info)).rstrip()
        images = renderer.images
        if len(text) <= max_total_chars:
            break
    return RenderedSideInfo(truncate_middle(text, max_total_chars), images)


class _Renderer:
    def __init__(self, field_chars: int, max_items: int, image_offset: int) -> None:
        self.field_chars = field_chars
        self.max_items = max_items
        self.offset = image_offset
        self.images: list[Image] = []
        self._numbers: dict[str, int] = {}
        self._stack: set[int] = set()

    # -- entry point -------------------------------------------------------------
    def top(self, value: Any) -> list[str]:
        value = self._normalise(value)
        if isinstance(value, Mapping):
            if not value:
                return ["(no side information)"]
            lines: list[str] = []
            for key, item in self._items(value):
                block = self._entry(key, item, 0)
                if len(block) > 1 and lines and lines[-1] != "":
                    lines.append("")  # multi-line entries get air around them
                lines.extend(block)
                if len(block) > 1:
                    lines.append("")
            return lines
        if isinstance(value, str):
            return [self._clip(value)]
        return self._value(value, 0)

    # -- pieces ------------------------------------------------------------------
    def _entry(self, key: Any, value: Any, indent: int) -> list[str]:
        """``key: value`` with the value inline when short, otherwise nested below."""
        pad = "  " * indent
        label = f"{pad}{self._clip(str(key), 200)}:"
        value = self._normalise(value)
        if isinstance(value, str):
            text = self._clip(value)
            if "\n" not in text:
                return [f"{label} {text}" if text else f"{label} \"\""]
            return [f"{label} |", *_indent(text.split("\n"), indent + 1)]
        if self._is_scalar(value):
            return [f"{label} {self._scalar(value)}"]
        if isinstance(value, (Mapping, list)) and not value:
            return [f"{label} {{}}" if isinstance(value, Mapping) else f"{label} []"]
        if isinstance(value, list) and self._inline_list(value):
            return [f"{label} {self._clip(self._inline(value))}"]
        return [label, *self._value(value, indent + 1)]

    def _value(self, value: Any, indent: int) -> list[str]:
        pad = "  " * indent
        marker = id(value)  # before normalising, which copies tuples and lists
        value = self._normalise(value)
        if isinstance(value, str):
            return _indent(self._clip(value).split("\n"), indent)
        if self._is_scalar(value):
            return [pad + self._scalar(value)]
        if marker in self._stack:
            return [pad + "(circular reference)"]
        if len(self._stack) > _MAX_DEPTH:
            return [pad + self._clip(_safe_repr(value), 200)]
        self._stack.add(marker)
        try:
            if isinstance(value, Mapping):
                lines: list[str] = []
                for key, item in self._items(value):
                    lines.extend(self._entry(key, item, indent))
                return lines or [pad + "{}"]
            if isinstance(value, list):
                if self._inline_list(value):
                    return [pad + self._clip(self._inline(value))]
                lines = []
                shown = value if len(value) <= self.max_items else value[: self.max_items]
                for item in shown:
                    block = self._value(item, 0)
                    lines.append(f"{pad}- {block[0]}")
                    lines.extend(f"{pad}  {line}" for line in block[1:])
                if len(value) > len(shown):
                    lines.append(f"{pad}[... {len(value) - len(shown)} more items omitted ...]")
                return lines or [pad + "[]"]
        finally:
            self._stack.discard(marker)
        return [pad + self._clip(_safe_repr(value))]

    def _items(self, mapping: Mapping[str, Any]) -> list[tuple[Any, Any]]:
        items = list(mapping.items())
        if len(items) > self.max_items * 2:  # dicts are usually more informative than lists: allow more
            shown = items[: self.max_items * 2]
            return [*shown, ("...", f"[{len(items) - len(shown)} more keys omitted]")]
        return items

    # -- normalising odd values into dict / list / str / scalar / Image placeholders ----------
    def _normalise(self, value: Any) -> Any:
        if isinstance(value, Image) or _is_pil_image(value):
            return self._image(value)
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            return f"<{len(data)} bytes> " + repr(data[: self.field_chars // 4])
        if isinstance(value, BaseException):
            return _exception_text(value)
        kind = type(value)
        module = kind.__module__ or ""
        if module.startswith("numpy"):
            return _numpy_summary(value)
        if module.startswith(("pandas", "torch")) and hasattr(value, "shape"):
            return self._clip(_safe_repr(value))
        if isinstance(value, (list, tuple)):
            return list(value)
        if isinstance(value, (set, frozenset)):
            return sorted(value, key=_safe_repr)
        if isinstance(value, Mapping):
            return value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
        dump = getattr(value, "model_dump", None)  # pydantic v2
        if callable(dump) and not isinstance(value, type):
            try:
                return dump()
            except Exception:
                pass
        if callable(getattr(value, "to_data_url", None)):  # e.g. an image read back from a run store
            try:
                return self._image(Image.from_data_url(value.to_data_url()))
            except Exception:
                pass
        # (mypy types the two __repr__ differently, but an unbound class attribute is the same object)
        if type(value).__repr__ is object.__repr__ and hasattr(value, "__dict__"):  # type: ignore[comparison-overlap]
            public = {k: v for k, v in vars(value).items() if not k.startswith("_")}
            return f"{kind.__name__}(" + ", ".join(f"{k}={_safe_repr(v)}" for k, v in public.items()) + ")"
        return _safe_repr(value)

    def _image(self, value: Any) -> str:
        image = value if isinstance(value, Image) else Image.from_pil(value)
        number = self._numbers.get(image.content_hash)
        if number is None:
            self.images.append(image)
            number = self._numbers[image.content_hash] = self.offset + len(self.images)
        return f"[image {number}]"

    # -- scalars ------------------------------------------------------------------
    @staticmethod
    def _is_scalar(value: Any) -> bool:
        return value is None or isinstance(value, (bool, int, float))

    @staticmethod
    def _scalar(value: Any) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        return format_number(value)

    def _inline_list(self, value: list[Any]) -> bool:
        """Short lists of scalars read best on one line: ``[1, 2, 3]``."""
        # Classified without _normalise, which would register images that may never be shown.
        def short(v: Any) -> bool:
            if isinstance(v, Image) or _is_pil_image(v):
                return True
            if type(v).__module__.startswith("numpy") and getattr(v, "shape", None) == ():
                return True
            return self._is_scalar(v) or (isinstance(v, str) and "\n" not in v and len(v) <= 80)

        return all(short(v) for v in value[:200])

    def _inline(self, value: list[Any]) -> str:
        shown = value[: self.max_items * 4]
        parts = []
        for item in shown:
            item = self._normalise(item)
            parts.append(self._scalar(item) if self._is_scalar(item) else _quote(item))
        more = f", ... {len(value) - len(shown)} more" if len(value) > len(shown) else ""
        return "[" + ", ".join(parts) + more + "]"

    def _clip(self, text: str, limit: int | None = None) -> str:
        return truncate_middle(text, limit or self.field_chars)


def _quote(text: str) -> str:
    # Placeholders stay bare so the model recognises them; other strings are quoted.
    return text if re.fullmatch(r"\[image \d+\]", text) else repr(text)


def _indent(lines: list[str], indent: int) -> list[str]:
    pad = "  " * indent
    return [pad + line if line else "" for line in lines]


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break the prompt
        text = f"<{type(value).__qualname__} (repr failed: {type(exc).__name__})>"
    return _ADDRESS.sub("", text)


def _exception_text(exc: BaseException) -> str:
    if exc.__traceback__ is not None:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _numpy_summary(value: Any) -> Any:
    """Arrays become a one-line summary; numpy scalars become Python numbers."""
    shape = getattr(value, "shape", None)
    if shape == () and hasattr(value, "item"):
        try:
            return value.item()
        except Exception:
            return _safe_repr(value)
    if shape is None or not hasattr(value, "dtype"):
        return _safe_repr(value)
    size = int(getattr(value, "size", 0))
    text = f"array(shape=({', '.join(str(d) for d in shape)}{',' if len(shape) == 1 else ''}), dtype={value.dtype}"
    if size == 0:
        return text + ", empty)"
    flat = value.reshape(-1)
    if value.dtype.kind in "biuf":
        try:
            finite = flat[~_isnan(flat)] if value.dtype.kind == "f" else flat
            if finite.size:
                text += (f", min={format_number(finite.min().item())}, max={format_number(finite.max().item())}, "
                         f"mean={format_number(float(finite.mean()))}")
            if finite.size < size:
                text += f", nan={size - finite.size}"
        except Exception:
            pass
    head = [_numpy_item(v) for v in flat[:8]]
    values = ", ".join(head) + (", ..." if size > 8 else "")
    return f"{text}, values=[{values}])"


def _isnan(flat: Any) -> Any:
    return flat != flat  # NaN is the only value unequal to itself; avoids importing numpy


def _numpy_item(v: Any) -> str:
    item = v.item() if hasattr(v, "item") else v
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        return format_number(item)
    return repr(item)
