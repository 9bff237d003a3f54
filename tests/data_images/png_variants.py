#!/usr/bin/env python3
"""PNG files of every colour type and bit depth, with and without gAMA, sRGB and tRNS chunks,
and the RGB pixels Pillow reads from each.

Usage: png_variants.py FOLDER

Writes FOLDER/<name>.png (by hand: zlib and struct, so that each chunk is exactly as listed),
FOLDER/<name>.png.rgb (Pillow's Image.open(f).convert("RGB"), rows top to bottom, RGB
interleaved) and FOLDER/variants.json (names, sizes, Pillow's version). Pillow ignores gAMA and
sRGB and keeps the high byte of 16-bit samples; tests/data_images/test_decode.cpp checks that
tpt reads every file to the same bytes.
"""
import json
import pathlib
import struct
import sys
import zlib

import numpy as np
import PIL
from PIL import Image


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_rows(samples, bit_depth):
    """samples: H x (W*channels) integers -> filtered (type 0) scanlines."""
    out = bytearray()
    for row in samples:
        out.append(0)
        if bit_depth == 16:
            out += b"".join(struct.pack(">H", int(v)) for v in row)
        elif bit_depth == 8:
            out += bytes(int(v) for v in row)
        else:
            per_byte = 8 // bit_depth
            values = list(row) + [0] * (-len(row) % per_byte)
            for i in range(0, len(values), per_byte):
                b = 0
                for v in values[i:i + per_byte]:
                    b = (b << bit_depth) | int(v)
                out.append(b)
    return bytes(out)


def png(width, height, colour_type, bit_depth, samples, extra=()):
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = b"".join(chunk(k, d) for k, d in extra)
    idat = zlib.compress(pack_rows(samples, bit_depth), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + body + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def main():
    folder = pathlib.Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(7)
    w, h = 7, 5
    gama_045 = (b"gAMA", struct.pack(">I", 45455))
    gama_10 = (b"gAMA", struct.pack(">I", 100000))
    srgb = (b"sRGB", b"\x00")

    def random(channels, bits):
        return rng.randint(0, 1 << bits, size=(h, w * channels))

    rgb16, rgba16, ga16, grey16 = random(3, 16), random(4, 16), random(2, 16), random(1, 16)
    rgb8, grey8 = random(3, 8), random(1, 8)
    files = {
        "rgb16": png(w, h, 2, 16, rgb16),
        "rgb16_gama": png(w, h, 2, 16, rgb16, [gama_045]),
        "rgb16_srgb": png(w, h, 2, 16, rgb16, [srgb]),
        "rgba16": png(w, h, 6, 16, rgba16),
        "ga16": png(w, h, 4, 16, ga16),
        "rgb16_trns": png(w, h, 2, 16, rgb16, [(b"tRNS", struct.pack(">HHH", *rgb16[0][:3]))]),
        "rgb8_gama10": png(w, h, 2, 8, rgb8, [gama_10]),
        "rgb8_srgb": png(w, h, 2, 8, rgb8, [srgb]),
        "grey8_trns": png(w, h, 0, 8, grey8, [(b"tRNS", struct.pack(">H", int(grey8[0][0])))]),
        "grey2": png(w, h, 0, 2, random(1, 2)),
        "grey4_gama": png(w, h, 0, 4, random(1, 4), [gama_045]),
        "palette4_trns": png(w, h, 3, 4, random(1, 4),
                             [(b"PLTE", bytes(rng.randint(0, 256, size=48).tolist())), (b"tRNS", bytes([0, 128, 255, 7]))]),
        "grey16": png(w, h, 0, 16, grey16),
    }
    info = {}
    import warnings
    warnings.simplefilter("ignore")  # Pillow's note on palette transparency
    for name, data in files.items():
        path = folder / (name + ".png")
        path.write_bytes(data)
        with Image.open(path) as im:
            mode = im.mode
            rgb = im.convert("RGB")
        reference = rgb.tobytes()
        source = "pillow"
        if name == "grey16":
            # Pillow opens 16-bit grey as mode I and convert("RGB") clips it at 255 (white for
            # nearly every sample); tpt keeps the high byte, as Pillow does for 16-bit colour.
            reference = np.repeat((grey16 >> 8).astype(np.uint8).reshape(h, w, 1), 3, axis=2).tobytes()
            source = "high byte (Pillow clips mode I at 255)"
        (folder / (name + ".png.rgb")).write_bytes(reference)
        info[name] = {"width": rgb.width, "height": rgb.height, "pillow_mode": mode, "reference": source}
    (folder / "variants.json").write_text(json.dumps({"pillow_version": PIL.__version__, "files": info}))


if __name__ == "__main__":
    main()
