#!/usr/bin/python3
"""ResNet-18 training throughput in PyTorch eager: the baseline bench_train (C++) is compared
with. Same model (torchvision's resnet18, small-image stem below 64 px), loss (cross-entropy),
optimiser (Adam 1e-3), batch, image sizes and thread count.

  --mode step      the training step alone on synthetic tensors
  --mode pipeline  end to end: uint8 images in memory -> DataLoader workers (RandomResizedCrop,
                   flip, normalise, as torchvision users write it) -> pinned batches -> step

usage: bench_train.py [--mode step|pipeline] [--sizes 32,64,224] [--batch 64] [--threads N]
                      [--device cpu|cuda] [--amp on|off] [--channels-last on|off]
                      [--images N] [--epochs N] [--workers N] [--repeats N]
Prints one line per size, 'pytorch <size>px: median <img/s> img/s ...', like bench_train."""
import argparse
import contextlib
import statistics
import time

import torch
import torchvision
import torchvision.transforms as T


def model_for(size, classes):
    m = torchvision.models.resnet18(num_classes=classes)
    if size <= 64:  # tpt's small-image stem: 3x3 conv, no max-pool
        m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        m.maxpool = torch.nn.Identity()
    return m


def prepare(m, a):
    m = m.to(a.device)
    if a.channels_last == "on":
        m = m.to(memory_format=torch.channels_last)
    return m, torch.optim.Adam(m.parameters(), lr=1e-3)


def make_step(m, opt, a):
    use_amp = a.amp == "on" and a.device.startswith("cuda")

    # torch 1.13's autocast asks CUDA about bf16 even when disabled, which fails on a CPU-only
    # build: enter it only when it is on.
    def amp():
        return torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext()

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        with amp():
            logits = m(x)
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        loss.backward()
        opt.step()
        return loss

    return step


def bench_step(a):
    for size in (int(s) for s in a.sizes.split(",")):
        torch.manual_seed(0)
        m, opt = prepare(model_for(size, a.classes), a)
        m.train()
        step = make_step(m, opt, a)
        x = torch.randn(a.batch, 3, size, size, device=a.device)
        if a.channels_last == "on":
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, a.classes, (a.batch,), device=a.device)
        step(x, y)
        steps = 2 * 64 * 64 // (size * size) + 1 if a.device == "cpu" else 20
        if a.device != "cpu":
            for _ in range(5):
                step(x, y)
            torch.cuda.synchronize()
        rates = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            for _ in range(steps):
                loss = step(x, y)
            loss.item()
            rates.append(steps * a.batch / (time.perf_counter() - t))
        print(f"pytorch {size}px: median {statistics.median(rates):.1f} img/s ({steps} steps x {a.repeats})", flush=True)


class Synthetic(torch.utils.data.Dataset):
    """uint8 images in memory (as a decoded cache holds them), augmented per item."""

    def __init__(self, n, stored, size, classes):
        g = torch.Generator().manual_seed(3)
        self.images = torch.randint(0, 256, (n, 3, stored, stored), dtype=torch.uint8, generator=g)
        self.labels = torch.arange(n) % classes
        self.augment = T.Compose([T.RandomResizedCrop(size, antialias=True), T.RandomHorizontalFlip()])
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = self.augment(self.images[i]).float().div_(255)
        return (x - self.mean) / self.std, self.labels[i]


def bench_pipeline(a):
    size = int(a.sizes.split(",")[0])
    data = Synthetic(a.images, size * 8 // 7, size, a.classes)
    loader = torch.utils.data.DataLoader(data, batch_size=a.batch, shuffle=True, num_workers=a.workers,
                                         pin_memory=a.device != "cpu", persistent_workers=a.workers > 0,
                                         drop_last=False)
    torch.manual_seed(0)
    m, opt = prepare(model_for(size, a.classes), a)
    m.train()
    step = make_step(m, opt, a)
    rates = []
    for epoch in range(a.epochs + 1):  # the first epoch warms up
        t = time.perf_counter()
        n = 0
        for x, y in loader:
            x = x.to(a.device, non_blocking=True)
            if a.channels_last == "on":
                x = x.contiguous(memory_format=torch.channels_last)
            loss = step(x, y.to(a.device, non_blocking=True))
            n += len(y)
        loss.item()
        if epoch > 0:
            rates.append(n / (time.perf_counter() - t))
    print(f"pytorch pipeline {size}px batch {a.batch} ({a.images} images, workers {a.workers}, amp {a.amp}, "
          f"channels_last {a.channels_last}): median {statistics.median(rates):.0f} img/s over {len(rates)} epochs",
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="step")
    ap.add_argument("--sizes", "--size", dest="sizes", default="32,64,224")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", default="on")
    ap.add_argument("--channels-last", dest="channels_last", default="off")
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--classes", type=int, default=10)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"bench_train.py: mode {a.mode}, device {a.device}, {torch.get_num_threads()} torch threads, "
          f"PyTorch {torch.__version__}", flush=True)
    if a.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    bench_step(a) if a.mode == "step" else bench_pipeline(a)


if __name__ == "__main__":
    main()
