#!/usr/bin/python3
"""Golden cases for the regionloss reference, from an independent implementation.

The loss of docs/loss.md (spec mode) and of issue 5 (darknet mode) is
written here from those two texts only, in PyTorch float64; autograd gives
the gradient.
The assignment (responsible slots), the masks, the IoU targets and the counts
are computed first, in NumPy float64, and enter the loss as constants, as
docs/loss.md says.  The output is one plain-text file per case under
tests/data/goldens/ (format: tools/goldens/README.md), read by
tests/goldens/test_goldens.c.

Run with Debian's interpreter (it has python3-torch):
    /usr/bin/python3 tools/goldens/make_goldens.py [--out DIR]

Inputs are drawn from fixed seeds and then *conditioned* (see condition()):
entries whose float64 value is dominated by cancellation, decisions within
rounding distance of a threshold or a tie, are redrawn.  The goldens test the
formulas at 1e-12 relative; near-ties and cancellation are the differential
suite's business, not this one's.
"""

import argparse
import math
import os
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

YOLO_VOC_ANCHORS = [1.3221, 1.73145, 3.19275, 4.00944, 5.05587, 8.09892,
                    9.47112, 4.84053, 11.2364, 10.0071]

# Margins of the conditioning (see condition()).
SIG_MIN = 0.05        # |logit| of a sigmoid channel: s(t) - 0.5 is not cancelled
SIG_MAX = 6.0         # |logit| of a sigmoid channel: y(1 - y) keeps ~13 digits
CLS_MAX = 3.0         # |class logit|: 1 - p^ keeps ~13 digits even for C = 2
WH_MAX = 2.0          # |tw|, |th|
XY_GAP = 0.02         # |s(tx) - (X - j)| at a responsible slot
WH_GAP = 0.01         # relative |w^ - Wg| (spec) / absolute |tw - log(Wg/aw)| (darknet)
CONF_GAP = 0.01       # |c^ - target| at a responsible slot
THRESH_GAP = 1e-6     # |best - thresh| at other slots
TOUCH_GAP = 1e-9      # |overlap| of any predicted box with any truth of its image
RECALL_GAP = 1e-9     # |IoU - 0.5|, |IoU - 0.75| at truth slots
OVERLAP_REL = 1e-3    # a positive overlap at a truth slot, relative to the coordinates


def f32(x):
    return np.asarray(x, dtype=np.float32)


class Case:
    """Configuration and inputs of one golden case."""

    def __init__(self, name, seed, H, W, B, C, anchors=None, layout="nchw", mode="spec",
                 lambdas=(1.0, 1.0, 5.0, 1.0), thresh=0.6, norm=None, rescore=1,
                 logistic=0, warmup_seen=12800, warmup_scale=0.01, seen=0, wh_max=WH_MAX):
        self.name, self.seed = name, seed
        self.H, self.W, self.B, self.C = H, W, B, C
        self.K = 5 + C
        self.layout, self.mode = layout, mode
        self.lambdas = tuple(float(v) for v in lambdas)
        self.thresh = float(thresh)
        self.norm = norm or ("counts" if mode == "spec" else "sum")
        self.rescore, self.logistic = rescore, logistic
        self.warmup_seen, self.warmup_scale, self.seen = warmup_seen, float(warmup_scale), seen
        self.wh_max = wh_max   # |tw|, |th| are drawn from [-wh_max, wh_max]
        self.rng = np.random.default_rng(seed)
        if anchors is None:
            anchors = self.rng.uniform(0.3, 0.9 * min(H, W) + 0.5, size=2 * B)
        self.anchors = f32(anchors).reshape(B, 2)
        self.truths = []   # per image: list of (cx, cy, w, h, cls), float32 + int
        self.pred = None   # float32, flat, in the case's layout

    # ---- inputs ---------------------------------------------------------
    def random_truths(self, count, wmin=0.02, wmax=0.9):
        r = self.rng
        return [(f32(r.uniform(0, 1)), f32(r.uniform(0, 1)), f32(r.uniform(wmin, wmax)),
                 f32(r.uniform(wmin, wmax)), int(r.integers(0, self.C))) for _ in range(count)]

    def sig_logits(self, size):
        """Logits of a sigmoid channel.  Every drawn prediction has 4 decimals:
        the files stay short and the float32 value still varies in every bit."""
        r = self.rng
        return np.round(r.choice([-1.0, 1.0], size=size) * r.uniform(SIG_MIN, SIG_MAX, size=size), 4)

    def random_pred(self, n_images):
        """The prediction tensor as an array [n, i, j, b, k] (float32)."""
        r = self.rng
        shape = (n_images, self.H, self.W, self.B)
        t = np.empty(shape + (self.K,), dtype=np.float64)
        t[..., 0] = self.sig_logits(shape)
        t[..., 1] = self.sig_logits(shape)
        t[..., 2] = r.uniform(-self.wh_max, self.wh_max, size=shape)
        t[..., 3] = r.uniform(-self.wh_max, self.wh_max, size=shape)
        t[..., 4] = self.sig_logits(shape)
        t[..., 5:] = r.uniform(-CLS_MAX, CLS_MAX, size=shape + (self.C,))
        if self.mode == "darknet" and self.logistic:
            t[..., 5:] = self.sig_logits(shape + (self.C,))
        return f32(np.round(t, 4))

    def to_layout(self, t):
        """[n, i, j, b, k] -> flat array in the case's layout (docs/loss.md)."""
        if self.layout == "nchw":
            return np.ascontiguousarray(t.transpose(0, 3, 4, 1, 2)).reshape(-1)
        return np.ascontiguousarray(t).reshape(-1)

    def offset(self, n, i, j, b, k):
        H, W, B, K = self.H, self.W, self.B, self.K
        if self.layout == "nchw":
            return ((n * B + b) * K + k) * H * W + i * W + j
        return (((n * H + i) * W + j) * B + b) * K + k


