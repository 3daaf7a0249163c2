#!/usr/bin/python3
"""Golden cases for the [yolo] head's reference, from an independent implementation.

docs/loss.md ("The [yolo] head") and docs/api.md (what each result field
holds) are written here again, vectorised, in PyTorch float64; autograd gives
the gradient.  The decisions (the anchor match of "Positives", each slot's
best IoU, the truth_thresh matches and the ignore rule of "Negatives") are
computed first, in NumPy float64, and enter the loss as constants, as
docs/loss.md says.  Nothing
here is taken from src/scalar/yolo_reference.c.  One plain-text file per case
goes to tests/data/goldens/yolo_*.txt (format: tools/goldens/README.md, "The
[yolo] goldens"), read by tests/goldens/test_yolo_goldens.c.

Run with Debian's interpreter (it has python3-torch):
    /usr/bin/python3 tools/goldens/make_yolo_goldens.py [--out DIR]

As make_goldens.py does, the inputs are drawn from fixed seeds and then
conditioned: a prediction whose golden value would be a cancellation, or whose
decision lies within rounding of a threshold or a tie, is redrawn, so every
golden carries ~15 correct digits and 1e-12 relative tests formulas only.
Some slots are "planted": their box is set close to a truth's, so that IoUs
above 0.5 (ignored slots, truth_thresh positives, recall) occur on purpose.
"""

import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

# YOLOv3's nine COCO anchors, pixels (yolov3.cfg), and its masks per head.
COCO_ANCHORS = [10, 13, 16, 30, 33, 23, 30, 61, 62, 45, 59, 119, 116, 90, 156, 198, 373, 326]
COCO_MASKS = [[6, 7, 8], [3, 4, 5], [0, 1, 2]]

SIG_MAX = 6.0       # |logit| of a sigmoid channel (objectness, classes, x, y)
SIG_MIN = 0.05
WH_MAX = 1.5        # |tw|, |th| of a random (not planted) slot
XY_GAP = 0.02       # |s(tx) - X| at a positive
WH_GAP = 0.01       # |tw - TW| at a positive
THRESH_GAP = 1e-6   # |best - ignore_thresh|, |best - truth_thresh|
TIE_GAP = 1e-9      # two truths' IoUs with a slot either equal or this far apart
TOUCH_GAP = 1e-9    # |overlap| of a decoded box with a truth
RECALL_GAP = 1e-9   # |IoU - 0.5|, |IoU - 0.75| where a diagnostic counts it
OVERLAP_REL = 1e-3  # a positive overlap measured, relative to its coordinates
EDGE_GAP = 1e-6     # IoU-family: |edge of a positive's box - edge of its truth|, relative
BOX_LOSSES = ("mse", "iou", "giou", "diou", "ciou")


def f32(x):
    return np.asarray(x, dtype=np.float32)


def q4(v):
    """A prediction as the C side reads it: 4 decimals, then float32."""
    return float(np.float32(round(float(v), 4)))


# The C library's exp through math.exp: NumPy's vectorised exp has been seen
# to move results by an ulp between identical runs (make_goldens.py).
_exp = np.vectorize(math.exp, otypes=[np.float64])


def sig_np(z):
    return 1.0 / (1.0 + _exp(-np.asarray(z, dtype=np.float64)))


class Head:
    def __init__(self, H, W, mask):
        self.H, self.W, self.mask = H, W, list(mask)
        self.B = len(mask)


