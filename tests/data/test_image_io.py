"""Decoding single files: EXIF orientation, bit depths, size limits, non-finite pixels."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.data.test_folder import S, load, rgb, square_mask, write
from tuner.data.image_io import UnreadableImage, read, to_rgb
from tuner.errors import TunerError


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width x height`` pixels but holds none (a few bytes on disk):
    enough for the size check, which reads the header only."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


def test_exif_rotated_photo_is_turned_upright_and_sized_upright(tmp_path):
    """A camera stores a 32x16 (w x h) frame and EXIF orientation 6 (turn 90 degrees
    clockwise to view): the image is used upright (16 wide, 32 tall, top half bright), and
    the mask, drawn on the upright view, is 16x32 too."""
    stored = np.zeros((16, 32), np.uint8)
    stored[:, :16] = 250  # left half of the stored frame = top half once upright
    exif = Image.Exif()
    exif[0x0112] = 6
    write(tmp_path / "images" / "photo.jpg", np.stack([stored] * 3, -1), exif=exif,
          quality=100)
    upright_mask = np.zeros((32, 16), np.uint8)
    upright_mask[:16] = 255
    write(tmp_path / "masks" / "photo.png", upright_mask)
    pool = load(tmp_path)
    assert pool.images[0, : S // 2 - 1].min() > 200 and pool.images[0, S // 2 + 1:].max() < 50
    assert pool.masks[0, : S // 2].all() and not pool.masks[0, S // 2:].any()


def test_sixteen_bit_png_and_grayscale_modes(tmp_path):
    deep = np.zeros((S, S), np.uint16)
    deep[:, S // 2:] = 40000  # left dark, right bright, 16 bits
    write(tmp_path / "d.png", deep)
    image, size = read(tmp_path / "d.png", 10**8)
    assert image.mode.startswith("I") and size == (S, S)
    out = np.asarray(to_rgb(image, tmp_path / "d.png"))
    assert out.shape == (S, S, 3) and out[:, 0].max() == 0 and out[:, -1].min() == 255
    write(tmp_path / "g.png", np.full((S, S), 77, np.uint8))
    gray, _ = read(tmp_path / "g.png", 10**8)
    assert (np.asarray(to_rgb(gray, tmp_path / "g.png")) == 77).all()


def test_a_gif_named_jpg_is_decoded_by_its_content(tmp_path):
    Image.fromarray(rgb(level=120)).convert("P").save(tmp_path / "cat.jpg", format="GIF")
    image, _ = read(tmp_path / "cat.jpg", 10**8)
    assert image.format == "GIF" and np.asarray(to_rgb(image, tmp_path / "cat.jpg")).shape[-1] == 3


def test_a_15000_px_image_is_one_line_naming_file_and_limit(tmp_path):
    write(tmp_path / "images" / "ok.png", rgb())
    write(tmp_path / "masks" / "ok.png", square_mask())
    png_header_only(tmp_path / "images" / "huge.png", 15000, 15000)
    write(tmp_path / "masks" / "huge.png", square_mask())
    with pytest.raises(TunerError) as caught:
        load(tmp_path)
    message = str(caught.value)
    assert "\n" not in message and not isinstance(caught.value, UnreadableImage)
    assert "huge.png is 15000x15000 px" in message
    assert "max_image_pixels=100,000,000" in message and "--set max_image_pixels=" in message


@pytest.mark.parametrize("limit", [S * S - 1, S * S // 2 - 1])  # PIL's warning, PIL's error
def test_the_limit_is_the_config_field_and_raising_it_loads(tmp_path, limit):
    write(tmp_path / "images" / "a.png", rgb())
    write(tmp_path / "masks" / "a.png", square_mask())
    with pytest.raises(TunerError, match=rf"a\.png is 16x16 px .* max_image_pixels={limit}"):
        load(tmp_path, max_image_pixels=limit)
    assert load(tmp_path, max_image_pixels=S * S).names == ["a"]
    assert Image.MAX_IMAGE_PIXELS not in (limit, S * S)  # PIL's global is restored


def test_nan_pixels_in_a_float_tiff_are_an_error(tmp_path):
    values = np.linspace(0, 1, S * S, dtype=np.float32).reshape(S, S)
    values[3, 4] = np.nan
    write(tmp_path / "images" / "scan.tif", values)
    write(tmp_path / "masks" / "scan.png", square_mask())
    with pytest.raises(TunerError, match=r"image .*scan\.tif holds 1 NaN or infinite pixel"):
        load(tmp_path)
    values[3, 4] = 0.5  # finite: min-max scaled like other wide images
    write(tmp_path / "images" / "scan.tif", values)
    pool = load(tmp_path)
    assert pool.images[0].min() == 0 and pool.images[0].max() == 255


def test_infinite_values_in_a_float_mask_are_an_error(tmp_path):
    write(tmp_path / "images" / "a.png", rgb())
    mask = square_mask().astype(np.float32)
    mask[0, 0] = np.inf
    write(tmp_path / "masks" / "a.tif", mask)
    with pytest.raises(TunerError, match=r"a\.tif holds 1 NaN or infinite"):
        load(tmp_path)


def test_unreadable_is_its_own_kind_so_adapters_can_skip_it(tmp_path):
    (tmp_path / "x.png").write_bytes(b"nope")
    with pytest.raises(UnreadableImage) as caught:
        read(tmp_path / "x.png", 10**8)
    assert caught.value.file == tmp_path / "x.png"
