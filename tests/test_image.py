"""honing.Image: every way of building one, and the errors for what is not an image."""

from __future__ import annotations

import base64
import io
import pickle
from pathlib import Path

import pytest

from honing._image import Image


def _pil():
    """Pillow is optional for honing; only the tests that need it skip without it."""
    return pytest.importorskip("PIL.Image")

# A valid 1x1 RGBA PNG, so most tests need no Pillow at all.
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")


def _jpeg(size=(5, 3)) -> bytes:
    buffer = io.BytesIO()
    _pil().new("RGB", size, (10, 200, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_from_bytes_and_smart_constructor_agree():
    a, b = Image.from_bytes(PNG), Image(PNG)
    assert a == b and hash(a) == hash(b)
    assert a.mime_type == "image/png" and a.data == PNG
    assert a.size == (1, 1)
    assert len(a.content_hash) == 64


def test_data_url_and_base64_round_trip():
    image = Image(PNG)
    url = image.to_data_url()
    assert url.startswith("data:image/png;base64,")
    assert url.endswith(image.to_base64())
    assert Image.from_base64(url) == image
    assert Image.from_data_url(url) == image
    assert Image(url) == image
    assert Image(image.to_base64()) == image
    wrapped = "\n".join(image.to_base64()[i:i + 20] for i in range(0, len(image.to_base64()), 20))
    assert Image.from_base64(wrapped) == image
    assert Image.from_base64(base64.urlsafe_b64encode(PNG).decode().rstrip("=")) == image


def test_path_inputs(tmp_path: Path):
    path = tmp_path / "plot.png"
    path.write_bytes(PNG)
    assert Image(path=path) == Image(path) == Image(str(path)) == Image.from_path(path) == Image(PNG)
    with pytest.raises(FileNotFoundError):
        Image(path=tmp_path / "missing.png")


def test_jpeg_is_kept_as_jpeg_and_sized_from_its_header():
    image = Image(_jpeg((5, 3)))
    assert image.mime_type == "image/jpeg"
    assert image.size == (5, 3)
    assert image.to_data_url().startswith("data:image/jpeg;base64,")


def test_from_pil_and_back():
    pil = _pil().new("RGB", (7, 4), (255, 0, 0))
    image = Image(pil)
    assert image == Image.from_pil(pil)
    assert image.mime_type == "image/png" and image.size == (7, 4)
    assert image.to_pil().getpixel((0, 0))[:3] == (255, 0, 0)
    assert Image.from_pil(pil, format="JPEG").mime_type == "image/jpeg"


def test_other_formats_are_converted_to_png():
    buffer = io.BytesIO()
    _pil().new("RGB", (3, 2)).save(buffer, format="BMP")
    image = Image(buffer.getvalue())
    assert image.mime_type == "image/png" and image.size == (3, 2)


def test_repr_is_short():
    text = repr(Image(PNG))
    assert text.startswith("Image(png, 1x1") and len(text) < 60


def test_immutable_and_picklable():
    image = Image(PNG)
    with pytest.raises(AttributeError):
        image.foo = 1
    assert pickle.loads(pickle.dumps(image)) == image
    assert Image(image) == image


@pytest.mark.parametrize("bad", [123, 1.5, None, [PNG], {"a": 1}, object()])
def test_unknown_input_is_a_type_error_naming_it(bad):
    with pytest.raises(TypeError) as info:
        Image(bad)
    if bad is not None:
        assert type(bad).__qualname__ in str(info.value)


def test_bad_data_errors():
    with pytest.raises(ValueError, match="not a recognised image"):
        Image(b"hello world, not an image")
    with pytest.raises(ValueError):
        Image("no/such/file.png")
    with pytest.raises(ValueError):
        Image.from_base64("!!!not base64!!!")
    with pytest.raises(ValueError):
        Image(b"")
    with pytest.raises(TypeError):
        Image(PNG, path="x.png")
    with pytest.raises(TypeError):
        Image.from_bytes("a string")
