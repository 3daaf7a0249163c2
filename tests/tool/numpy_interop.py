#!/usr/bin/python3
"""The tool against real NumPy files and a real JSON parser.

The C tests build .npy files by hand; this checks that what NumPy itself
writes (np.save, float32 and float64, both layouts, Fortran order) is read as
intended, that the gradient file loads with np.load in the prediction's
shape, and that --json and golden files are JSON for Python's parser.

Half precision (issue 17): float16 files and bfloat16 bit patterns saved as
uint16 (with --dtype bf16) give the loss of a float32 file holding the same
(widened) values, and a gradient in their own type that is the reference's
double gradient rounded once to nearest even: checked against the float32
run's gradient rounded by NumPy (float16) or by hand on the bits (bfloat16).

--layer yolo: a network of two heads in both layouts, its JSON ("heads")
and one gradient file per head.

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


def bf16_bits(x):
    """float32 array -> bfloat16 bit patterns, rounded to nearest even."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_widen(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def half_round(g32, dtype):
    """The float32 gradient rounded to the half type, as bit patterns (uint16)."""
    if dtype == "f16":
        return g32.astype(np.float16).view(np.uint16)
    return bf16_bits(g32)


def half_tie(g32, dtype):
    """Entries of a float32 gradient that lie exactly halfway between two
    values of the half type: there rounding the float32 value again may differ
    from rounding the double once (double rounding), by one unit."""
    u = np.ascontiguousarray(g32, dtype=np.float32).view(np.uint32)
    if dtype == "bf16":
        return (u & 0xFFFF) == 0x8000
    # binary16 keeps 10 of float32's 23 mantissa bits (normal range)
    return (u & 0x1FFF) == 0x1000


