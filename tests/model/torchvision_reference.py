#!/usr/bin/python3
"""Reference values from torchvision for tpt's model tests (run with Debian's python3, which has
python3-torch and python3-torchvision).

  export --arch resnet18 --classes 52 --channels 3 --stem imagenet --size 64 --seed 1 --out DIR
      Builds torchvision's model (the small-image stem by editing conv1 and maxpool), gives every
      BatchNorm layer non-trivial weights and running statistics, and writes to DIR:
        weights.pt         torch.save(model.state_dict())           (zip format, an OrderedDict)
        weights_legacy.pt  the same in the pre-1.6 legacy format (if this PyTorch still writes it)
        reference.pt       {x, logits_eval, features_eval, logits_train, num_parameters,
                            after.<buffer>: every buffer after the train-mode forward}
      With --extras also: nested.pt ({"model": state_dict, "epoch": 3}), protocol4.pt (pickle
      protocol 4: frames, memoize, short strings), dataparallel.pt (names
      prefixed "module."), not_a_dict.pt (a list), torchscript.pt (torch.jit.script),
      legacy_huge.pt (a legacy-format file of 200 bytes whose storage claims 2^40 floats).

  check-checkpoint --checkpoint FILE --reference DIR/reference.pt --out OUT
      Loads a tpt checkpoint with torch.load, builds the torchvision model its metadata describes,
      load_state_dict(strict=True), and saves {"logits": model(x)} in eval mode to OUT.
"""
import argparse
import copy
import json
import sys

import torch
import torchvision


def build(arch, classes, channels, stem):
    model = getattr(torchvision.models, arch)(num_classes=classes)
    if stem == "small_image" or channels != 3:
        small = stem == "small_image"
        model.conv1 = torch.nn.Conv2d(channels, 64, kernel_size=3 if small else 7, stride=1 if small else 2,
                                      padding=1 if small else 3, bias=False)
        torch.nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    if stem == "small_image":
        model.maxpool = torch.nn.Identity()
    return model


def write_legacy_huge(path):
    """A legacy torch.save file whose one storage claims 2^40 float32 elements (4 TiB) but holds
    64 bytes: what a damaged or crafted header looks like. A reader must refuse it before it
    allocates anything."""
    import collections
    import pickle
    import struct
    import torch._utils

    n = 1 << 40

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", n, None) if obj == "STORAGE" else None

    class Huge:
        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2, ("STORAGE", 0, (n,), (1,), False, collections.OrderedDict()))

    with open(path, "wb") as f:
        pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True, "type_sizes": {}}, f, protocol=2)
        Pickler(f, protocol=2).dump({"w": Huge()})
        pickle.dump(["0"], f, protocol=2)
        f.write(struct.pack("<q", n))
        f.write(b"\0" * 64)


def export(args):
    torch.manual_seed(args.seed)
    model = build(args.arch, args.classes, args.channels, args.stem)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
    state = model.state_dict()
    torch.save(state, f"{args.out}/weights.pt")
    # The state_dict holds the live tensors, which the train-mode forward below updates.
    state = copy.deepcopy(state)
    try:  # the legacy format may leave PyTorch one day; the test checks it only if written
        torch.save(state, f"{args.out}/weights_legacy.pt", _use_new_zipfile_serialization=False)
    except Exception as e:  # noqa: BLE001
        print(f"torchvision_reference: no legacy-format file ({e})", file=sys.stderr)

    x = torch.randn(args.batch, args.channels, args.size, args.size)
    model.eval()
    with torch.no_grad():
        logits_eval = model(x)
        headless = copy.deepcopy(model)
        headless.fc = torch.nn.Identity()
        features_eval = headless(x)
        model.train()
        logits_train = model(x)
    ref = {
        "x": x,
        "logits_eval": logits_eval,
        "features_eval": features_eval,
        "logits_train": logits_train,
        "num_parameters": torch.tensor(sum(p.numel() for p in model.parameters())),
    }
    for name, buf in model.named_buffers():
        ref[f"after.{name}"] = buf.clone()
    torch.save(ref, f"{args.out}/reference.pt")

    if args.extras:
        torch.save({"model": state, "epoch": 3}, f"{args.out}/nested.pt")
        torch.save(state, f"{args.out}/protocol4.pt", pickle_protocol=4)
        torch.save({f"module.{k}": v for k, v in state.items()}, f"{args.out}/dataparallel.pt")
        torch.save([1, 2, 3], f"{args.out}/not_a_dict.pt")
        write_legacy_huge(f"{args.out}/legacy_huge.pt")
        try:  # TorchScript is deprecated in recent PyTorch; the test checks the file only if written
            torch.jit.script(model.eval()).save(f"{args.out}/torchscript.pt")
        except Exception as e:  # noqa: BLE001
            print(f"torchvision_reference: no TorchScript file ({e})", file=sys.stderr)


def check_checkpoint(args):
    ckpt = torch.load(args.checkpoint, weights_only=True)  # what PyTorch >= 2.6 does by default
    if ckpt.get("format") != "tpt.checkpoint" or ckpt.get("version") != 1:
        sys.exit(f"not a tpt checkpoint: {sorted(ckpt)}")
    meta = json.loads(ckpt["metadata"])
    model = build(meta["architecture"], len(meta["class_names"]), meta["in_channels"], meta["stem"])
    model.load_state_dict(ckpt["state_dict"], strict=True)
    model.eval()
    x = torch.load(args.reference)["x"]
    with torch.no_grad():
        torch.save({"logits": model(x)}, args.out)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export")
    e.add_argument("--arch", default="resnet18")
    e.add_argument("--classes", type=int, default=1000)
    e.add_argument("--channels", type=int, default=3)
    e.add_argument("--stem", default="imagenet", choices=["imagenet", "small_image"])
    e.add_argument("--size", type=int, default=64)
    e.add_argument("--batch", type=int, default=4)
    e.add_argument("--seed", type=int, default=1)
    e.add_argument("--extras", action="store_true")
    e.add_argument("--out", required=True)
    c = sub.add_parser("check-checkpoint")
    c.add_argument("--checkpoint", required=True)
    c.add_argument("--reference", required=True)
    c.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"export": export, "check-checkpoint": check_checkpoint}[args.command](args)


if __name__ == "__main__":
    main()