class Case:
    def __init__(self, name, seed, heads, C, anchors=COCO_ANCHORS, net=(416, 416),
                 layout="nchw", lambdas=(1.0, 1.0, 1.0, 1.0), ignore=0.7, truth_thresh=1.0,
                 norm="images", global_images=0, box_loss="mse"):
        assert box_loss in BOX_LOSSES
        self.name, self.seed = name, seed
        self.box_loss = box_loss
        self.heads = heads
        self.C, self.K = C, 5 + C
        self.anchors = f32(anchors).reshape(-1, 2)     # pixels, the whole list
        self.net_w, self.net_h = net
        self.layout = layout
        self.lambdas = tuple(float(v) for v in lambdas)
        self.ignore, self.truth_thresh = float(ignore), float(truth_thresh)
        self.norm, self.global_images = norm, global_images
        self.rng = np.random.default_rng(seed)
        self.truths = []   # per image: [(cx, cy, w, h, cls)] float32, int
        self.t = []        # per head: float64 array [N, H, W, B, K] of float32 values
        self.planted = {}  # (h, n, i, j, b) -> truth (n, index) the box imitates

    # ---- inputs ----------------------------------------------------------
    def random_truths(self, count, wmin=0.02, wmax=0.9):
        r = self.rng
        return [(f32(r.uniform(0, 1)), f32(r.uniform(0, 1)), f32(r.uniform(wmin, wmax)),
                 f32(r.uniform(wmin, wmax)), int(r.integers(0, self.C))) for _ in range(count)]

    def sig_logit(self, size=None):
        r = self.rng
        return np.round(r.choice([-1.0, 1.0], size=size) * r.uniform(SIG_MIN, SIG_MAX, size=size), 4)

    def random_box(self, h, s):
        """Random tx, ty, tw, th at slot s = (n, i, j, b) of head h."""
        r = self.rng
        t = self.t[h]
        t[s + (0,)] = q4(self.sig_logit())
        t[s + (1,)] = q4(self.sig_logit())
        t[s + (2,)] = q4(r.uniform(-WH_MAX, WH_MAX))
        t[s + (3,)] = q4(r.uniform(-WH_MAX, WH_MAX))

    def random_pred(self):
        N = len(self.truths)
        self.t = []
        for hd in self.heads:
            shape = (N, hd.H, hd.W, hd.B)
            t = np.empty(shape + (self.K,))
            t[..., 0] = self.sig_logit(shape)
            t[..., 1] = self.sig_logit(shape)
            t[..., 2] = self.rng.uniform(-WH_MAX, WH_MAX, size=shape)
            t[..., 3] = self.rng.uniform(-WH_MAX, WH_MAX, size=shape)
            t[..., 4] = self.sig_logit(shape)
            t[..., 5:] = self.sig_logit(shape + (self.C,))
            self.t.append(np.round(t, 4).astype(np.float32).astype(np.float64))

    def plant_box(self, h, s, truth):
        """Tx..th of slot s of head h put near the box of `truth` (n, index):
        centre off by 3% to 12% of the box's size (at least 0.021 cell, so
        that s(tx) - X is no cancellation), size within 2% to 13%."""
        r = self.rng
        hd = self.heads[h]
        n, i, j, b = s
        cx, cy, w, h_, _ = self.truths[truth[0]][truth[1]]
        t = self.t[h]
        for k, (c, size, cells, off) in enumerate(((cx, w, hd.W, j), (cy, h_, hd.H, i))):
            shift = max(r.uniform(0.03, 0.12) * float(size) * cells, 0.021)
            target = float(c) * cells - off + r.choice([-1, 1]) * shift
            target = min(max(target, 0.003), 0.997)
            t[s + (k,)] = q4(math.log(target / (1 - target)))
        a = hd.mask[b]
        for k, (size, net, anchor) in enumerate(((w, self.net_w, self.anchors[a, 0]),
                                                 (h_, self.net_h, self.anchors[a, 1]))):
            tw = math.log(float(size) * net / float(anchor))
            t[s + (2 + k,)] = q4(tw + r.choice([-1, 1]) * r.uniform(0.02, 0.12))
        self.planted[(h,) + s] = truth

    def plant(self, h, n, ti, b=None, cell=None):
        """Plant a box imitating truth ti of image n at head h, anchor b (random
        when None), in the truth's cell (or `cell`)."""
        hd = self.heads[h]
        cx, cy = self.truths[n][ti][:2]
        if cell is None:
            j = min(int(math.floor(float(cx) * hd.W)), hd.W - 1)
            i = min(int(math.floor(float(cy) * hd.H)), hd.H - 1)
        else:
            i, j = cell
        if b is None:
            b = int(self.rng.integers(0, hd.B))
        self.plant_box(h, (n, i, j, b), (n, ti))

    def plant_random(self, count):
        for _ in range(count):
            n = int(self.rng.integers(0, len(self.truths)))
            if not self.truths[n]:
                continue
            ti = int(self.rng.integers(0, len(self.truths[n])))
            self.plant(int(self.rng.integers(0, len(self.heads))), n, ti)

    # ---- layout ----------------------------------------------------------
    def flat(self, h):
        """Head h's tensor in the case's layout (docs/loss.md), float32."""
        t = f32(self.t[h])
        if self.layout == "nchw":
            return np.ascontiguousarray(t.transpose(0, 3, 4, 1, 2)).reshape(-1)
        return np.ascontiguousarray(t).reshape(-1)


# ---- geometry, NumPy float64 --------------------------------------------------

def decode(case, h, t):
    """Decoding, in image units: the boxes [N, H, W, B] of head h."""
    hd = case.heads[h]
    jj = np.arange(hd.W).reshape(1, 1, hd.W, 1)
    ii = np.arange(hd.H).reshape(1, hd.H, 1, 1)
    aw = case.anchors[hd.mask, 0].astype(np.float64).reshape(1, 1, 1, hd.B)
    ah = case.anchors[hd.mask, 1].astype(np.float64).reshape(1, 1, 1, hd.B)
    x = (jj + sig_np(t[..., 0])) / hd.W
    y = (ii + sig_np(t[..., 1])) / hd.H
    w = _exp(t[..., 2]) * aw / case.net_w
    hh = _exp(t[..., 3]) * ah / case.net_h
    return x, y, w, hh


def overlap(x1, y1, w1, h1, x2, y2, w2, h2):
    ox = np.minimum(x1 + w1 / 2, x2 + w2 / 2) - np.maximum(x1 - w1 / 2, x2 - w2 / 2)
    oy = np.minimum(y1 + h1 / 2, y2 + h2 / 2) - np.maximum(y1 - h1 / 2, y2 - h2 / 2)
    return ox, oy


def iou(x1, y1, w1, h1, x2, y2, w2, h2):
    """docs/loss.md's IoU; box 1 the prediction (area 0, inf or NaN: IoU 0)."""
    ox, oy = overlap(x1, y1, w1, h1, x2, y2, w2, h2)
    inter = np.maximum(ox, 0.0) * np.maximum(oy, 0.0)
    a1 = w1 * h1
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        v = inter / (a1 + w2 * h2 - inter)
    return np.where(np.isfinite(a1) & (a1 > 0), v, 0.0)


def truth_array(case, n):
    """Image n's truths as float64 columns cx, cy, w, h and int classes."""
    ts = case.truths[n]
    if not ts:
        return np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
    return (np.array([[float(v) for v in tr[:4]] for tr in ts]),
            np.array([tr[4] for tr in ts], dtype=np.int64))


def anchor_matches(case):
    """Positives: per image, per truth, the index a* of the best anchor of
    the whole list (np.argmax: the first of equal maxima), and the shape IoUs."""
    aw = case.anchors[:, 0].astype(np.float64)
    ah = case.anchors[:, 1].astype(np.float64)
    out = []
    for n in range(len(case.truths)):
        tb, _ = truth_array(case, n)
        tw = tb[:, 2:3] * case.net_w
        th = tb[:, 3:4] * case.net_h
        inter = np.minimum(tw, aw) * np.minimum(th, ah)
        ious = inter / (tw * th + aw * ah - inter)
        out.append((np.argmax(ious, axis=1) if len(tb) else np.zeros(0, dtype=np.int64), ious))
    return out


