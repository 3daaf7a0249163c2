"""The [yolo] head's loss as a PyTorch user writes it: vectorised tensor
code, float32, autograd for the gradient.  It is the baseline that
bench/torch_vs_yolo.py times against the library's rl_yolo_compute, and
it follows docs/loss.md's [yolo] head (darknet's YOLOv3 layer, BCE on x, y,
objectness and independent class logistics, squared error on w, h in log
space, box scale 2 - w*h, norm "images" or "sum") so that both compute the
same loss: the comparison prints how closely they agree.

Structured the way PyTorch YOLOv3 trainers do it (a loop over the heads;
in each, decode every slot, IoU of every prediction against every padded
truth of its image by broadcasting, the responsible slots from each
truth's best anchor over the whole list, the positives' entries gathered
by advanced indexing, the terms summed over masks), but written from
docs/loss.md, not copied from any of them.  Where several truths land on one
slot the box target is the last one's and the class targets their union
(docs/loss.md, "Positives"); the last is found by sorting, since index_put with
repeated indices leaves the winner unspecified."""
import torch
import torch.nn.functional as F


class TorchYoloLoss(torch.nn.Module):
    def __init__(self, anchors, masks, num_classes, net_size, lambda_coord=1.0,
                 lambda_class=1.0, lambda_obj=1.0, lambda_noobj=1.0, ignore_thresh=0.7,
                 truth_thresh=1.0, norm="images"):
        """anchors: the network's (w, h) list in pixels; masks: per head, the
        indices of its anchors in that list; net_size: (net_w, net_h)."""
        super().__init__()
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32).view(-1, 2))
        self.masks = [list(m) for m in masks]
        self.C = num_classes
        self.net_w, self.net_h = net_size
        self.lc, self.lp, self.lo, self.ln = lambda_coord, lambda_class, lambda_obj, lambda_noobj
        self.ignore_thresh, self.truth_thresh = ignore_thresh, truth_thresh
        if norm not in ("images", "sum"):
            raise ValueError("norm is 'images' or 'sum'")
        self.norm = norm
        self.last = None  # the parts of the last loss (detached), for comparisons

    def forward(self, outputs, targets):
        """outputs: one (N, B*(5+C), H, W) tensor per head; targets (M, 6):
        image, class, cx, cy, w, h (centre and size normalised to the image)."""
        N = outputs[0].shape[0]
        C = self.C
        A = self.anchors
        with torch.no_grad():
            img = targets[:, 0].long()
            cls = targets[:, 1].long()
            cx, cy, w, h = targets[:, 2], targets[:, 3], targets[:, 4], targets[:, 5]
            M = len(img)
            # Positives: each truth's anchor over the whole list, by shape IoU
            # in pixels (argmax: the first of equal maxima)
            tw_px, th_px = w * self.net_w, h * self.net_h
            inter = torch.min(tw_px[:, None], A[None, :, 0]) * \
                torch.min(th_px[:, None], A[None, :, 1])
            shape_iou = inter / (tw_px[:, None] * th_px[:, None] +
                                 (A[:, 0] * A[:, 1])[None] - inter)
            best_a = shape_iou.argmax(1) if M else torch.zeros(0, dtype=torch.long)
            # truths padded per image (input order kept), for every slot's best IoU
            counts = torch.bincount(img, minlength=N)
            T = max(int(counts.max()) if M else 0, 1)
            order = torch.argsort(img, stable=True)
            first = torch.cumsum(counts, 0) - counts
            pos = torch.arange(M) - first[img[order]]
            boxes = torch.zeros(N, T, 4)
            valid = torch.zeros(N, T, dtype=torch.bool)
            gidx = torch.zeros(N, T, dtype=torch.long)   # padded -> input index
            boxes[img[order], pos] = torch.stack([cx, cy, w, h], 1)[order]
            valid[img[order], pos] = True
            gidx[img[order], pos] = order

        parts = torch.zeros(4)  # coord, cls, obj, noobj
        n_obj = n_noobj = 0
        loss = 0.0  # every head adds a (possibly empty) noobj sum: a tensor after the loop
        for out, mask in zip(outputs, self.masks):
            _, _, H, W = out.shape
            B = len(mask)
            t = out.view(N, B, 5 + C, H, W)
            aw = A[mask, 0]
            ah = A[mask, 1]
            with torch.no_grad():
                # Decoding, in image units: every slot
                gx = torch.arange(W, dtype=out.dtype).view(1, 1, 1, W)
                gy = torch.arange(H, dtype=out.dtype).view(1, 1, H, 1)
                px = (gx + torch.sigmoid(t[:, :, 0])) / W
                py = (gy + torch.sigmoid(t[:, :, 1])) / H
                pw = torch.exp(t[:, :, 2]) * aw.view(1, B, 1, 1) / self.net_w
                ph = torch.exp(t[:, :, 3]) * ah.view(1, B, 1, 1) / self.net_h
                pb = torch.stack([px, py, pw, ph], -1).view(N, -1, 1, 4)   # N, BHW, 1, 4
                iou = box_iou(pb, boxes.view(N, 1, T, 4))                   # N, BHW, T
                iou = torch.where(valid.view(N, 1, T), iou, torch.zeros(()))
                best, best_t = iou.max(-1)                                  # first of equal
                best = best.view(-1)                                        # slot ((n*B+b)*H+i)*W+j

                # Positives: the truths whose best anchor is one of this head's
                in_head = best_a[:, None] == torch.tensor(mask)[None, :]    # M, B
                sel = in_head.any(1).nonzero().squeeze(1)
                b_sel = in_head[sel].float().argmax(1)
                j_sel = torch.clamp((cx[sel] * W).floor().long(), max=W - 1)
                i_sel = torch.clamp((cy[sel] * H).floor().long(), max=H - 1)
                key = ((img[sel] * B + b_sel) * H + i_sel) * W + j_sel
                # score: a matched truth beats a truth_thresh one, a later one an earlier one
                pair_slot, pair_truth, pair_score = key, sel, sel + M
                if self.truth_thresh < 1.0:                                 # truth_thresh
                    tt = (best > self.truth_thresh).nonzero().squeeze(1)
                    tt_truth = gidx[tt // (B * H * W), best_t.view(-1)[tt]]
                    pair_slot = torch.cat([pair_slot, tt])
                    pair_truth = torch.cat([pair_truth, tt_truth])
                    pair_score = torch.cat([pair_score, tt_truth])
                # the positives: pairs sorted by slot, then score; each slot's last wins
                srt = torch.argsort(pair_slot * (2 * M + 1) + pair_score)
                slots, n_pairs = torch.unique_consecutive(pair_slot[srt], return_counts=True)
                P = len(slots)
                win = pair_score[srt][torch.cumsum(n_pairs, 0) - 1]
                pidx = torch.empty_like(srt)
                pidx[srt] = torch.repeat_interleave(torch.arange(P), n_pairs)
                tb = torch.where(win >= M, win - M, win)                    # box target's truth
                y = torch.zeros(P, C)
                y[pidx, cls[pair_truth]] = 1.0                              # union of classes
                neg = best <= self.ignore_thresh
                neg[slots] = False
                j_p = slots % W
                i_p = (slots // W) % H
                b_p = (slots // (W * H)) % B
                n_p = slots // (W * H * B)
                X = cx[tb] * W - j_p
                Y = cy[tb] * H - i_p
                TW = torch.log(w[tb] * self.net_w / aw[b_p])
                TH = torch.log(h[tb] * self.net_h / ah[b_p])
                k = 2 - w[tb] * h[tb]

            # The loss: the positives' entries gathered; the negatives' objectness
            tp = t[n_p, b_p, :, i_p, j_p]                                   # P, 5+C
            box = F.binary_cross_entropy_with_logits(tp[:, 0], X, reduction="none") + \
                F.binary_cross_entropy_with_logits(tp[:, 1], Y, reduction="none") + \
                0.5 * (TW - tp[:, 2]) ** 2 + 0.5 * (TH - tp[:, 3]) ** 2
            coord = (k * box).sum()
            obj = F.softplus(-tp[:, 4]).sum()
            cls_loss = F.binary_cross_entropy_with_logits(tp[:, 5:], y, reduction="sum")
            noobj = F.softplus(t[:, :, 4].reshape(-1)[neg]).sum()
            loss = loss + self.lc * coord + self.lp * cls_loss + self.lo * obj + self.ln * noobj
            parts = parts + torch.stack([coord, cls_loss, obj, noobj]).detach()
            n_obj += P
            n_noobj += int(neg.sum())
        D = N if self.norm == "images" else 1
        lam = torch.tensor([self.lc, self.lp, self.lo, self.ln])
        self.last = {"parts": parts * lam / D, "n_obj": n_obj, "n_noobj": n_noobj}
        return loss / D


def box_iou(a, b):
    """IoU of centre/size boxes (..., 4), broadcasting; 0 where the union
    is not positive or not finite (docs/loss.md, "Decoding, in grid cells":
    a predicted box of zero, infinite or undefined area has IoU 0)."""
    ox = torch.min(a[..., 0] + a[..., 2] / 2, b[..., 0] + b[..., 2] / 2) - \
        torch.max(a[..., 0] - a[..., 2] / 2, b[..., 0] - b[..., 2] / 2)
    oy = torch.min(a[..., 1] + a[..., 3] / 2, b[..., 1] + b[..., 3] / 2) - \
        torch.max(a[..., 1] - a[..., 3] / 2, b[..., 1] - b[..., 3] / 2)
    inter = ox.clamp(min=0) * oy.clamp(min=0)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    ok = (union > 0) & torch.isfinite(union)
    return torch.where(ok, inter / union, torch.zeros(()))
