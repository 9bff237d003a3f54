"""Fixtures for tpt-predict's smoke tests, made the way a Python user would make them.

Writes into the folder given as the only argument:
  model.tpt     a tpt checkpoint written with torch.save (torchvision ResNet-18, 3 classes, 64 px),
                so the smoke test also proves that checkpoints made in Python load in tpt
  images/       JPEG and PNG camera frames written with Pillow, a truncated JPEG, a text file
  images/md.json  a MegaDetector results file for those frames (animal, person, border boxes,
                a detector failure, an unknown field)
Run with Debian's python3 (torch, torchvision, Pillow).
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image

out = sys.argv[1]
os.makedirs(os.path.join(out, "images", "cam1"), exist_ok=True)
os.makedirs(os.path.join(out, "images", "cam2"), exist_ok=True)
rng = np.random.default_rng(7)


def frame(h, w):
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([120 + 60 * np.sin(x / 17.0), 130 + 50 * np.cos(y / 23.0), 90 + 40 * np.sin((x + y) / 31.0)], -1)
    noise = rng.normal(0, 8, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


Image.fromarray(frame(240, 320)).save(os.path.join(out, "images/cam1/IMG_0001.JPG"), quality=90)
Image.fromarray(frame(300, 400)).save(os.path.join(out, "images/cam1/IMG_0002.JPG"), quality=90)
Image.fromarray(frame(180, 240)).save(os.path.join(out, "images/cam2/frame.png"))
Image.fromarray(frame(240, 320)).save(os.path.join(out, "images/cam2/cut.jpg"), quality=90)
with open(os.path.join(out, "images/cam2/cut.jpg"), "r+b") as f:
    f.truncate(os.path.getsize(os.path.join(out, "images/cam2/cut.jpg")) // 2)
with open(os.path.join(out, "images/cam2/notes.txt"), "w") as f:
    f.write("not an image\n")

torch.manual_seed(0)
model = torchvision.models.resnet18(num_classes=3)
metadata = {
    "architecture": "resnet18",
    "class_names": ["zebra", "wildebeest", "gazelleThomsons"],
    "in_channels": 3,
    "stem": "imagenet",
    "input_height": 64,
    "input_width": 64,
    "normalization_mean": [0.485, 0.456, 0.406],
    "normalization_std": [0.229, 0.224, 0.225],
    "extra": {"preprocessing": {"working": {"height": 72, "width": 72, "policy": "stretch"}, "crop_fraction": 0.875}},
}
torch.save({"format": "tpt.checkpoint", "version": 1, "metadata": json.dumps(metadata),
            "state_dict": model.state_dict()}, os.path.join(out, "model.tpt"))

md = {
    "info": {"format_version": "1.4", "detector": "md_v5a.0.0.pt"},
    "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
    "images": [
        {"file": "cam1/IMG_0001.JPG", "detections": [
            {"category": "1", "conf": 0.93, "bbox": [0.2, 0.3, 0.4, 0.5]},
            {"category": "1", "conf": 0.6, "bbox": [0.9, 0.85, 0.2, 0.3]},
            {"category": "2", "conf": 0.88, "bbox": [0.0, 0.0, 0.1, 0.4]}]},
        {"file": "cam1/IMG_0002.JPG", "detections": [], "site": "north gate"},
        {"file": "cam2/frame.png", "detections": [{"category": "1", "conf": 0.05, "bbox": [0.1, 0.1, 0.2, 0.2]}]},
        {"file": "cam2/cut.jpg", "detections": [{"category": "1", "conf": 0.7, "bbox": [0.1, 0.1, 0.5, 0.5]}]},
        {"file": "cam2/lost.jpg", "failure": "Failure image access", "detections": None},
    ],
}
with open(os.path.join(out, "images", "md.json"), "w") as f:
    json.dump(md, f, indent=1)