def decide(case):
    """Every decision, per head: a dict of arrays [N, H, W, B]
      pos    positive (matched or truth_thresh); neg: negative
      box_t  index (in its image) of the box target, -1 if none
      classes  set of target classes per positive slot, {(n, i, j, b): set}
      best, best_t   best IoU and its first truth
      m93    per image, list of (truth index, i, j, b) matched to this head."""
    matches = anchor_matches(case)
    N = len(case.truths)
    out = []
    for h, hd in enumerate(case.heads):
        shape = (N, hd.H, hd.W, hd.B)
        x, y, w, hh = decode(case, h, case.t[h])
        best = np.zeros(shape)
        best_t = np.full(shape, -1, dtype=np.int64)
        for n in range(N):
            tb, _ = truth_array(case, n)
            if len(tb) == 0:
                continue
            # [H, W, B, T]
            m = iou(x[n][..., None], y[n][..., None], w[n][..., None], hh[n][..., None],
                    tb[:, 0], tb[:, 1], tb[:, 2], tb[:, 3])
            best[n] = m.max(axis=-1)
            best_t[n] = m.argmax(axis=-1)
        m93 = []
        owner = np.full(shape, -1, dtype=np.int64)
        classes = {}
        for n in range(N):
            tb, cls = truth_array(case, n)
            a_star = matches[n][0]
            lst = []
            for ti in range(len(tb)):
                if int(a_star[ti]) not in hd.mask:
                    continue
                b = hd.mask.index(int(a_star[ti]))
                j = min(int(math.floor(tb[ti, 0] * hd.W)), hd.W - 1)
                i = min(int(math.floor(tb[ti, 1] * hd.H)), hd.H - 1)
                lst.append((ti, i, j, b))
                owner[n, i, j, b] = ti   # input order: the last one stays
                classes.setdefault((n, i, j, b), set()).add(int(cls[ti]))
            m93.append(lst)
        tt = best > case.truth_thresh
        pos = (owner >= 0) | tt
        box_t = np.where(owner >= 0, owner, np.where(tt, best_t, -1))
        for s in zip(*np.nonzero(tt)):
            n = int(s[0])
            _, cls = truth_array(case, n)
            classes.setdefault(tuple(int(v) for v in s), set()).add(int(cls[best_t[s]]))
        neg = (~pos) & (best <= case.ignore)
        out.append(dict(pos=pos, neg=neg, owner=owner, tt=tt, box_t=box_t, classes=classes,
                        best=best, best_t=best_t, m93=m93, dec=(x, y, w, hh)))
    return out


# ---- conditioning ---------------------------------------------------------------

def check_anchor_ties(case):
    for n, (a_star, ious) in enumerate(anchor_matches(case)):
        for ti in range(len(a_star)):
            top = ious[ti, a_star[ti]]
            for a in range(ious.shape[1]):
                if a != a_star[ti] and ious[ti, a] != top and abs(ious[ti, a] - top) < 1e-9:
                    raise RuntimeError(f"{case.name}: anchor near-tie for truth {ti} of image {n}")


def redraw(case, h, s):
    key = (h,) + tuple(int(v) for v in s)
    if key in case.planted:
        case.plant_box(h, tuple(int(v) for v in s), case.planted[key])
    else:
        case.random_box(h, tuple(int(v) for v in s))


def measured_ok(x, y, w, h, tb):
    """An IoU that a diagnostic measures: not next to 0.5 or 0.75, and a
    positive overlap that is not a cancellation of its coordinates."""
    v = float(iou(x, y, w, h, *tb))
    ox, oy = overlap(x, y, w, h, *tb)
    for o, mag in ((ox, abs(x) + w + abs(tb[0]) + tb[2]), (oy, abs(y) + h + abs(tb[1]) + tb[3])):
        if -TOUCH_GAP < o < OVERLAP_REL * mag:
            return False
    return abs(v - 0.5) >= RECALL_GAP and abs(v - 0.75) >= RECALL_GAP


def edges_apart(x, y, w, h, tb):
    """IoU-family: no edge of the box within rounding of an edge of its
    truth, where min and max of the overlap and of the enclosing box have
    their kinks (each side of a kink has its own gradient)."""
    for c, s, gc, gs in ((x, w, tb[0], tb[2]), (y, h, tb[1], tb[3])):
        scale = abs(c) + s + abs(gc) + gs
        for e in (c - s / 2, c + s / 2):
            for ge in (gc - gs / 2, gc + gs / 2):
                if abs(e - ge) < EDGE_GAP * scale:
                    return False
    return True