# ---- docs/loss.md's geometry, in float64 ---------------------------------

# NumPy's vectorised exp (numpy 1.24 on an AVX-512 machine) moved a few
# goldens by an ulp between identical runs; the constants use the C library's
# exp through math.exp, which gives the same bits every run.
_exp = np.vectorize(math.exp, otypes=[np.float64])


def exp_np(z):
    return _exp(np.asarray(z, dtype=np.float64))


def sigmoid_np(z):
    return 1.0 / (1.0 + exp_np(-np.asarray(z, dtype=np.float64)))


def overlaps(x1, y1, w1, h1, x2, y2, w2, h2):
    ox = np.minimum(x1 + w1 / 2, x2 + w2 / 2) - np.maximum(x1 - w1 / 2, x2 - w2 / 2)
    oy = np.minimum(y1 + h1 / 2, y2 + h2 / 2) - np.maximum(y1 - h1 / 2, y2 - h2 / 2)
    return ox, oy


def iou_np(x1, y1, w1, h1, x2, y2, w2, h2):
    """Box 1 is the prediction: IoU 0 when its area is zero, infinite or NaN."""
    ox, oy = overlaps(x1, y1, w1, h1, x2, y2, w2, h2)
    inter = np.maximum(ox, 0.0) * np.maximum(oy, 0.0)
    a1 = w1 * h1
    a2 = w2 * h2
    with np.errstate(invalid="ignore", divide="ignore"):
        v = inter / (a1 + a2 - inter)
    ok = np.isfinite(a1) & (a1 > 0)
    return np.where(ok, v, 0.0)


def shape_iou(wg, hg, aw, ah):
    inter = min(wg, aw) * min(hg, ah)
    return inter / (wg * hg + aw * ah - inter)


def truth_grid(case, t):
    cx, cy, w, h, cls = t
    X, Y = float(cx) * case.W, float(cy) * case.H
    Wg, Hg = float(w) * case.W, float(h) * case.H
    return X, Y, Wg, Hg, cls


def responsible_anchor(case, Wg, Hg):
    """(b, ious): argmax of the shape IoU, ties to the smaller index."""
    ious = [shape_iou(Wg, Hg, float(a[0]), float(a[1])) for a in case.anchors]
    best = 0
    for b in range(1, case.B):
        if ious[b] > ious[best]:
            best = b
    return best, ious


def assign(case):
    """Per image, in truth order: the slot of each truth; later ones replace.

    Returns (slot_of_truth, owner): slot_of_truth[n][t] = (i, j, b);
    owner[(n, i, j, b)] = index of the truth that finally owns the slot."""
    slot_of, owner = [], {}
    for n, ts in enumerate(case.truths):
        s = []
        for ti, t in enumerate(ts):
            X, Y, Wg, Hg, _ = truth_grid(case, t)
            j = min(int(math.floor(X)), case.W - 1)
            i = min(int(math.floor(Y)), case.H - 1)
            b, _ = responsible_anchor(case, Wg, Hg)
            s.append((i, j, b))
            owner[(n, i, j, b)] = ti
        slot_of.append(s)
    return slot_of, owner


def decode_np(case, t):
    """Decoded boxes [n, i, j, b] in grid units from t[n, i, j, b, k]."""
    t = t.astype(np.float64)
    jj = np.arange(case.W).reshape(1, 1, case.W, 1)
    ii = np.arange(case.H).reshape(1, case.H, 1, 1)
    aw = case.anchors[:, 0].astype(np.float64).reshape(1, 1, 1, case.B)
    ah = case.anchors[:, 1].astype(np.float64).reshape(1, 1, 1, case.B)
    x = jj + sigmoid_np(t[..., 0])
    y = ii + sigmoid_np(t[..., 1])
    w = aw * exp_np(t[..., 2])
    h = ah * exp_np(t[..., 3])
    return x, y, w, h