def check_half(tool, d, labels, logical):
    """f16 and bf16 inputs against float32 inputs of the same values."""
    nchw_of = lambda a: np.ascontiguousarray(a.transpose(0, 3, 4, 1, 2).reshape(N, B * K, H, W))
    scale = logical * 3  # some entries past bfloat16's and float16's first units
    half = {"f16": nchw_of(scale.astype(np.float16)),
            "bf16": nchw_of(bf16_bits(scale.astype(np.float32)))}
    widened = {"f16": half["f16"].astype(np.float32), "bf16": bf16_widen(half["bf16"])}
    for dtype in ("f16", "bf16"):
        want_descr = np.float16 if dtype == "f16" else np.uint16
        pred = os.path.join(d, f"half_{dtype}.npy")
        wide = os.path.join(d, f"wide_{dtype}.npy")
        np.save(pred, half[dtype])
        np.save(wide, widened[dtype])
        assert np.load(pred).dtype == want_descr
        extra = ["--dtype", "bf16"] if dtype == "bf16" else []
        runs = {}
        for variant in ("reference", "generic"):
            for name, path, opts in (("half", pred, extra), ("wide", wide, []),
                                     ("half_g32", pred, extra + ["--grad-dtype", "f32"])):
                grad = os.path.join(d, f"g_{dtype}_{variant}_{name}.npy")
                r = run(tool, "loss", "--pred", path, "--labels", labels, "--anchors", ANCHORS,
                        "--json", "--grad-out", grad, "--variant", variant, *opts)
                expect(r.returncode == 0, f"{dtype} {variant} {name}: exit {r.returncode}: "
                                          f"{r.stderr}")
                if r.returncode:
                    return
                runs[(variant, name)] = (json.loads(r.stdout), np.load(grad))
        ref_h, ref_w = runs[("reference", "half")], runs[("reference", "wide")]
        # The reference computes in double from the exactly widened inputs:
        # the loss is the float32 file's, bit for bit, and so is every part.
        expect(ref_h[0] == ref_w[0], f"{dtype}: reference result differs from the float32 "
                                     f"run on the same values: {ref_h[0]} vs {ref_w[0]}")
        g, g32 = ref_h[1], ref_w[1]
        expect(g.dtype == want_descr and g.shape == half[dtype].shape,
               f"{dtype}: gradient {g.dtype} {g.shape}")
        # Rounded once from double: the float32 gradient rounded to the type,
        # except where that float32 value is itself a tie of the half type.
        bits = g.view(np.uint16)
        want = half_round(g32, dtype)
        off = bits != want
        expect(np.count_nonzero(want) > N * B * H * W // 2, f"{dtype}: the gradient is mostly zero")
        expect(not np.any(off & ~half_tie(g32, dtype)),
               f"{dtype}: {np.count_nonzero(off & ~half_tie(g32, dtype))} reference gradient "
               f"entries are not the float32 gradient rounded to nearest even")
        expect(np.all(np.abs(bits[off].astype(np.int32) - want[off].astype(np.int32)) <= 1),
               f"{dtype}: a tie entry off by more than one unit")
        # --grad-dtype f32 on half input: the float32 file's gradient, bit for bit.
        gf = runs[("reference", "half_g32")][1]
        expect(gf.dtype == np.float32 and np.array_equal(gf, g32),
               f"{dtype}: --grad-dtype f32 differs from the float32 run ({gf.dtype})")
        # generic: the loss within the float bound, and every gradient entry
        # within one unit of the type of the reference's (docs/numerics.md).
        gen = runs[("generic", "half")]
        for key in ("loss", "coord", "class", "obj", "noobj"):
            a, b = gen[0][key], ref_h[0][key]
            expect(abs(a - b) <= 1e-5 * abs(b) + 1e-6,
                   f"{dtype} generic: {key} {a} vs reference {b}")
        wide_ref = (g.astype(np.float32) if dtype == "f16" else bf16_widen(bits)).astype(np.float64)
        wide_gen = (gen[1].astype(np.float32) if dtype == "f16"
                    else bf16_widen(gen[1].view(np.uint16))).astype(np.float64)
        unit = np.spacing(np.abs(wide_ref).astype(np.float16)).astype(np.float64) \
            if dtype == "f16" else np.abs(wide_ref) * 2.0 ** -7 + 2.0 ** -133
        expect(gen[1].dtype == want_descr, f"{dtype} generic: gradient {gen[1].dtype}")
        expect(np.all(np.abs(wide_gen - wide_ref) <= unit + 1e-6),
               f"{dtype} generic: gradient entries more than one unit from the reference's")

    # --dtype against the file, by name.
    r = run(tool, "loss", "--pred", os.path.join(d, "half_bf16.npy"), "--labels", labels,
            "--anchors", ANCHORS)
    expect(r.returncode == 2 and "'<u2'" in r.stderr and "--dtype bf16" in r.stderr,
           f"uint16 without --dtype bf16: exit {r.returncode}: {r.stderr}")


def check_yolo(tool, d, labels):
    """--layer yolo: two heads saved by NumPy in both layouts; the JSON's
    "heads" for Python's parser; one gradient per head in its file's shape;
    the layouts agree; the total is the sum of the heads."""
    grids = [(2, 3), (4, 6)]
    masks = ["2,3", "0,1"]
    anchors = "3,4, 8,5, 14,10, 36,46"   # pixels of a 96x64 network
    outs = {}
    for layout in ("nchw", "nhwc"):
        args = ["loss", "--layer", "yolo", "--labels", labels, "--anchors", anchors,
                "--net-size", "96x64", "--layout", layout, "--json", "--variant", "generic"]
        shapes = []
        for h, (gh, gw) in enumerate(grids):
            logical = np.random.default_rng(100 + h).normal(0, 1, (N, gh, gw, 2, K))
            arr = logical.astype(np.float32)
            if layout == "nchw":
                arr = np.ascontiguousarray(arr.transpose(0, 3, 4, 1, 2).reshape(N, 2 * K, gh, gw))
            pred = os.path.join(d, f"yolo{h}_{layout}.npy")
            np.save(pred, arr)
            shapes.append(arr.shape)
            args += ["--pred", pred, "--mask", masks[h],
                     "--grad-out", os.path.join(d, f"yolo{h}_{layout}_grad.npy")]
        r = run(tool, *args)
        expect(r.returncode == 0, f"yolo {layout}: exit {r.returncode}: {r.stderr}")
        if r.returncode:
            continue
        res = json.loads(r.stdout)
        head_keys = (KEYS - {"variant"}) | {"darknet"}
        expect(set(res) == KEYS | {"darknet", "heads"}, f"yolo {layout}: keys {sorted(res)}")
        expect(len(res["heads"]) == 2 and all(set(x) == head_keys for x in res["heads"]),
               f"yolo {layout}: heads {res['heads']}")
        expect(abs(res["loss"] - sum(x["loss"] for x in res["heads"])) <= 1e-12 * res["loss"]
               and res["n_obj"] == sum(x["n_obj"] for x in res["heads"]) and res["n_obj"] > 0,
               f"yolo {layout}: the total is not the sum of the heads")
        grads = []
        for h in range(2):
            g = np.load(os.path.join(d, f"yolo{h}_{layout}_grad.npy"))
            expect(g.dtype == np.float32 and g.shape == shapes[h],
                   f"yolo {layout} head {h}: gradient {g.dtype} {g.shape}, predictions {shapes[h]}")
            if layout == "nchw":
                gh, gw = grids[h]
                g = g.reshape(N, 2, K, gh, gw).transpose(0, 3, 4, 1, 2)
            grads.append(g)
        outs[layout] = (res, grads)
    if len(outs) == 2:
        a, b = outs["nchw"], outs["nhwc"]
        expect(abs(a[0]["loss"] - b[0]["loss"]) <= 1e-9 * abs(a[0]["loss"]),
               f"yolo: layouts disagree on the loss: {a[0]['loss']} vs {b[0]['loss']}")
        for h in range(2):
            expect(np.allclose(a[1][h], b[1][h], rtol=1e-5, atol=1e-7),
                   f"yolo: layouts disagree on head {h}'s gradient")


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

        check_half(tool, d, labels, logical)
        check_yolo(tool, d, labels)

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