def condition(case):
    for _ in range(5000):
        bad = {}
        for h, d in enumerate(decide(case)):
            hd = case.heads[h]
            x, y, w, hh = d["dec"]
            N = len(case.truths)
            redo = np.zeros(d["pos"].shape, dtype=bool)
            for n in range(N):
                tb, _ = truth_array(case, n)
                if len(tb) == 0:
                    continue
                ox, oy = overlap(x[n][..., None], y[n][..., None], w[n][..., None],
                                 hh[n][..., None], tb[:, 0], tb[:, 1], tb[:, 2], tb[:, 3])
                touch = np.minimum(np.abs(ox), np.abs(oy)).min(axis=-1)
                m = iou(x[n][..., None], y[n][..., None], w[n][..., None], hh[n][..., None],
                        tb[:, 0], tb[:, 1], tb[:, 2], tb[:, 3])
                srt = np.sort(m, axis=-1)
                tie = np.zeros(m.shape[:-1], dtype=bool)
                if m.shape[-1] > 1:
                    gap = srt[..., -1] - srt[..., -2]
                    tie = (gap != 0) & (gap < TIE_GAP)
                b = d["best"][n]
                r = touch < TOUCH_GAP
                r |= (np.abs(b - case.ignore) < THRESH_GAP) & (b != 0) & (d["owner"][n] < 0)
                r |= np.abs(b - case.truth_thresh) < THRESH_GAP
                r |= tie & (b > case.truth_thresh - 1e-3)
                redo[n] |= r
            if redo.any():
                bad["thresholds/ties/touching"] = bad.get("thresholds/ties/touching", 0) + int(redo.sum())
            # positives: no cancellation in s(tx) - X, tw - TW; measured IoUs
            for s in zip(*np.nonzero(d["pos"])):
                n, i, j, b = (int(v) for v in s)
                tb, _ = truth_array(case, n)
                T = tb[d["box_t"][s]]
                a = hd.mask[b]
                t = case.t[h][s]
                X, Y = T[0] * hd.W - j, T[1] * hd.H - i
                TW = math.log(T[2] * case.net_w / float(case.anchors[a, 0]))
                TH = math.log(T[3] * case.net_h / float(case.anchors[a, 1]))
                if case.box_loss == "mse":
                    ok = abs(sig_np(t[0]) - X) >= XY_GAP and abs(sig_np(t[1]) - Y) >= XY_GAP
                    ok = ok and abs(t[2] - TW) >= WH_GAP and abs(t[3] - TH) >= WH_GAP
                else:
                    ok = edges_apart(x[s], y[s], w[s], hh[s], T)
                ok = ok and measured_ok(x[s], y[s], w[s], hh[s], T)
                if not ok:
                    redo[s] = True
                    bad["positive"] = bad.get("positive", 0) + 1
            # darknet's line: every matched truth at its slot
            for n, lst in enumerate(d["m93"]):
                tb, _ = truth_array(case, n)
                for (ti, i, j, b) in lst:
                    s = (n, i, j, b)
                    if not measured_ok(x[s], y[s], w[s], hh[s], tb[ti]):
                        redo[s] = True
                        bad["darknet"] = bad.get("darknet", 0) + 1
            for s in zip(*np.nonzero(redo)):
                redraw(case, h, s)
        if not bad:
            return
    raise RuntimeError(f"{case.name}: could not condition the inputs: {bad}")


# ---- the loss, torch float64 -------------------------------------------------