def best_iou(case, t):
    """best[n, i, j, b] and the smallest |overlap| with any truth (for margins)."""
    x, y, w, h = decode_np(case, t)
    best = np.zeros(x.shape)
    touch = np.full(x.shape, np.inf)
    for n, ts in enumerate(case.truths):
        for tr in ts:
            X, Y, Wg, Hg, _ = truth_grid(case, tr)
            v = iou_np(x[n], y[n], w[n], h[n], X, Y, Wg, Hg)
            best[n] = np.maximum(best[n], v)
            ox, oy = overlaps(x[n], y[n], w[n], h[n], X, Y, Wg, Hg)
            touch[n] = np.minimum(touch[n], np.minimum(np.abs(ox), np.abs(oy)))
    return best, touch


# ---- conditioning ------------------------------------------------------------

def condition(case, t):
    """Redraw entries of t (in place) until every decision and every golden
    entry is well away from rounding trouble:
      - a non-responsible slot's best IoU is not within THRESH_GAP of thresh
        and no predicted box just touches a truth (IoU 0 versus tiny);
      - at a truth's slot the IoU is not within RECALL_GAP of 0.5 or 0.75,
        and a positive overlap is not a cancellation of large coordinates;
      - at a responsible slot, s(tx) - (X - j), w^ - Wg (or tw - log(Wg/aw))
        and c^ - target are not cancellations."""
    slot_of, owner = assign(case)
    r = case.rng
    for _ in range(10000):
        bad = 0
        why = {}
        best, touch = best_iou(case, t)
        x, y, w, h = decode_np(case, t)
        obj = np.zeros(best.shape, dtype=bool)
        for (n, i, j, b) in owner:
            obj[n, i, j, b] = True
        # best == 0 is exact (no overlap, by TOUCH_GAP), so it decides robustly
        # even against thresh = 0.
        near = (np.abs(best - case.thresh) < THRESH_GAP) & (best != 0)
        redraw = (~obj) & (near | (touch < TOUCH_GAP))
        if redraw.any():
            why["threshold or touching"] = int(redraw.sum())
        for idx in zip(*np.nonzero(redraw)):
            t[idx + (0,)] = case.sig_logits(())
            t[idx + (1,)] = case.sig_logits(())
            t[idx + (2,)] = round(r.uniform(-case.wh_max, case.wh_max), 4)
            t[idx + (3,)] = round(r.uniform(-case.wh_max, case.wh_max), 4)
            bad += 1
        for n, ts in enumerate(case.truths):
            for ti, tr in enumerate(ts):
                i, j, b = slot_of[n][ti]
                X, Y, Wg, Hg, _ = truth_grid(case, tr)
                s = (n, i, j, b)
                xs, ys, ws, hs = x[s], y[s], w[s], h[s]
                iou = float(iou_np(xs, ys, ws, hs, X, Y, Wg, Hg))
                ox, oy = overlaps(xs, ys, ws, hs, X, Y, Wg, Hg)
                ok = True
                for o, mag in ((ox, abs(xs) + ws + X + Wg), (oy, abs(ys) + hs + Y + Hg)):
                    if -TOUCH_GAP < o < OVERLAP_REL * mag:
                        ok = False
                if abs(iou - 0.5) < RECALL_GAP or abs(iou - 0.75) < RECALL_GAP:
                    ok = False
                final = owner[s] == ti
                if final:
                    sx = sigmoid_np(float(t[s + (0,)]))
                    sy = sigmoid_np(float(t[s + (1,)]))
                    if abs(sx - (X - j)) < XY_GAP:
                        t[s + (0,)] = case.sig_logits(())
                        why["x"] = why.get("x", 0) + 1
                        bad += 1
                    if abs(sy - (Y - i)) < XY_GAP:
                        t[s + (1,)] = case.sig_logits(())
                        why["y"] = why.get("y", 0) + 1
                        bad += 1
                    aw, ah = float(case.anchors[b, 0]), float(case.anchors[b, 1])
                    for k, got, want, a in ((2, ws, Wg, aw), (3, hs, Hg, ah)):
                        if case.mode == "spec":
                            near = abs(got - want) < WH_GAP * max(got, want)
                        else:
                            near = abs(float(t[s + (k,)]) - math.log(want / a)) < WH_GAP
                        if near:
                            t[s + (k,)] = round(r.uniform(-case.wh_max, case.wh_max), 4)
                            why["wh"] = why.get("wh", 0) + 1
                            bad += 1
                    target = iou if (case.mode == "spec" or case.rescore) else 1.0
                    if abs(sigmoid_np(float(t[s + (4,)])) - target) < CONF_GAP:
                        t[s + (4,)] = case.sig_logits(())
                        why["conf"] = why.get("conf", 0) + 1
                        bad += 1
                if not ok:
                    why["iou"] = why.get("iou", 0) + 1
                    t[s + (0,)] = case.sig_logits(())
                    t[s + (1,)] = case.sig_logits(())
                    t[s + (2,)] = round(r.uniform(-case.wh_max, case.wh_max), 4)
                    t[s + (3,)] = round(r.uniform(-case.wh_max, case.wh_max), 4)
                    bad += 1
        if bad == 0:
            return
    raise RuntimeError(f"{case.name}: could not condition the inputs: {why}")


