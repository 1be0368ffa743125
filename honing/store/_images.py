"""How ``honing.Image`` values are kept in the blob table and read back.

The blob holds the data URL (all a viewer needs) plus, only when the image's
class cannot be rebuilt from that URL, a pickle of it.
"""

from __future__ import annotations

import base64
import json
import pickle
from typing import Any


def is_image(value: Any) -> bool:
    cls = type(value)
    return cls.__name__ == "Image" and cls.__module__.startswith("honing") and hasattr(value, "to_data_url")


class StoredImage:
    """An image read back where ``honing.Image`` cannot rebuild it; enough to display it."""

    def __init__(self, data_url: str) -> None:
        self._data_url = data_url

    def to_data_url(self) -> str:
        return self._data_url

    def __repr__(self) -> str:
        return f"StoredImage({self._data_url[:40]}...)"


def image_payload(image: Any) -> bytes:
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


def image_from_payload(payload: bytes, unpickle: bool) -> Any:
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