def compute(case):
    N = len(case.truths)
    C = case.C
    lc, lcls, lo, ln = case.lambdas
    if case.norm == "sum":
        D = 1.0
    else:
        D = float(case.global_images if case.global_images else N)
    for t in case.t:
        assert np.array_equal(t, t.astype(np.float32).astype(np.float64))
    decisions = decide(case)
    n_truths = sum(len(ts) for ts in case.truths)
    flats = [torch.tensor(case.flat(h).astype(np.float64), requires_grad=True)
             for h in range(len(case.heads))]
    heads = []
    total_loss = torch.zeros(())
    for h, hd in enumerate(case.heads):
        d = decisions[h]
        B, K = hd.B, case.K
        if case.layout == "nchw":
            T = flats[h].view(N, B, K, hd.H, hd.W).permute(0, 3, 4, 1, 2)
        else:
            T = flats[h].view(N, hd.H, hd.W, B, K)
        pos, neg = d["pos"], d["neg"]
        P = torch.tensor(pos)
        NG = torch.tensor(neg)
        # the constants of every positive, in np.nonzero order
        idx = list(zip(*np.nonzero(pos)))
        Xs, Ys, TWs, THs, ks, Ycls = [], [], [], [], [], []
        for s in idx:
            n, i, j, b = (int(v) for v in s)
            tb, _ = truth_array(case, n)
            Tb = tb[d["box_t"][s]]
            a = hd.mask[b]
            Xs.append(Tb[0] * hd.W - j)
            Ys.append(Tb[1] * hd.H - i)
            TWs.append(math.log(Tb[2] * case.net_w / float(case.anchors[a, 0])))
            THs.append(math.log(Tb[3] * case.net_h / float(case.anchors[a, 1])))
            ks.append(2.0 - Tb[2] * Tb[3])
            y = np.zeros(C)
            for c in d["classes"][(n, i, j, b)]:
                y[c] = 1.0
            Ycls.append(y)
        Xs, Ys, TWs, THs, ks = (torch.tensor(v, dtype=torch.float64) for v in (Xs, Ys, TWs, THs, ks))
        Ycls = torch.tensor(np.array(Ycls).reshape(-1, C))
        tx, ty, tw, th, tc = (T[..., e][P] for e in range(5))
        bce = F.binary_cross_entropy_with_logits
        if case.box_loss == "mse":
            coord_sum = (ks * (bce(tx, Xs, reduction="none") + bce(ty, Ys, reduction="none")
                               + (TWs - tw) ** 2 / 2 + (THs - th) ** 2 / 2)).sum()
        else:
            coord_sum = (ks * one_minus_xiou(case, hd, idx, d, tx, ty, tw, th)).sum()
        obj_sum = bce(tc, torch.ones_like(tc), reduction="sum")
        cls_sum = bce(T[..., 5:][P], Ycls, reduction="sum")
        tcn = T[..., 4][NG]
        noobj_sum = bce(tcn, torch.zeros_like(tcn), reduction="sum")
        coord, cls, obj, noobj = (lam * v / D for lam, v in
                                  ((lc, coord_sum), (lcls, cls_sum), (lo, obj_sum), (ln, noobj_sum)))
        head_loss = coord + cls + obj + noobj
        total_loss = total_loss + head_loss
        # darknet's cost: the squared norm of the gradient with D = 1
        undivided = lc * coord_sum + lcls * cls_sum + lo * obj_sum + ln * noobj_sum
        g1 = torch.autograd.grad(undivided, [flats[h]], retain_graph=True, allow_unused=True)[0]
        cost = float((g1 ** 2).sum()) if g1 is not None else 0.0

        # diagnostics over the positives, measured on the predictions
        x, y, w, hh = d["dec"]
        with torch.no_grad():
            c_all = torch.sigmoid(T[..., 4]).numpy()
            p_all = torch.sigmoid(T[..., 5:]).numpy()
        ious, sum_cls = [], 0.0
        for s in idx:
            n = int(s[0])
            tb, cl = truth_array(case, n)
            bt = d["box_t"][s]
            ious.append(float(iou(x[s], y[s], w[s], hh[s], *tb[bt])))
            sum_cls += float(p_all[s][cl[bt]])
        r = dict(coord=float(coord), cls=float(cls), obj=float(obj), noobj=float(noobj),
                 loss=float(head_loss), warmup=0.0,
                 n_obj=int(pos.sum()), n_noobj=int(neg.sum()), n_truths=n_truths,
                 sum_iou=float(sum(ious)), sum_obj=float(c_all[pos].sum()),
                 sum_noobj=float(c_all[neg].sum()), sum_cls=sum_cls,
                 n_recall50=sum(1 for v in ious if v > 0.5),
                 n_recall75=sum(1 for v in ious if v > 0.75))
        r["n_conf"] = r["n_obj"] + r["n_noobj"]
        finish(r)
        # darknet's line over the matched truths of this head
        dl, do, dc = [], [], []
        for n, lst in enumerate(d["m93"]):
            tb, cl = truth_array(case, n)
            for (ti, i, j, b) in lst:
                s = (n, i, j, b)
                dl.append(float(iou(x[s], y[s], w[s], hh[s], *tb[ti])))
                do.append(float(c_all[s]))
                dc.append(float(p_all[s][cl[ti]]))
        cnt = len(dl)
        dn = dict(count=cnt, cost=cost, anyobj_sum=float(c_all.sum()), slots=int(c_all.size))
        dn["avg_anyobj"] = dn["anyobj_sum"] / dn["slots"]
        for key, vals in (("avg_iou", dl), ("avg_obj", do), ("avg_cls", dc),
                          ("recall", [1.0 if v > 0.5 else 0.0 for v in dl]),
                          ("recall75", [1.0 if v > 0.75 else 0.0 for v in dl])):
            dn[key] = sum(vals) / cnt if cnt else 0.0
        r["darknet"] = dn
        heads.append(r)

    grads = torch.autograd.grad(total_loss, flats, allow_unused=True)
    grads = [np.zeros(f.numel()) if g is None else g.detach().numpy() for g, f in zip(grads, flats)]
    for g in grads:
        assert np.all(np.isfinite(g))
    for r, g in zip(heads, grads):
        r["grad"] = g

    # the total: sums over heads in order, averages recomputed
    tot = {k: 0 for k in ("coord", "cls", "obj", "noobj", "loss", "n_obj", "n_noobj",
                          "n_conf", "sum_iou", "n_recall50", "n_recall75", "sum_obj",
                          "sum_noobj", "sum_cls")}
    for r in heads:
        for k in tot:
            tot[k] += r[k]
    tot["warmup"] = 0.0
    tot["n_truths"] = n_truths
    finish(tot)
    cnt = sum(r["darknet"]["count"] for r in heads)
    dn = dict(count=cnt, cost=sum(r["darknet"]["cost"] for r in heads))
    for key in ("avg_iou", "recall", "recall75", "avg_obj", "avg_cls"):
        dn[key] = sum(r["darknet"]["count"] * r["darknet"][key] for r in heads) / cnt if cnt else 0.0
    dn["avg_anyobj"] = (sum(r["darknet"]["anyobj_sum"] for r in heads)
                        / sum(r["darknet"]["slots"] for r in heads))
    tot["darknet"] = dn
    return tot, heads, decisions


# "IoU-family box losses" of docs/loss.md: sizes clamped to [2^-500, 2^500]
# (torch.clamp's gradient is 0 outside), CIoU's alpha detached.
SIZE_MIN, SIZE_MAX = 2.0 ** -500, 2.0 ** 500