def check_anchor_ties(case):
    """An anchor decision is either clear or an exact tie (equal anchors)."""
    for ts in case.truths:
        for tr in ts:
            _, _, Wg, Hg, _ = truth_grid(case, tr)
            b, ious = responsible_anchor(case, Wg, Hg)
            for c in range(case.B):
                if c != b and ious[c] != ious[b] and abs(ious[c] - ious[b]) < 1e-9:
                    raise RuntimeError(f"{case.name}: anchor near-tie")


# ---- the loss, in torch float64 ----------------------------------------------

def compute(case):
    """Loss parts, counts, diagnostics and gradient of the case."""
    N = len(case.truths)
    H, W, B, C, K = case.H, case.W, case.B, case.C, case.K
    flat = torch.tensor(case.pred.astype(np.float64), requires_grad=True)
    if case.layout == "nchw":
        T = flat.view(N, B, K, H, W).permute(0, 3, 4, 1, 2)
    else:
        T = flat.view(N, H, W, B, K)
    tx, ty, tw, th, tc = T[..., 0], T[..., 1], T[..., 2], T[..., 3], T[..., 4]
    logits = T[..., 5:]
    sx, sy, sc = torch.sigmoid(tx), torch.sigmoid(ty), torch.sigmoid(tc)

    # Constants: assignment, per-slot targets, masks, counts.
    t_np = case.pred_nijbk.astype(np.float64)
    slot_of, owner = assign(case)
    best, _ = best_iou(case, t_np)
    xd, yd, wd, hd = decode_np(case, t_np)
    obj = np.zeros((N, H, W, B), dtype=bool)
    X_t, Y_t, W_t, H_t = (np.zeros((N, H, W, B)) for _ in range(4))
    cls_t = np.zeros((N, H, W, B), dtype=np.int64)
    iou_t = np.zeros((N, H, W, B))
    wh_t = np.zeros((N, H, W, B))   # normalised w*h of the truth (darknet coord scale)
    for (n, i, j, b), ti in owner.items():
        X, Y, Wg, Hg, cls = truth_grid(case, case.truths[n][ti])
        obj[n, i, j, b] = True
        X_t[n, i, j, b], Y_t[n, i, j, b], W_t[n, i, j, b], H_t[n, i, j, b] = X, Y, Wg, Hg
        cls_t[n, i, j, b] = cls
        s = (n, i, j, b)
        iou_t[s] = float(iou_np(xd[s], yd[s], wd[s], hd[s], X, Y, Wg, Hg))
        wh_t[s] = float(case.truths[n][ti][2]) * float(case.truths[n][ti][3])
    if case.mode == "spec":
        noobj = (~obj) & (best < case.thresh)
    else:
        noobj = (~obj) & (best <= case.thresh)
    n_obj, n_noobj = int(obj.sum()), int(noobj.sum())
    n_conf = n_obj + n_noobj
    n_truths = sum(len(ts) for ts in case.truths)

    O = torch.tensor(obj)
    NO = torch.tensor(noobj)
    jj = torch.arange(W, dtype=torch.float64).view(1, 1, W, 1).expand(N, H, W, B)
    ii = torch.arange(H, dtype=torch.float64).view(1, H, 1, 1).expand(N, H, W, B)
    aw = torch.tensor(case.anchors[:, 0].astype(np.float64)).view(1, 1, 1, B).expand(N, H, W, B)
    ah = torch.tensor(case.anchors[:, 1].astype(np.float64)).view(1, 1, 1, B).expand(N, H, W, B)
    Xc, Yc, Wc, Hc = (torch.tensor(a)[O] for a in (X_t, Y_t, W_t, H_t))
    IoUc = torch.tensor(iou_t)[O]
    cls_c = torch.tensor(cls_t)[O]
    lc, lp, lo, ln = case.lambdas

    if case.mode == "spec":
        xh = jj[O] + sx[O]
        yh = ii[O] + sy[O]
        wh = aw[O] * torch.exp(tw[O])
        hh = ah[O] * torch.exp(th[O])
        coord_sum = ((Xc - xh) ** 2 + (Yc - yh) ** 2 + (Wc - wh) ** 2 + (Hc - hh) ** 2).sum()
        logp = torch.log_softmax(logits[O], dim=-1)
        cls_sum = -logp.gather(1, cls_c.view(-1, 1)).sum()
        obj_sum = ((IoUc - sc[O]) ** 2).sum()
        noobj_sum = (sc[NO] ** 2).sum()
        warm_sum = torch.zeros(())
        if case.norm == "counts":
            d_obj, d_conf = n_obj, n_conf
        elif case.norm == "sum":
            d_obj = d_conf = 1
        else:
            d_obj = d_conf = N
        # A term whose divisor is 0 is 0 (its sum is empty then).
        coord = lc * coord_sum / d_obj if d_obj else torch.zeros(())
        cls = lp * cls_sum / d_obj if d_obj else torch.zeros(())
        objl = lo * obj_sum / d_conf if d_conf else torch.zeros(())
        noobjl = ln * noobj_sum / d_conf if d_conf else torch.zeros(())
        warm = warm_sum
    else:
        div = N if case.norm == "images" else 1
        scale = lc * (2.0 - torch.tensor(wh_t)[O])
        coord_sum = (scale / 2 * ((sx[O] - (Xc - jj[O])) ** 2 + (sy[O] - (Yc - ii[O])) ** 2
                                  + (tw[O] - torch.log(Wc / aw[O])) ** 2
                                  + (th[O] - torch.log(Hc / ah[O])) ** 2)).sum()
        if case.logistic:
            probs = torch.sigmoid(logits)
            onehot = torch.nn.functional.one_hot(cls_c, C).to(torch.float64)
            cls_sum = lp / 2 * ((probs[O] - onehot) ** 2).sum()
        else:
            probs = None
            logp = torch.log_softmax(logits[O], dim=-1)
            cls_sum = -lp * logp.gather(1, cls_c.view(-1, 1)).sum()
        target = IoUc if case.rescore else torch.ones_like(IoUc)
        obj_sum = lo / 2 * ((sc[O] - target) ** 2).sum()
        noobj_sum = ln / 2 * (sc[NO] ** 2).sum()
        if case.seen < case.warmup_seen:
            NR = ~O
            warm_sum = case.warmup_scale / 2 * ((sx[NR] - 0.5) ** 2 + (sy[NR] - 0.5) ** 2
                                                + tw[NR] ** 2 + th[NR] ** 2).sum()
        else:
            warm_sum = torch.zeros(())
        coord, cls, objl, noobjl, warm = (v / div for v in
                                          (coord_sum, cls_sum, obj_sum, noobj_sum, warm_sum))

    loss = coord + cls + objl + noobjl + warm
    grad = torch.autograd.grad(loss, [flat], retain_graph=True)[0].detach().numpy()
    dn_deltas = []
    if case.mode == "darknet":
        # darknet's l.delta is minus the gradient of *its* loss (no per-image
        # division: the cost is the number darknet prints for this batch)
        # w.r.t. its activated outputs; for softmax classes, w.r.t. the logits.
        cls_out = probs if case.logistic else logits
        undivided = coord_sum + cls_sum + obj_sum + noobj_sum + warm_sum
        dn_deltas = torch.autograd.grad(undivided, [sx, sy, tw, th, sc, cls_out],
                                        allow_unused=True)
    assert np.all(np.isfinite(grad))

    res = {
        "loss": loss.item(), "coord": float(coord), "cls": float(cls), "obj": float(objl),
        "noobj": float(noobjl),
        "warmup": float(warm),
        "n_obj": n_obj, "n_noobj": n_noobj, "n_conf": n_conf, "n_truths": n_truths,
    }

    # Diagnostics over L_obj slots (0 when there are none).
    with torch.no_grad():
        c_all = sc.numpy()
        if case.mode == "darknet" and case.logistic:
            p_all = torch.sigmoid(logits).numpy()
        else:
            p_all = torch.softmax(logits, dim=-1).numpy()
    sum_iou = float(iou_t[obj].sum())
    sum_obj = float(c_all[obj].sum())
    sum_noobj = float(c_all[noobj].sum())
    sum_cls = float(p_all[obj][np.arange(n_obj), cls_t[obj]].sum()) if n_obj else 0.0
    n_r50 = int((iou_t[obj] > 0.5).sum())
    n_r75 = int((iou_t[obj] > 0.75).sum())
    res.update({
        "avg_iou": sum_iou / n_obj if n_obj else 0.0,
        "recall50": n_r50 / n_obj if n_obj else 0.0,
        "recall75": n_r75 / n_obj if n_obj else 0.0,
        "avg_obj": sum_obj / n_obj if n_obj else 0.0,
        "avg_noobj": sum_noobj / n_noobj if n_noobj else 0.0,
        "avg_cls": sum_cls / n_obj if n_obj else 0.0,
        "sum_iou": sum_iou, "sum_obj": sum_obj, "sum_noobj": sum_noobj, "sum_cls": sum_cls,
        "n_recall50": n_r50, "n_recall75": n_r75,
    })

    # Darknet's training line: over every truth, replaced ones included.
    dn = dict.fromkeys(["avg_iou", "recall", "recall75", "avg_cls", "avg_obj",
                        "avg_anyobj", "cost"], 0.0)
    dn["count"] = 0
    if case.mode == "darknet":
        ious, objs, clss = [], [], []
        for n, ts in enumerate(case.truths):
            for ti, tr in enumerate(ts):
                i, j, b = slot_of[n][ti]
                s = (n, i, j, b)
                X, Y, Wg, Hg, c = truth_grid(case, tr)
                ious.append(float(iou_np(xd[s], yd[s], wd[s], hd[s], X, Y, Wg, Hg)))
                objs.append(float(c_all[s]))
                clss.append(float(p_all[s][c]))
        cnt = len(ious)
        if cnt:
            dn["avg_iou"] = sum(ious) / cnt
            dn["recall"] = sum(1 for v in ious if v > 0.5) / cnt
            dn["recall75"] = sum(1 for v in ious if v > 0.75) / cnt
            dn["avg_cls"] = sum(clss) / cnt
            dn["avg_obj"] = sum(objs) / cnt
        dn["avg_anyobj"] = float(c_all.sum()) / c_all.size
        dn["count"] = cnt
        cost = 0.0
        for g in dn_deltas:
            if g is not None:
                cost += float((g.detach() ** 2).sum())
        dn["cost"] = cost
    res["darknet"] = dn
    res["grad"] = grad
    return res


