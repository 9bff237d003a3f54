#!/usr/bin/env python3
"""Pillow's upright pixels for the images tests/data_images/test_decode.cpp writes.

Usage: pillow_orientation.py FOLDER

For every FOLDER/*.jpg and FOLDER/*.png: open it with Pillow, apply ImageOps.exif_transpose
(what MegaDetector and viewers do), convert to RGB and write the raw pixels (rows top to bottom,
RGB interleaved) to the same name + ".rgb", plus FOLDER/pillow.json with each file's upright size
and the orientation Pillow read.
"""
import json
import pathlib
import sys

import PIL
from PIL import Image, ImageOps


def main():
    folder = pathlib.Path(sys.argv[1])
    sizes = {}
    for f in sorted(folder.iterdir()):
        if f.suffix not in (".jpg", ".png"):
            continue
        with Image.open(f) as im:
            orientation = im.getexif().get(0x0112, 1)
            upright = ImageOps.exif_transpose(im).convert("RGB")
        (folder / (f.name + ".rgb")).write_bytes(upright.tobytes())
        sizes[f.name] = {"width": upright.width, "height": upright.height, "orientation": orientation}
    (folder / "pillow.json").write_text(json.dumps({"pillow_version": PIL.__version__, "images": sizes}))


if __name__ == "__main__":
    main()