def one_minus_xiou(case, hd, idx, d, tx, ty, tw, th):
    """1 - XIoU of each positive's decoded box (a function of tx..th) and its
    box target, in np.nonzero order."""
    js = torch.tensor([float(s[2]) for s in idx])
    is_ = torch.tensor([float(s[1]) for s in idx])
    aw = torch.tensor([float(case.anchors[hd.mask[int(s[3])], 0]) for s in idx])
    ah = torch.tensor([float(case.anchors[hd.mask[int(s[3])], 1]) for s in idx])
    g = torch.tensor(np.array([truth_array(case, int(s[0]))[0][d["box_t"][s]] for s in idx])
                     .reshape(-1, 4))
    gx, gy, gw, gh = g[:, 0], g[:, 1], g[:, 2], g[:, 3]
    x = (js + torch.sigmoid(tx)) / hd.W
    y = (is_ + torch.sigmoid(ty)) / hd.H
    w = torch.clamp(torch.exp(tw) * aw / case.net_w, SIZE_MIN, SIZE_MAX)
    h = torch.clamp(torch.exp(th) * ah / case.net_h, SIZE_MIN, SIZE_MAX)
    iw = torch.minimum(x + w / 2, gx + gw / 2) - torch.maximum(x - w / 2, gx - gw / 2)
    ih = torch.minimum(y + h / 2, gy + gh / 2) - torch.maximum(y - h / 2, gy - gh / 2)
    inter = torch.clamp(iw, min=0.0) * torch.clamp(ih, min=0.0)
    union = w * h + gw * gh - inter
    iou_ = inter / union
    if case.box_loss == "iou":
        return 1.0 - iou_
    ew = torch.maximum(x + w / 2, gx + gw / 2) - torch.minimum(x - w / 2, gx - gw / 2)
    eh = torch.maximum(y + h / 2, gy + gh / 2) - torch.minimum(y - h / 2, gy - gh / 2)
    if case.box_loss == "giou":
        enclosing = ew * eh
        return 1.0 - (iou_ - (enclosing - union) / enclosing)
    diou = iou_ - ((x - gx) ** 2 + (y - gy) ** 2) / (ew ** 2 + eh ** 2)
    if case.box_loss == "diou":
        return 1.0 - diou
    v = 4.0 / math.pi ** 2 * (torch.atan(gw / gh) - torch.atan(w / h)) ** 2
    with torch.no_grad():
        alpha = torch.where(v == 0, torch.zeros_like(v), v / ((1.0 - iou_) + v))
    return 1.0 - (diou - alpha * v)


def finish(r):
    """The averaged diagnostics from the sums (0 without positives/negatives)."""
    no, nn = r["n_obj"], r["n_noobj"]
    r["avg_iou"] = r["sum_iou"] / no if no else 0.0
    r["recall50"] = r["n_recall50"] / no if no else 0.0
    r["recall75"] = r["n_recall75"] / no if no else 0.0
    r["avg_obj"] = r["sum_obj"] / no if no else 0.0
    r["avg_cls"] = r["sum_cls"] / no if no else 0.0
    r["avg_noobj"] = r["sum_noobj"] / nn if nn else 0.0


# ---- the cases ---------------------------------------------------------------------

def coco3(grids=(3, 6, 12)):
    return [Head(g if isinstance(g, int) else g[0], g if isinstance(g, int) else g[1], m)
            for g, m in zip(grids, COCO_MASKS)]


