#!/usr/bin/python3
"""Writes the demo's sample batch: pred.npy, labels.txt, anchors.txt.

A small VOC-like batch: 4 images, a 13x13 grid, the 5 yolo-voc anchors and
the 20 VOC classes, 10 objects.  The raw outputs look like an early model's:
background slots have low objectness and noisy boxes; for two truths in three
the responsible slot predicts the box roughly, with high objectness and the
right class; the others are missed; a few background slots are confident
false positives.  So every part of the loss and every diagnostic is
exercised, and the numbers stay plausible.

Deterministic: run it again to get the same files (NumPy's PCG64 with a fixed
seed; the committed files are the reference should a future NumPy change its
normal sampler).  Usage: /usr/bin/python3 make_sample.py [OUTDIR]
"""
import os
import sys

import numpy as np

N, H, W, B, C = 4, 13, 13, 5, 20
K = 5 + C
ANCHORS = [(1.3221, 1.73145), (3.19275, 4.00944), (5.05587, 8.09892),
           (9.47112, 4.84053), (11.2364, 10.0071)]
OBJECTS_PER_IMAGE = [3, 2, 4, 1]


def logit(p):
    return np.log(p / (1.0 - p))


def responsible(cx, cy, w, h):
    """docs/loss.md's responsible slot: cell by truncation, anchor by
    shape IoU."""
    X, Y, Wg, Hg = cx * W, cy * H, w * W, h * H
    j, i = min(int(np.floor(X)), W - 1), min(int(np.floor(Y)), H - 1)
    best, b = -1.0, 0
    for a, (aw, ah) in enumerate(ANCHORS):
        inter = min(Wg, aw) * min(Hg, ah)
        iou = inter / (Wg * Hg + aw * ah - inter)
        if iou > best:
            best, b = iou, a
    return i, j, b, X, Y, Wg, Hg


def main(outdir):
    rng = np.random.default_rng(20240513)
    pred = np.empty((N, B, K, H, W), dtype=np.float64)
    pred[:, :, 0:2] = rng.normal(0.0, 1.0, (N, B, 2, H, W))
    pred[:, :, 2:4] = rng.normal(0.0, 0.4, (N, B, 2, H, W))
    pred[:, :, 4] = rng.normal(-4.0, 1.0, (N, B, H, W))
    pred[:, :, 5:] = rng.normal(0.0, 1.0, (N, B, C, H, W))

    lines = ["# regionloss sample batch: image_index class cx cy w h",
             "# (written by make_sample.py; classes are VOC's 20)"]
    t = 0
    for n, count in enumerate(OBJECTS_PER_IMAGE):
        for _ in range(count):
            cls = int(rng.integers(0, C))
            w, h = (round(float(v), 6) for v in rng.uniform(0.08, 0.7, 2))
            cx = round(float(rng.uniform(w / 2, 1 - w / 2)), 6)
            cy = round(float(rng.uniform(h / 2, 1 - h / 2)), 6)
            lines.append(f"{n} {cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
            i, j, b, X, Y, Wg, Hg = responsible(cx, cy, w, h)
            aw, ah = ANCHORS[b]
            if t % 3 != 2:
                # Found: box near the truth, confident, right class.
                fx = np.clip(X - j + rng.normal(0, 0.08), 0.02, 0.98)
                fy = np.clip(Y - i + rng.normal(0, 0.08), 0.02, 0.98)
                pred[n, b, 0, i, j] = logit(fx)
                pred[n, b, 1, i, j] = logit(fy)
                pred[n, b, 2, i, j] = np.log(Wg / aw) + rng.normal(0, 0.15)
                pred[n, b, 3, i, j] = np.log(Hg / ah) + rng.normal(0, 0.15)
                pred[n, b, 4, i, j] = rng.normal(2.0, 0.5)
                pred[n, b, 5 + cls, i, j] += 5.0
            else:
                # Missed: whatever the noise says, with middling objectness.
                pred[n, b, 4, i, j] = rng.normal(-1.0, 0.5)
            t += 1
    # Confident false positives on background slots.
    for _ in range(6):
        n, b = int(rng.integers(0, N)), int(rng.integers(0, B))
        i, j = int(rng.integers(0, H)), int(rng.integers(0, W))
        pred[n, b, 4, i, j] = rng.normal(1.0, 0.5)

    os.makedirs(outdir, exist_ok=True)
    np.save(os.path.join(outdir, "pred.npy"),
            pred.reshape(N, B * K, H, W).astype("<f4"))
    with open(os.path.join(outdir, "labels.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(outdir, "anchors.txt"), "w") as f:
        f.write("# yolo-voc.cfg anchors, w,h in grid cells\n")
        f.write(",".join(f"{v:g}" for a in ANCHORS for v in a) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