# ---- the cases -----------------------------------------------------------------

def border_truths(case, cxs, cys):
    r = case.rng
    out = []
    for cx in cxs:
        for cy in cys:
            out.append((f32(cx), f32(cy), f32(r.uniform(0.05, 0.6)), f32(r.uniform(0.05, 0.6)),
                        int(r.integers(0, case.C))))
    return out


def make_cases():
    cases = []

    def add(case, counts=None, truths=None):
        if truths is None:
            truths = [case.random_truths(c) for c in counts]
        case.truths = truths
        t = case.random_pred(len(truths))
        check_anchor_ties(case)
        condition(case, t)
        case.pred_nijbk = f32(t)
        case.pred = case.to_layout(case.pred_nijbk)
        cases.append(case)

    # --- spec mode --------------------------------------------------------
    add(Case("spec_01_1x1_b1_c1", 101, 1, 1, 1, 1), counts=[1])
    c = Case("spec_02_1x1_b3_c2_same_slot_nhwc", 102, 1, 1, 3, 2, layout="nhwc",
             anchors=[0.3, 0.4, 0.6, 0.5, 0.9, 0.95])
    # Both truths have the same shape, hence the same anchor: the second replaces the first.
    add(c, truths=[[(f32(0.3), f32(0.6), f32(0.5), f32(0.45), 1),
                    (f32(0.7), f32(0.2), f32(0.5), f32(0.45), 0)]])
    add(Case("spec_03_13x13_voc_c20", 103, 13, 13, 5, 20, anchors=YOLO_VOC_ANCHORS),
        counts=[9])
    add(Case("spec_04_19x19_b5_c3_60truths_nhwc", 104, 19, 19, 5, 3, layout="nhwc"),
        counts=[60])
    add(Case("spec_05_7x11_b9_c4_sum", 105, 7, 11, 9, 4, norm="sum"), counts=[6, 12])
    add(Case("spec_06_11x7_b2_c100_images_nhwc", 106, 11, 7, 2, 100, layout="nhwc",
             norm="images"), counts=[8])
    add(Case("spec_07_3x3_b4_c100", 107, 3, 3, 4, 100), counts=[7, 2])
    add(Case("spec_08_empty_image_between", 108, 6, 6, 3, 5), counts=[5, 0, 3])
    add(Case("spec_09_no_truths_at_all", 109, 5, 4, 2, 3), counts=[0, 0])
    c = Case("spec_10_borders_dyadic_4x4", 110, 4, 4, 3, 6)
    add(c, truths=[border_truths(c, [0.0, 0.25, 0.5, 1.0], [0.75, 1.0]),
                   border_truths(c, [0.75], [0.0, 0.5])])
    c = Case("spec_11_borders_19ths_11ths_nhwc", 111, 11, 19, 5, 4, layout="nhwc",
             anchors=YOLO_VOC_ANCHORS)
    # X = cx*W in double: float32(k/19)*19 is just below k for k = 3, 6, 7, 11
    # and 17 (cell k-1) although the float32 product rounds to k; likewise
    # float32(7/11)*11.  float32(1/19)*19 is just above 1.
    add(c, truths=[border_truths(c, [1 / 19, 3 / 19, 6 / 19, 7 / 19, 11 / 19, 17 / 19, 1.0],
                                 [7 / 11, 1.0])])
    c = Case("spec_12_two_on_one_slot_classes", 112, 5, 5, 2, 8,
             anchors=[1.0, 1.0, 3.0, 2.0])
    add(c, truths=[[(f32(0.41), f32(0.43), f32(0.2), f32(0.2), 3),
                    (f32(0.9), f32(0.1), f32(0.5), f32(0.3), 1),
                    (f32(0.5), f32(0.55), f32(0.22), f32(0.18), 6)],
                   [(f32(0.1), f32(0.1), f32(0.6), f32(0.4), 2),
                    (f32(0.15), f32(0.18), f32(0.58), f32(0.45), 2)]])
    add(Case("spec_13_lambdas_thresh03", 113, 8, 8, 4, 10, lambdas=(2.0, 0.5, 3.0, 0.25),
             thresh=0.3), counts=[10, 6])
    add(Case("spec_14_thresh0_no_noobj_nhwc", 114, 6, 5, 3, 3, layout="nhwc", thresh=0.0),
        counts=[4, 2])
    add(Case("spec_15_thresh1_all_noobj", 115, 5, 6, 3, 3, thresh=1.0), counts=[3, 5])
    c = Case("spec_16_duplicate_anchors_tie", 116, 6, 6, 4, 3,
             anchors=[2.0, 2.0, 2.0, 2.0, 1.0, 3.0, 1.0, 3.0])
    add(c, counts=[8, 8])
    add(Case("spec_17_lambda_class0_obj0", 117, 9, 9, 3, 5, lambdas=(1.5, 0.0, 0.0, 2.0)),
        counts=[6])
    add(Case("spec_18_2x19_b1_c7_sum", 118, 2, 19, 1, 7, norm="sum"), counts=[3, 0, 6, 2])
    add(Case("spec_19_19x1_b2_c2_images_nhwc", 119, 19, 1, 2, 2, layout="nhwc",
             norm="images"), counts=[4, 7])
    add(Case("spec_20_5x5_b9_c1_crowded", 120, 5, 5, 9, 1), counts=[40, 25])
    add(Case("spec_21_9x9_b3_c4_sum_5img", 121, 9, 9, 3, 4, norm="sum"),
        counts=[2, 0, 11, 1, 5])
    c = Case("spec_22_large_boxes_nhwc", 122, 7, 7, 5, 4, layout="nhwc",
             anchors=YOLO_VOC_ANCHORS)
    add(c, truths=[c.random_truths(6, 0.6, 1.0), c.random_truths(3, 0.7, 1.0)])
    c = Case("spec_23_tiny_boxes", 123, 10, 12, 3, 3, anchors=[0.2, 0.3, 0.5, 0.4, 1.0, 1.2])
    add(c, truths=[c.random_truths(12, 0.01, 0.05)])
    add(Case("spec_24_13x13_60truths_images_nhwc", 124, 13, 13, 3, 2, layout="nhwc",
             norm="images", lambdas=(0.7, 1.3, 4.0, 0.6), thresh=0.45), counts=[60, 1])
    add(Case("spec_25_16x9_b6_c5_counts", 125, 16, 9, 6, 5), counts=[20])

    # --- darknet mode -----------------------------------------------------
    add(Case("dn_01_voc_warmup_rescore", 201, 13, 13, 5, 20, anchors=YOLO_VOC_ANCHORS,
             mode="darknet", seen=64), counts=[6])
    add(Case("dn_02_voc_c4_no_warmup", 202, 13, 13, 5, 4, anchors=YOLO_VOC_ANCHORS,
             mode="darknet", seen=12800), counts=[5, 8])
    add(Case("dn_03_no_rescore_warmup", 203, 9, 9, 4, 6, mode="darknet", rescore=0,
             seen=1000), counts=[7, 2])
    add(Case("dn_04_logistic_no_warmup", 204, 8, 10, 3, 5, mode="darknet", logistic=1,
             seen=20000), counts=[6, 4])
    add(Case("dn_05_logistic_no_rescore_images", 205, 7, 7, 3, 4, mode="darknet",
             logistic=1, rescore=0, seen=10, norm="images"), counts=[3, 5, 2])
    add(Case("dn_06_images_with_empty", 206, 6, 6, 5, 3, anchors=YOLO_VOC_ANCHORS,
             mode="darknet", seen=4, norm="images"), counts=[4, 0, 6, 1])
    c = Case("dn_07_same_slot_scales_thresh0", 207, 5, 5, 2, 8, anchors=[1.0, 1.0, 3.0, 2.0],
             mode="darknet", lambdas=(1.5, 2.0, 3.0, 0.5), thresh=0.0, warmup_seen=100,
             warmup_scale=0.05, seen=50, wh_max=0.7)
    add(c, truths=[[(f32(0.41), f32(0.43), f32(0.2), f32(0.2), 3),
                    (f32(0.5), f32(0.55), f32(0.22), f32(0.18), 6),
                    (f32(0.9), f32(0.1), f32(0.5), f32(0.3), 1)],
                   [(f32(0.1), f32(0.1), f32(0.6), f32(0.4), 2),
                    (f32(0.15), f32(0.18), f32(0.58), f32(0.45), 5)]])
    add(Case("dn_08_nhwc_7x5_c2", 208, 7, 5, 3, 2, layout="nhwc", mode="darknet",
             seen=0), counts=[5, 3])
    add(Case("dn_09_thresh1_warmup_boundary", 209, 6, 7, 3, 3, mode="darknet", thresh=1.0,
             warmup_seen=500, seen=499), counts=[4, 3])
    c = Case("dn_10_borders_c1", 210, 12, 10, 3, 1, mode="darknet", seen=12799)
    # float32(0.7)*10 and float32(0.9)*10 are just below 7 and 9 in double;
    # float32(5/12)*12 and float32(10/12)*12 just below 5 and 10.
    add(c, truths=[border_truths(c, [0.0, 0.5, 0.7, 0.9, 1.0], [5 / 12, 10 / 12, 1.0])])
    add(Case("dn_11_19x19_40truths_logistic", 211, 19, 19, 2, 3, mode="darknet",
             logistic=1, seen=100000, lambdas=(1.0, 1.0, 5.0, 1.0), thresh=0.6), counts=[40])
    return cases