def make_cases():
    """Each case with what it must contain (checked in main(), so that a
    change of seed or of a rule cannot silently lose what a case is for)."""
    cases = []

    def add(case, counts=None, truths=None, plants=0, setup=None, expect=None):
        case.truths = truths if truths is not None else [case.random_truths(*c) for c in counts]
        check_anchor_ties(case)
        case.random_pred()
        case.plant_random(plants)
        if setup:
            setup(case)
        condition(case)
        case.expect = expect or {}
        cases.append(case)

    # One head (the middle COCO mask): truths whose best anchor is another
    # head's have no positive here, but still lift slots out of the negatives.
    add(Case("yolo_01_one_head_mask345", 301, [Head(5, 5, [3, 4, 5])], 4),
        counts=[(6, 0.05, 0.35), (3, 0.05, 0.35)], plants=8,
        expect=dict(pos=2, ignored=1, cross=1))
    # A mask out of order; NHWC, norm sum, unequal lambdas.
    c = Case("yolo_02_one_head_mask201_nhwc_sum", 302, [Head(4, 6, [2, 0, 1])], 3,
             layout="nhwc", norm="sum", lambdas=(0.5, 2.0, 1.5, 0.75))
    add(c, truths=[c.random_truths(6, 0.015, 0.09) + [(f32(0.3), f32(0.6), f32(0.45), f32(0.5), 1)]],
        plants=6, expect=dict(pos=2, ignored=1, cross=1))
    # YOLOv3's three heads, COCO masks 6,7,8 / 3,4,5 / 0,1,2, net 416 on small grids.
    add(Case("yolo_03_three_heads_coco", 303, coco3(), 2), counts=[(8,)], plants=10,
        expect=dict(pos=5, ignored=2))
    add(Case("yolo_04_three_heads_nhwc_sum_lambdas", 304, coco3(((2, 3), (4, 6), (8, 12))), 2,
             net=(416, 288), layout="nhwc", norm="sum", lambdas=(2.0, 0.5, 3.0, 0.25)),
        counts=[(8,)], plants=8, expect=dict(pos=5, ignored=2))

    # Several truths on one slot: same cell and shape, so the same anchor;
    # the box target is the last, the classes their union.
    c = Case("yolo_05_multilabel_slots", 305, coco3((2, 3, 4)), 6)
    add(c, truths=[[(f32(0.41), f32(0.43), f32(0.2), f32(0.25), 3),
                    (f32(0.44), f32(0.40), f32(0.2), f32(0.25), 1),
                    (f32(0.42), f32(0.45), f32(0.2), f32(0.25), 3),   # class 3 again
                    (f32(0.80), f32(0.15), f32(0.05), f32(0.06), 2),
                    (f32(0.55), f32(0.60), f32(0.5), f32(0.45), 0),
                    (f32(0.82), f32(0.13), f32(0.05), f32(0.06), 5)],
                   [(f32(0.1), f32(0.1), f32(0.6), f32(0.4), 2),
                    (f32(0.15), f32(0.18), f32(0.58), f32(0.45), 4)]],
        plants=4, expect=dict(multi=3))

    # truth_thresh < 1: slots whose best IoU exceeds it become positives of
    # their best truth first; a matched slot that also exceeds it keeps the
    # matched box target and adds the other truth's class.
    def tt_setup(c):
        # image 0: truth 0 is small (head 2's anchors), truth 1 large and
        # concentric; head 2's slot of truth 0 imitates truth 1.
        hd = c.heads[2]
        cx, cy = c.truths[0][0][:2]
        j = min(int(math.floor(float(cx) * hd.W)), hd.W - 1)
        i = min(int(math.floor(float(cy) * hd.H)), hd.H - 1)
        b = hd.mask.index(int(anchor_matches(c)[0][0][0]))
        c.plant_box(2, (0, i, j, b), (0, 1))
        for h in range(3):
            for _ in range(3):
                c.plant(h, 0, 1)
                c.plant(h, 1, int(c.rng.integers(0, len(c.truths[1]))))
    c = Case("yolo_06_truth_thresh_union", 306, coco3((2, 4, 6)), 5, truth_thresh=0.5,
             ignore=0.7, lambdas=(1.25, 0.75, 1.0, 2.0))
    add(c, truths=[[(f32(0.52), f32(0.47), f32(0.06), f32(0.07), 1),
                    (f32(0.51), f32(0.49), f32(0.3), f32(0.35), 4),
                    (f32(0.2), f32(0.8), f32(0.25), f32(0.2), 2)],
                   c.random_truths(4)],
        setup=tt_setup, expect=dict(tt_only=4, tt_union=1, multi=1))
    add(Case("yolo_07_truth_thresh_above_ignore_nhwc", 337, coco3(((2, 2), (3, 4), (6, 6))), 2,
             layout="nhwc", truth_thresh=0.6, ignore=0.45, norm="sum"),
        counts=[(5,), (3,)], plants=24, expect=dict(tt_only=4, tt_union=1, ignored=1))

    # ignore_thresh variants: 0 (only slots meeting no truth are negatives),
    # 0.5, and 1 (every slot that is not a positive); a zero lambda.
    add(Case("yolo_08_ignore0", 308, coco3((2, 4, 8)), 2, ignore=0.0), counts=[(4,), (2,)],
        plants=6, expect=dict(pos=3, ignored=10))
    add(Case("yolo_09_ignore05_nhwc", 309, coco3((2, 4, 8)), 4, layout="nhwc", ignore=0.5),
        counts=[(5,)], plants=10, expect=dict(pos=3, ignored=2))
    add(Case("yolo_10_ignore1_two_heads_obj0", 310, [Head(4, 4, [3, 4, 5]), Head(8, 8, [0, 1, 2])],
             2, ignore=1.0, lambdas=(1.0, 1.0, 0.0, 1.5)), counts=[(6, 0.02, 0.6), (4, 0.02, 0.6)], plants=6,
        expect=dict(pos=2, cross=1))

    # Images without truths: one between two others (C = 1), and a batch with none.
    add(Case("yolo_11_empty_image_between_c1", 311, coco3((1, 3, 6)), 1),
        counts=[(4,), (0,), (3,)], plants=6, expect=dict(pos=3))
    add(Case("yolo_12_no_truths_at_all", 312, coco3((1, 2, 4)), 2, norm="sum"),
        counts=[(0,), (0,)])

    # Truths at cx = 1 / cy = 1 (the last cell), at 0, on cell borders
    # (dyadic k/4, k/8 and float32(k/13), whose double product with 13 can
    # land just below k), sizes chosen to hit each head.
    def borders(C):
        r = np.random.default_rng(3131)
        out = []
        for cx, cy in ((1.0, 1.0), (1.0, 0.5), (0.0, 1.0), (0.25, 0.75), (0.5, 0.125),
                       (3 / 13, 1.0), (7 / 13, 11 / 13), (1.0, 5 / 13), (0.0, 0.0)):
            size = r.choice([0.04, 0.15, 0.6])
            out.append((f32(cx), f32(cy), f32(size * r.uniform(0.8, 1.2)),
                        f32(size * r.uniform(0.8, 1.2)), int(r.integers(0, C))))
        return out
    add(Case("yolo_13_borders", 313, coco3((2, 4, 13)), 1), truths=[borders(1)], plants=6,
        expect=dict(pos=6))
    add(Case("yolo_14_borders_nhwc_sum", 314, coco3(((1, 13), (13, 1), (4, 8))), 3,
             layout="nhwc", norm="sum"), truths=[borders(3)], plants=6, expect=dict(pos=6))

    # norm images with global_counts->n_images (shards): D = 5, not 2.
    add(Case("yolo_15_global_images", 315, coco3((1, 2, 4)), 3, global_images=5),
        counts=[(3,), (4,)], plants=6, expect=dict(pos=3))

    # The IoU-family box losses ("IoU-family box losses"), three cases each:
    # three heads (NCHW, norm images, unequal lambdas, positives whose box
    # misses its truth); truth_thresh positives above ignore_thresh (NHWC,
    # norm sum); two heads with truth_thresh below ignore_thresh, an empty
    # image and global_counts.
    for q, kind in enumerate(("iou", "giou", "diou", "ciou")):
        base = 16 + 3 * q
        seed = 400 + 10 * q
        add(Case(f"yolo_{base}_{kind}_three_heads", seed, coco3(((3, 3), (5, 6), (10, 12))), 3,
                 net=(416, 288) if q % 2 else (416, 416), lambdas=(1.5, 1.0, 1.0, 0.5),
                 box_loss=kind),
            counts=[(8,), (5,)], plants=12, expect=dict(pos=8, apart=1, ignored=1))
        add(Case(f"yolo_{base + 1}_{kind}_truth_thresh_nhwc_sum", seed + 1,
                 coco3(((2, 2), (3, 4), (6, 6))), 2, layout="nhwc", truth_thresh=0.6,
                 ignore=0.45, norm="sum", box_loss=kind),
            counts=[(5,), (3,)], plants=24, expect=dict(pos=6, tt_only=3))
        add(Case(f"yolo_{base + 2}_{kind}_two_heads_global", seed + 2,
                 [Head(4, 4, [3, 4, 5]), Head(8, 8, [0, 1, 2])], 2, truth_thresh=0.5,
                 ignore=0.7, global_images=5, lambdas=(0.75, 1.0, 1.25, 1.0), box_loss=kind),
            counts=[(5, 0.02, 0.6), (0,), (4, 0.02, 0.6)], plants=16,
            expect=dict(pos=4, tt_only=2, cross=1))
    return cases


