#!/usr/bin/python3
"""The tool against real NumPy files and a real JSON parser.

The C tests build .npy files by hand; this checks that what NumPy itself
writes (np.save, float32 and float64, both layouts, Fortran order) is read as
intended, that the gradient file loads with np.load in the prediction's
shape, and that --json and golden files are JSON for Python's parser.

Usage: numpy_interop.py TOOL
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

N, H, W, B, C = 2, 3, 4, 2, 3
K = 5 + C
ANCHORS = "1.0,1.5,2.5,2.0"
LABELS = "0 1 0.3 0.4 0.2 0.3\n1 2 0.7 0.6 0.5 0.4\n1 0 0.1 0.9 0.15 0.2\n"
KEYS = {"loss", "coord", "class", "obj", "noobj", "n_obj", "n_noobj", "n_conf", "avg_iou",
        "recall50", "recall75", "avg_obj", "avg_noobj", "avg_cls", "variant"}
failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(tool, *args):
    return subprocess.run([tool, *args], capture_output=True, text=True)


def main(tool):
    rng = np.random.default_rng(7)
    # Logical layout [N, H, W, B, K]; NCHW is its transpose.
    logical = rng.normal(0, 1, (N, H, W, B, K))
    nhwc = logical.astype(np.float32)
    nchw = np.ascontiguousarray(nhwc.transpose(0, 3, 4, 1, 2).reshape(N, B * K, H, W))
    with tempfile.TemporaryDirectory() as d:
        labels = os.path.join(d, "labels.txt")
        with open(labels, "w") as f:
            f.write(LABELS)
        files = {
            "nchw32": (nchw, "nchw"),
            "nchw64": (nchw.astype(np.float64), "nchw"),
            "nhwc32": (nhwc, "nhwc"),
        }
        outs = {}
        for name, (arr, layout) in files.items():
            pred = os.path.join(d, name + ".npy")
            grad = os.path.join(d, name + "_grad.npy")
            np.save(pred, arr)
            r = run(tool, "loss", "--pred", pred, "--labels", labels, "--anchors", ANCHORS,
                    "--layout", layout, "--json", "--grad-out", grad, "--variant", "reference")
            expect(r.returncode == 0, f"{name}: exit {r.returncode}: {r.stderr}")
            if r.returncode:
                continue
            result = json.loads(r.stdout)
            expect(set(result) == KEYS, f"{name}: keys {sorted(result)}")
            g = np.load(grad)
            expect(g.dtype == np.float32 and g.shape == arr.shape,
                   f"{name}: gradient {g.dtype} {g.shape}, predictions {arr.shape}")
            expect(np.count_nonzero(g) > 0, f"{name}: gradient all zero")
            outs[name] = (result, g)
        if len(outs) == 3:
            # float64 input is rounded to the float32 the other file holds.
            expect(outs["nchw64"][0] == outs["nchw32"][0], "float64 result differs")
            expect(np.array_equal(outs["nchw64"][1], outs["nchw32"][1]),
                   "float64 gradient differs")
            # The same numbers in the other layout: the same loss and, after
            # the transpose, the same gradient.
            a, b = outs["nchw32"], outs["nhwc32"]
            expect(abs(a[0]["loss"] - b[0]["loss"]) <= 1e-12 * abs(a[0]["loss"]),
                   f"layouts disagree on the loss: {a[0]['loss']} vs {b[0]['loss']}")
            back = b[1].reshape(N, H, W, B, K).transpose(0, 3, 4, 1, 2).reshape(N, B * K, H, W)
            expect(np.allclose(a[1], back, rtol=1e-6, atol=0),
                   "layouts disagree on the gradient")

        # Fortran order and big-endian data from NumPy itself are refused.
        fort = os.path.join(d, "fortran.npy")
        np.save(fort, np.asfortranarray(nchw))
        r = run(tool, "loss", "--pred", fort, "--labels", labels, "--anchors", ANCHORS)
        expect(r.returncode == 2 and "fortran_order" in r.stderr,
               f"fortran: exit {r.returncode}: {r.stderr}")
        big = os.path.join(d, "big.npy")
        np.save(big, nchw.astype(">f4"))
        r = run(tool, "loss", "--pred", big, "--labels", labels, "--anchors", ANCHORS)
        expect(r.returncode == 2 and "big-endian" in r.stderr,
               f"big-endian: exit {r.returncode}: {r.stderr}")

        # golden writes JSON Python reads, with the darknet object nested.
        gold = os.path.join(d, "G.json")
        pred = os.path.join(d, "nchw32.npy")
        r = run(tool, "golden", "--pred", pred, "--labels", labels, "--anchors", ANCHORS,
                "--mode", "darknet", "--seen", "4", "--out", gold)
        expect(r.returncode == 0, f"golden: exit {r.returncode}: {r.stderr}")
        if r.returncode == 0:
            with open(gold) as f:
                g = json.load(f)
            expect(set(g["darknet"]) == {"avg_iou", "recall", "recall75", "avg_cls", "avg_obj",
                                         "avg_anyobj", "count", "cost"},
                   f"darknet keys {sorted(g['darknet'])}")
            expect("warmup" in g and g["warmup"] > 0, "warmup missing or zero at seen 4")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