# ---- output -----------------------------------------------------------------

def g17(v):
    """Shortest decimal that reads back (strtod) as exactly this double."""
    s = repr(float(v))
    assert float(s) == float(v)
    return s


def f32s(v):
    """Shortest decimal that reads back (strtof) as exactly this float32."""
    s = np.format_float_positional(np.float32(v), unique=True, trim="-")
    if len(s) > 16:
        s = np.format_float_scientific(np.float32(v), unique=True, trim="-")
    assert np.float32(s) == np.float32(v), (s, v)
    return s


def write_case(case, res, path):
    N = len(case.truths)
    lines = ["regionloss-golden 1", f"name {case.name}", f"mode {case.mode}",
             f"layout {case.layout}", f"grid {case.H} {case.W} {case.B} {case.C}",
             "anchors " + " ".join(f32s(v) for v in case.anchors.reshape(-1)),
             "lambdas " + " ".join(g17(v) for v in case.lambdas),
             f"thresh {g17(case.thresh)}", f"norm {case.norm}",
             f"rescore {case.rescore}", f"logistic {case.logistic}",
             f"warmup_seen {case.warmup_seen}", f"warmup_scale {g17(case.warmup_scale)}",
             f"seen {case.seen}", f"n_images {N}"]
    offs = [0]
    for ts in case.truths:
        offs.append(offs[-1] + len(ts))
    lines.append("offsets " + " ".join(str(o) for o in offs))
    lines.append(f"truths {offs[-1]}")
    for ts in case.truths:
        for (cx, cy, w, h, cls) in ts:
            lines.append(f"{f32s(cx)} {f32s(cy)} {f32s(w)} {f32s(h)} {cls}")
    pred = case.pred
    lines.append(f"pred {pred.size}")
    for s in range(0, pred.size, 10):
        lines.append(" ".join(f32s(v) for v in pred[s:s + 10]))
    lines.append("parts " + " ".join(g17(res[k]) for k in
                                    ("loss", "coord", "cls", "obj", "noobj", "warmup")))
    lines.append("counts " + " ".join(str(res[k]) for k in
                                     ("n_obj", "n_noobj", "n_conf", "n_truths")))
    lines.append("diag " + " ".join(g17(res[k]) for k in
                                   ("avg_iou", "recall50", "recall75", "avg_obj",
                                    "avg_noobj", "avg_cls")))
    lines.append("sums " + " ".join(g17(res[k]) for k in
                                   ("sum_iou", "sum_obj", "sum_noobj", "sum_cls")) +
                 f" {res['n_recall50']} {res['n_recall75']}")
    dn = res["darknet"]
    lines.append("darknet " + " ".join(g17(dn[k]) for k in
                                      ("avg_iou", "recall", "recall75", "avg_cls",
                                       "avg_obj", "avg_anyobj", "cost")) + f" {dn['count']}")
    grad = res["grad"]
    nz = np.nonzero(grad)[0]
    lines.append(f"grad {grad.size} {nz.size}")
    for x in nz:
        lines.append(f"{x} {g17(grad[x])}")
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
        res = compute(case)
        path = os.path.join(args.out, case.name + ".txt")
        write_case(case, res, path)
        size = os.path.getsize(path)
        total += size
        print(f"{case.name}: loss {res['loss']:.6g} n_obj {res['n_obj']} "
              f"n_noobj {res['n_noobj']} entries {case.pred.size} ({size} bytes)")
    print(f"total {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