# ---- output --------------------------------------------------------------------

def g17(v):
    s = repr(float(v))
    assert float(s) == float(v)
    return s


def f32s(v):
    s = np.format_float_positional(np.float32(v), unique=True, trim="-")
    if len(s) > 16:
        s = np.format_float_scientific(np.float32(v), unique=True, trim="-")
    assert np.float32(s) == np.float32(v), (s, v)
    return s


def result_lines(r):
    dn = r["darknet"]
    return [
        "parts " + " ".join(g17(r[k]) for k in ("loss", "coord", "cls", "obj", "noobj", "warmup")),
        "counts " + " ".join(str(r[k]) for k in ("n_obj", "n_noobj", "n_conf", "n_truths")),
        "diag " + " ".join(g17(r[k]) for k in ("avg_iou", "recall50", "recall75", "avg_obj",
                                               "avg_noobj", "avg_cls")),
        "sums " + " ".join(g17(r[k]) for k in ("sum_iou", "sum_obj", "sum_noobj", "sum_cls"))
        + f" {r['n_recall50']} {r['n_recall75']}",
        "darknet " + " ".join(g17(dn[k]) for k in ("avg_iou", "recall", "recall75", "avg_cls",
                                                   "avg_obj", "avg_anyobj", "cost"))
        + f" {dn['count']}",
    ]


def write_case(case, tot, heads, path):
    N = len(case.truths)
    lines = ["regionloss-yolo-golden 1", f"name {case.name}", f"layout {case.layout}",
             f"classes {case.C}", f"net {case.net_w} {case.net_h}",
             f"anchors {len(case.anchors)} " + " ".join(f32s(v) for v in case.anchors.reshape(-1)),
             "lambdas " + " ".join(g17(v) for v in case.lambdas),
             f"ignore_thresh {g17(case.ignore)}", f"truth_thresh {g17(case.truth_thresh)}"]
    if case.box_loss != "mse":
        lines.append(f"box_loss {case.box_loss}")   # absent: the default, as before
    lines += [f"norm {case.norm}", f"global_images {case.global_images}", f"n_images {N}"]
    offs = [0]
    for ts in case.truths:
        offs.append(offs[-1] + len(ts))
    lines.append("offsets " + " ".join(str(o) for o in offs))
    lines.append(f"truths {offs[-1]}")
    for ts in case.truths:
        for (cx, cy, w, h, cls) in ts:
            lines.append(f"{f32s(cx)} {f32s(cy)} {f32s(w)} {f32s(h)} {cls}")
    lines.append(f"heads {len(case.heads)}")
    for h, hd in enumerate(case.heads):
        lines.append(f"head {h} {hd.H} {hd.W} {hd.B} " + " ".join(str(m) for m in hd.mask))
        p = case.flat(h)
        lines.append(f"pred {p.size}")
        for s in range(0, p.size, 10):
            lines.append(" ".join(f32s(v) for v in p[s:s + 10]))
    lines.append("total")
    lines += result_lines(tot)
    for h, r in enumerate(heads):
        lines.append(f"result {h}")
        lines += result_lines(r)
        g = r["grad"]
        nz = np.nonzero(g)[0]
        lines.append(f"grad {g.size} {nz.size}")
        for x in nz:
            lines.append(f"{x} {g17(g[x])}")
    lines.append("end")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.normpath(os.path.join(here, "..", "..", "tests", "data", "goldens"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=default_out)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    total = 0
    for case in make_cases():
        tot, heads, dec = compute(case)
        path = os.path.join(args.out, case.name + ".txt")
        write_case(case, tot, heads, path)
        size = os.path.getsize(path)
        total += size
        n_tt = sum(int((d["tt"] & (d["owner"] < 0)).sum()) for d in dec)
        n_union = sum(int((d["tt"] & (d["owner"] >= 0)).sum()) for d in dec)
        n_multi = sum(sum(1 for v in d["classes"].values() if len(v) > 1) for d in dec)
        n_ign = sum(int((~d["pos"] & ~d["neg"]).sum()) for d in dec)
        cross = sum(len(ts) for ts in case.truths) - sum(
            len(lst) for d in dec for lst in d["m93"])
        # positives whose box does not meet its box target's
        apart = 0
        for d in dec:
            x, y, w, hh = d["dec"]
            for s in zip(*np.nonzero(d["pos"])):
                tb, _ = truth_array(case, int(s[0]))
                apart += float(iou(x[s], y[s], w[s], hh[s], *tb[d["box_t"][s]])) == 0.0
        got = dict(pos=tot["n_obj"], ignored=n_ign, tt_only=n_tt, tt_union=n_union,
                   multi=n_multi, cross=cross, apart=apart)
        for k, least in case.expect.items():
            if got[k] < least:
                raise RuntimeError(f"{case.name}: {k} = {got[k]}, the case needs >= {least}")
        print(f"{case.name}: loss {tot['loss']:.6g} pos {tot['n_obj']} neg {tot['n_noobj']} "
              f"ignored {n_ign} tt-only {n_tt} tt-on-matched {n_union} multi-label {n_multi} "
              f"truths-without-head {cross} apart {apart} ({size} bytes)")
    print(f"total {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
