#!/usr/bin/python3
"""Peak memory of tpt-predict on a large MegaDetector file, above the process's own baseline.

Usage: benchmarks/md_memory.py BUILD_DIR [IMAGES]      (TPT_PREDICT=path: measure that binary instead)

Writes a synthetic MegaDetector file (IMAGES entries, default 300,000, two detections each, as
MegaDetector formats them) whose images do not exist, so every image becomes a recorded failure
and the run measures reading, checking and writing the JSON, not the model. Runs tpt-predict
(BUILD_DIR/examples/tpt-predict, the smoke-test checkpoint made by
examples/smoke/predict_fixtures.py) on it and on a 10-image file, each in a fresh process, and
prints each run's maximum resident set size (ru_maxrss of the child) and the difference, in MB
and as a multiple of the input and output sizes. Run with Debian's python3.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile


def peak_mb(command):
    """Maximum RSS of one child process, in MB (Linux reports KB)."""
    pid = os.fork()
    if pid == 0:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
        os.execv(command[0], command)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(command)}")
    return usage.ru_maxrss / 1024.0


def write_md(path, n):
    with open(path, "w") as f:
        f.write('{"info": {"format_version": "1.4", "detector": "md_v5a.0.0.pt"},\n'
                ' "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},\n "images": [\n')
        for i in range(n):
            image = {"file": f"site{i % 7}/cam{i % 13}/IMG_{i:06}.JPG",
                     "detections": [{"category": "1", "conf": 0.912, "bbox": [0.1234, 0.2345, 0.3456, 0.4567]},
                                    {"category": "2", "conf": 0.31, "bbox": [0.5, 0.6, 0.1, 0.2]}]}
            f.write("  " + json.dumps(image) + (",\n" if i < n - 1 else "\n"))
        f.write("]}\n")


def main():
    build = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
    here = os.path.dirname(os.path.abspath(__file__))
    predict = os.environ.get("TPT_PREDICT", os.path.join(build, "examples", "tpt-predict"))  # another build to compare
    with tempfile.TemporaryDirectory(prefix="tpt-md-memory-") as tmp:
        subprocess.run([sys.executable, os.path.join(here, "..", "examples", "smoke", "predict_fixtures.py"), tmp],
                       check=True, stdout=subprocess.DEVNULL)
        model = os.path.join(tmp, "model.tpt")
        big, small = os.path.join(tmp, "big.json"), os.path.join(tmp, "small.json")
        write_md(big, n)
        write_md(small, 10)

        def run(md, out):
            return peak_mb([predict, "--model", model, "--megadetector", md, "-o", out, "--no-csv",
                            "--checkpoint-every", "0", "--quiet"])

        base = run(small, os.path.join(tmp, "small_out.json"))
        peak = run(big, os.path.join(tmp, "big_out.json"))
        in_mb = os.path.getsize(big) / 1e6
        out_mb = os.path.getsize(os.path.join(tmp, "big_out.json")) / 1e6
        extra = peak - base
        print(f"MegaDetector file: {n} images, {in_mb:.1f} MB in, {out_mb:.1f} MB out (every image a failure)")
        print(f"peak RSS: {peak:.0f} MB; with a 10-image file {base:.0f} MB; difference {extra:.0f} MB = "
              f"{extra / in_mb:.1f}x the input, {extra / out_mb:.1f}x the output")


if __name__ == "__main__":
    main()
