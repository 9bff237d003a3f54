#!/usr/bin/python3
"""ResNet-18 training-step throughput in PyTorch eager: the baseline bench_train_step measures
tpt against. Same model (torchvision's resnet18), loss (cross-entropy), optimiser (Adam 1e-3),
batch, image sizes and thread count; synthetic data so only the step is timed.

usage: train_step.py [--threads N] [--batch 64] [--repeats 5] [--sizes 32,64,224] [--device cpu|cuda]
Prints one line per size: 'pytorch <size>px: median <img/s> img/s (<steps> steps x <repeats>)'."""
import argparse
import statistics
import time

import torch
import torchvision


def model_for(size, channels, classes):
    m = torchvision.models.resnet18(num_classes=classes)
    if size <= 64:  # the small-image stem tpt uses below 64 px: 3x3 conv, no max-pool
        m.conv1 = torch.nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
        m.maxpool = torch.nn.Identity()
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", default="32,64,224")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--classes", type=int, default=10)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    for size in (int(s) for s in a.sizes.split(",")):
        m = model_for(size, 3, a.classes).to(a.device)
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        x = torch.randn(a.batch, 3, size, size, device=a.device)
        y = torch.randint(0, a.classes, (a.batch,), device=a.device)
        m.train()

        def step():
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss.item()

        step()  # warm-up: allocator, oneDNN primitive caches
        steps = max(1, int(2 * 64 * 64 / (size * size)) + 1) if a.device == "cpu" else 20
        rates = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            for _ in range(steps):
                step()
            rates.append(steps * a.batch / (time.perf_counter() - t))
        print(f"pytorch {size}px: median {statistics.median(rates):.1f} img/s ({steps} steps x {a.repeats})", flush=True)


if __name__ == "__main__":
    main()
