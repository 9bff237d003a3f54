#!/usr/bin/python3
"""ResNet-18 training throughput in PyTorch eager: the baseline bench_train (C++) is compared
with. Same model (torchvision's resnet18, small-image stem below 64 px), loss (cross-entropy),
optimiser (Adam 1e-3), batch, image sizes and thread count.

  --mode step      the training step alone on synthetic tensors (--graph on: also captured
                   whole in a CUDA graph and replayed)
  --mode optimizer forward+backward against Adam's step() alone, per-parameter and foreach
                   (--stem imagenet --channels 1 --sizes 28: the demo grid's model)
  --mode pipeline  end to end: uint8 images in memory -> DataLoader workers (RandomResizedCrop,
                   flip, normalise, as torchvision users write it) -> pinned batches -> step

usage: bench_train.py [--mode step|pipeline|optimizer] [--sizes 32,64,224] [--batch 64] [--threads N]
                      [--device cpu|cuda] [--amp on|off] [--channels-last on|off]
                      [--images N] [--epochs N] [--workers N] [--repeats N] [--graph on|off]
Prints one line per size, 'pytorch <size>px: median <img/s> img/s ...', like bench_train."""
import argparse
import contextlib
import statistics
import time

import torch
import torchvision
import torchvision.transforms as T


def model_for(size, classes, stem="auto", channels=3):
    m = torchvision.models.resnet18(num_classes=classes)
    if stem == "small" or (stem == "auto" and size <= 64):  # tpt's small-image stem: 3x3, no max-pool
        m.conv1 = torch.nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
        m.maxpool = torch.nn.Identity()
    elif channels != 3:  # the ImageNet stem on grey images, as tpt-grid builds it for Fashion-MNIST
        m.conv1 = torch.nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
    return m


def prepare(m, a, capturable=False):
    """The model on the device (channels_last if asked) and its Adam; capturable=True keeps Adam's
    step counts on the GPU, as a CUDA graph needs."""
    m = m.to(a.device)
    if a.channels_last == "on":
        m = m.to(memory_format=torch.channels_last)
    return m, torch.optim.Adam(m.parameters(), lr=1e-3, capturable=capturable)


def make_step(m, opt, a, weight_cache=True):
    """One training step; weight_cache=False turns off autocast's cache of bf16 weight copies,
    which a CUDA graph cannot hold across replays."""
    use_amp = a.amp == "on" and a.device.startswith("cuda")

    # torch 1.13's autocast asks CUDA about bf16 even when disabled, which fails on a CPU-only
    # build: enter it only when it is on.
    def amp():
        return (torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=weight_cache) if use_amp
                else contextlib.nullcontext())

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        with amp():
            logits = m(x)
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        loss.backward()
        opt.step()
        return loss

    return step


def bench_optimizer(a):
    """How much of a CPU training step is Adam's step(), per-parameter (foreach=False, what
    LibTorch's C++ Adam does) and multi-tensor (foreach=True)."""
    for size in (int(s) for s in a.sizes.split(",")):
        x = torch.randn(a.batch, a.channels, size, size, device=a.device)
        y = torch.randint(0, a.classes, (a.batch,), device=a.device)
        for foreach in (False, True):
            torch.manual_seed(0)
            m = model_for(size, a.classes, a.stem, a.channels).to(a.device).train()
            opt = torch.optim.Adam(m.parameters(), lr=1e-3, foreach=foreach)
            backward, update = [], []
            for i in range(a.repeats + 1):
                t0 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(m(x), y).backward()
                t1 = time.perf_counter()
                opt.step()
                t2 = time.perf_counter()
                if i > 0:  # the first step allocates Adam's state
                    backward.append(t1 - t0)
                    update.append(t2 - t1)
            fb, st = statistics.median(backward), statistics.median(update)
            print(f"pytorch optimizer {size}px foreach={foreach}: forward+backward {1e3 * fb:.1f} ms, "
                  f"Adam step {1e3 * st:.1f} ms ({100 * st / (fb + st):.0f}% of the step; median of {a.repeats})",
                  flush=True)


def bench_step(a):
    for size in (int(s) for s in a.sizes.split(",")):
        torch.manual_seed(0)
        m, opt = prepare(model_for(size, a.classes, a.stem, a.channels), a)
        m.train()
        step = make_step(m, opt, a)
        x = torch.randn(a.batch, a.channels, size, size, device=a.device)
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
        if a.graph == "on" and a.device.startswith("cuda"):
            bench_step_graph(size, x, y, steps, a)


def bench_step_graph(size, x, y, steps, a):
    """The same training step captured whole in a CUDA graph and replayed (PyTorch's
    whole-network capture: capturable Adam, autocast without its weight-cast cache), to learn
    whether graphs pay for this model at this batch size."""
    torch.manual_seed(0)
    m, opt = prepare(model_for(size, a.classes, a.stem, a.channels), a, capturable=True)
    m.train()
    step = make_step(m, opt, a, weight_cache=False)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
        for _ in range(3):
            step(x, y)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        loss = step(x, y)
    graph.replay()  # capture records the kernels without running them
    first = loss.item()
    for _ in range(5):
        graph.replay()
    torch.cuda.synchronize()
    rates = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        for _ in range(steps):
            graph.replay()
        loss.item()
        rates.append(steps * a.batch / (time.perf_counter() - t))
    print(f"pytorch {size}px cuda graph: median {statistics.median(rates):.1f} img/s ({steps} steps x {a.repeats}; "
          f"loss {first:.3f} -> {loss.item():.3f})", flush=True)


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
    ap.add_argument("--stem", choices=("auto", "small", "imagenet"), default="auto")  # --mode step, optimizer
    ap.add_argument("--channels", type=int, default=3)                               # --mode step, optimizer
    ap.add_argument("--graph", choices=("on", "off"), default="off")                 # --mode step on CUDA
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"bench_train.py: mode {a.mode}, device {a.device}, {torch.get_num_threads()} torch threads, "
          f"PyTorch {torch.__version__}", flush=True)
    if a.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    modes = {"step": bench_step, "pipeline": bench_pipeline, "optimizer": bench_optimizer}
    if a.mode not in modes:
        raise SystemExit(f"bench_train.py: unknown --mode '{a.mode}' (step, pipeline or optimizer)")
    modes[a.mode](a)


if __name__ == "__main__":
    main()
