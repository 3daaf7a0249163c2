#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz harnesses.

    python3 fuzz/make_seeds.py            # rewrites fuzz/corpus/<harness>/

The loss seeds follow the byte format of fuzz/loss_input.h: one seed per
mode and option, per edge case, and per kind of invalid input, so that a
campaign starts from every branch of the decoder and `meson test` replays
them all.  The .npy and label seeds are small valid and invalid files.
Output is deterministic; rerun it after changing the format.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# --- loss_fuzz ---------------------------------------------------------------

F_DARKNET, F_NHWC, F_ACCUM, F_RESCORE, F_LOGISTIC, F_GLOBAL, F_WS, F_THREADS = (
    1 << k for k in range(8))
NORM_COUNTS, NORM_SUM, NORM_IMAGES, NORM_INVALID = range(4)
LAMBDA_MAX = 1e6  # RL_LAMBDA_MAX in include/regionloss.h
ABOVE_LAMBDA_MAX = struct.unpack('<d', struct.pack('<q', struct.unpack('<q', struct.pack('<d', LAMBDA_MAX))[0] + 1))[0]


def size(v, bound):
    """The size code for a valid size 1..bound."""
    assert 1 <= v <= bound
    return v - 1


def anchor(v):
    """The anchor code for a multiple of 0.25 in [0.25, 12]."""
    s = int(round(v * 4)) - 1
    assert 0 <= s < 48 and (s + 1) / 4 == v
    return [s]


def nice_truth(bx, by, bw, bh, cls, snap_x=False, snap_y=False, cells=False):
    s = (2 if snap_x else 0) | (4 if snap_y else 0) | (8 if cells else 0)
    return [s, bx, by, bw, bh, cls]


def broken_truth(field, value_index):
    """A valid box with one field broken (see truth_code)."""
    return [0xE0 | field, value_index]


def raw_truth(cx, cy, w, h, cls):
    return [0xF0] + list(struct.pack('<ffffi', cx, cy, w, h, cls))


def loss_case(flags=0, norm=NORM_COUNTS, enum_break=0, null_sel=0, misc_sel=0, off_sel=0,
              ws_short=False, no_grad=False, misaligned=False, null_truths=False,
              H=4, W=5, B=2, C=3, N=1, lambdas=(0, 0, 0, 0, 0), thresh=0, seen=0, warm=0,
              gcounts=(2, 10, 1), anchors=None, images=None, kind=0, pred=b''):
    out = [flags & 0xFF,
           (norm & 3) | ((enum_break & 7) << 2) | ((null_sel & 7) << 5),
           (misc_sel & 7) | ((off_sel & 7) << 3) | (64 if ws_short else 0) |
           (128 if no_grad else 0),
           (1 if misaligned else 0) | (2 if null_truths else 0)]
    out += [H, W, B, C, N]  # already codes
    for code in lambdas:  # a code byte, or a raw double (0xF0 and 8 bytes)
        out += [0xF0] + list(struct.pack('<d', code)) if isinstance(code, float) else [code]
    out += [thresh, seen, warm] + list(gcounts)
    if anchors is None:
        anchors = anchor(1.0) + anchor(1.5) + anchor(3.0) + anchor(2.0)
    out += anchors
    for img in images or []:
        out.append(len(img))
        for t in img:
            out += t
    out.append(kind)
    return bytes(out) + bytes(pred)


# Byte 3, bits 2-5: pred_dtype (0 float32, 1 bfloat16, 2 binary16, 3
# invalid), bit 4 a float32 gradient, bit 5 an invalid gradient type.
DT_BF16, DT_F16, DT_INVALID, DT_GRAD_F32, DT_GRAD_BAD = 1 << 2, 2 << 2, 3 << 2, 1 << 4, 1 << 5
DTYPES = {'bf16': DT_BF16, 'f16': DT_F16, 'bf16-gradf32': DT_BF16 | DT_GRAD_F32,
          'f16-gradf32': DT_F16 | DT_GRAD_F32, 'bad': DT_INVALID,
          'f16-badgrad': DT_F16 | DT_GRAD_BAD}


def with_dtypes(seed, bits):
    """The same input with the element-type bits of byte 3 set."""
    b = bytearray(seed)
    b[3] |= bits
    return bytes(b)


def logits(values):
    """Prediction bytes for kind 0: each byte is value * 8 as int8."""
    return bytes(int(round(v * 8)) & 0xFF for v in values)


def grid(H, W):
    return size(H, 16), size(W, 16)


def loss_seeds():
    s = {}
    H, W = grid(4, 5)
    one = [[nice_truth(128, 100, 60, 90, 1)]]
    varied = bytes(range(0, 256, 7))  # logits from -16 to 16 in steps
    base = dict(H=H, W=W, B=size(2, 9), C=size(3, 64), N=size(1, 4), images=one,
                pred=varied)
    def add(name, **kw):
        d = dict(base)
        d.update(kw)
        s[name] = loss_case(**d)

    # modes and options
    add('spec_nchw_counts')
    add('spec_nhwc', flags=F_NHWC)
    add('spec_accumulate', flags=F_ACCUM)
    add('spec_sum', norm=NORM_SUM)
    add('spec_images', norm=NORM_IMAGES)
    add('spec_global_counts', flags=F_GLOBAL, gcounts=(3, 40, 2))
    add('spec_workspace', flags=F_WS)
    add('spec_workspace_misaligned', flags=F_WS, misaligned=True)
    add('spec_threads2', flags=F_THREADS, N=size(3, 4),
        images=[[nice_truth(10, 20, 30, 40, 0)], [], [nice_truth(200, 220, 100, 90, 2)]])
    add('spec_no_gradient', no_grad=True)
    add('darknet_sum_rescore', flags=F_DARKNET | F_RESCORE, norm=NORM_SUM)
    add('darknet_target1', flags=F_DARKNET, norm=NORM_SUM)
    add('darknet_images_logistic', flags=F_DARKNET | F_RESCORE | F_LOGISTIC, norm=NORM_IMAGES)
    add('darknet_after_warmup', flags=F_DARKNET | F_RESCORE, norm=NORM_SUM, seen=2)
    add('darknet_nhwc_accumulate', flags=F_DARKNET | F_NHWC | F_ACCUM | F_RESCORE,
        norm=NORM_SUM, seen=1)
    # AlexeyAB's [region] flavour (the seen byte's bits 3-7, loss_input.h)
    AB, CF_M1, CF_1, CF_2, FOCAL, BAD = 8, 1 << 4, 2 << 4, 3 << 4, 64, 128
    dk = dict(flags=F_DARKNET | F_RESCORE, norm=NORM_SUM)
    add('alexeyab', seen=AB, **dk)
    add('alexeyab_classfix_m1', seen=AB | CF_M1 | 2, **dk)
    add('alexeyab_classfix1_logistic', seen=AB | CF_1 | 2,
        flags=F_DARKNET | F_LOGISTIC, norm=NORM_IMAGES)
    add('alexeyab_classfix2_focal', seen=AB | CF_2 | FOCAL, thresh=7, **dk)  # thresh .1
    add('alexeyab_skips_class_past_c', seen=AB | CF_1, **dk,
        images=[[raw_truth(float('nan'), 0.5, 0.0, 1.0, 7), nice_truth(128, 100, 60, 90, 1),
                 raw_truth(0.5, 0.5, 0.5, 0.5, 3)]])
    add('alexeyab_negative_class', seen=AB, **dk, images=[[raw_truth(0.5, 0.5, 0.5, 0.5, -1)]])
    add('alexeyab_in_spec_mode', seen=AB)
    add('classfix_without_flavour', seen=CF_1, **dk)
    add('focal_with_logistic', seen=AB | FOCAL, flags=F_DARKNET | F_LOGISTIC, norm=NORM_SUM)
    add('bad_flavour', seen=BAD, warm=0, **dk)
    add('bad_classfix', seen=AB | BAD, warm=64, **dk)
    add('bad_focal_loss', seen=AB | BAD, warm=128, **dk)
    # shapes and edge cases
    add('grid_1x1', H=size(1, 16), W=size(1, 16), images=[[nice_truth(255, 255, 255, 255, 0)]])
    add('grid_16x16_b9_c64', H=size(16, 16), W=size(16, 16), B=size(9, 9), C=size(64, 64),
        anchors=sum((anchor(0.25 * (k + 1) * 4) for k in range(9)), []) * 2,
        images=[[nice_truth(k * 23, k * 17, 40, 60, k * 7, cells=True) for k in range(10)]])
    add('non_square_3x11', H=size(3, 16), W=size(11, 16))
    add('empty_image', images=[[]])
    add('empty_image_null_truths', images=[[]], null_truths=True)
    add('truth_on_right_border', images=[[nice_truth(255, 255, 60, 60, 0)]])
    add('truth_on_cell_borders', images=[[nice_truth(2, 3, 60, 60, 0, snap_x=True, snap_y=True),
                                          nice_truth(0, 0, 30, 30, 2, snap_x=True, snap_y=True)]])
    add('two_truths_one_slot', images=[[nice_truth(100, 100, 50, 50, 0),
                                        nice_truth(101, 99, 52, 49, 2)]])
    add('anchor_tie', anchors=anchor(2.0) + anchor(2.0) + anchor(2.0) + anchor(2.0))
    add('max_truths', N=size(4, 4),
        images=[[nice_truth(k * 25, 255 - k * 25, 30 + k, 60, k % 3) for k in range(10)]] * 4)
    add('pred_scaled_wide', kind=1, pred=bytes(range(0, 256, 3)))
    add('pred_special_finite', kind=2, pred=bytes(range(0, 0xFD)))
    add('pred_raw_bits', kind=3, pred=struct.pack('<8f', 0.5, -1.0, 2.0, 1e-3, 40.0, 1e20,
                                                  -1e20, 3.0))
    add('pred_huge_logits', kind=3, pred=struct.pack('<4f', 1e20, 1e20, 1e20, 1e20))
    add('pred_exp_overflow', kind=2, pred=bytes([8, 9, 10, 7]))  # 89, -89, 100, 88.7
    add('lambdas_zero', lambdas=(1, 1, 1, 1, 1))
    # RL_LAMBDA_MAX (the largest valid weight), DBL_MIN, RL_LAMBDA_MAX, a denormal
    add('lambdas_extreme', lambdas=(LAMBDA_MAX, 0xE6, LAMBDA_MAX, 0xE9, 0))
    add('darknet_warmup_scale_max', flags=F_DARKNET | F_RESCORE, norm=NORM_SUM,
        lambdas=(0, 0, 0, 0, LAMBDA_MAX))
    add('thresh_zero', thresh=2)
    add('thresh_one', thresh=3)
    # invalid inputs, one per rule
    add('bad_size_H0', H=0xF0)
    add('bad_size_C_negative', C=0xF1)
    add('bad_size_B_min', B=0xF5)
    add('big_size_plan_only', H=0xFF, W=0xFF)
    add('bad_n_images', N=0xF1)
    add('bad_anchor_zero', anchors=[0xE0] + anchor(1.0) * 3)
    add('bad_anchor_nan', anchors=anchor(1.0) + [0xE3] + anchor(1.0) * 2)
    add('bad_anchor_inf', anchors=anchor(1.0) * 3 + [0xE4])
    add('bad_lambda_negative', lambdas=(0xE0, 0, 0, 0, 0))
    add('bad_lambda_nan', lambdas=(0, 0, 0xE2, 0, 0))
    add('bad_lambda_inf', lambdas=(0, 0, 0, 0xE3, 0))
    add('bad_lambda_above_max', lambdas=(0, ABOVE_LAMBDA_MAX, 0, 0, 0))
    add('bad_lambda_dbl_max', lambdas=(0, 0, 0, 0xE5, 0))
    add('bad_size_C_above_max', C=0xFB)
    add('bad_warmup_scale', flags=F_DARKNET, norm=NORM_SUM, lambdas=(0, 0, 0, 0, 0xE0))
    add('bad_thresh_above', thresh=0xE6)
    add('bad_thresh_nan', thresh=0xE3)
    add('bad_norm', norm=NORM_INVALID)
    add('bad_darknet_counts', flags=F_DARKNET, norm=NORM_COUNTS)
    add('bad_layout', enum_break=5)
    add('bad_mode', enum_break=6)
    add('bad_grad_mode', enum_break=7)
    add('bad_rescore', flags=F_DARKNET | F_RESCORE, norm=NORM_SUM, misc_sel=6)
    add('bad_logistic', flags=F_DARKNET | F_LOGISTIC, norm=NORM_SUM, misc_sel=6)
    add('bad_threads', misc_sel=6)
    add('bad_seen', flags=F_DARKNET, norm=NORM_SUM, misc_sel=7)
    add('null_anchors', null_sel=5)
    add('null_pred', null_sel=6)
    add('null_result', null_sel=7)
    add('bad_offsets_start', off_sel=5)
    add('bad_offsets_decreasing', off_sel=6, N=size(2, 4),
        images=[[nice_truth(1, 2, 3, 4, 0)], []])
    add('bad_global_counts', flags=F_GLOBAL, off_sel=7)
    add('workspace_short', flags=F_WS, ws_short=True)
    for field, name in enumerate(['cx', 'cy', 'w', 'h']):
        add('bad_truth_%s_nan' % name, images=[[broken_truth(field, 0)]])
        add('bad_truth_%s_out' % name, images=[[broken_truth(field, 4)]])
    add('bad_truth_w_zero', images=[[broken_truth(2, 5)]])
    add('bad_truth_class_C', images=[[broken_truth(4, 0)]])
    add('bad_truth_class_negative', images=[[broken_truth(5, 0)]])
    add('bad_truth_raw_inf', images=[[raw_truth(0.5, float('inf'), 0.1, 0.1, 0)]])
    add('bad_pred_nan_box', kind=2, pred=bytes([0, 1, 0xFF]))
    add('bad_pred_inf_objectness', kind=3,
        pred=struct.pack('<5f', 0.0, 0.0, 0.0, 0.0, float('inf')))
    # element types (issue 17): float seeds again with byte 3's bits 2-5
    for name, suffix in [('darknet_after_warmup', 'bf16'), ('darknet_nhwc_accumulate', 'bf16'),
                         ('pred_special_finite', 'bf16'), ('darknet_images_logistic', 'f16'),
                         ('pred_exp_overflow', 'f16'), ('pred_huge_logits', 'f16'),
                         ('spec_accumulate', 'f16'), ('grid_16x16_b9_c64', 'bf16-gradf32'),
                         ('pred_raw_bits', 'bf16-gradf32'), ('spec_nhwc', 'f16-gradf32'),
                         ('spec_nchw_counts', 'bad'), ('spec_nhwc', 'f16-badgrad')]:
        s[name + '-' + suffix] = with_dtypes(s[name], DTYPES[suffix])
    return s


# --- loss_fuzz: the [yolo] head (fuzz/yolo_input.h) ---------------------------

(Y_SQUARE, Y_NHWC, Y_ACCUM, Y_NO_PER_HEAD, Y_NO_LAST_GRAD, Y_GLOBAL, Y_WS,
 Y_THREADS) = (1 << k for k in range(8))
YNORM_IMAGES, YNORM_SUM, YNORM_COUNTS, YNORM_INVALID = range(4)
Y_EVERY_VARIANT, Y_YOLO = 1 << 6, 1 << 7
COCO_ANCHORS = [10, 13, 16, 30, 33, 23, 30, 61, 62, 45, 59, 119, 116, 90, 156, 198, 373, 326]


def net(v):
    """The net size code for a multiple of 32 up to 640, or 416 / 608."""
    if v % 32 == 0 and 32 <= v <= 640:
        return [v // 32 - 1]
    return {416: [0xE5], 608: [0xE6]}[v]


def px_anchor(v):
    """An anchor in pixels: a code of 8 * (1 + s) pixels, else raw float bits."""
    if v % 8 == 0 and 8 <= v <= 384:
        return [v // 8 - 1]
    return [0xF0] + list(struct.pack('<f', v))


def px_anchors(values):
    return sum((px_anchor(v) for v in values), [])


def yolo_case(flags=0, norm=YNORM_IMAGES, enum_break=0, null_sel=0, misc_sel=0, off_sel=0,
              ws_short=False, no_grad=False, misaligned=False, null_truths=False, dtypes=0,
              n_heads=0, A=0, net_w=None, net_h=None, C=0, N=0, lambdas=(0, 0, 0, 0),
              ignore=0, truth=None, gcounts=(2, 10, 1), heads=None, anchors=None,
              images=None, kind=0, pred=b''):
    """One [yolo] input; sizes are codes (size() for valid ones), heads a list
    of (H, W, B, mask bytes) codes."""
    out = [flags & 0xFF,
           (norm & 3) | ((enum_break & 7) << 2) | ((null_sel & 7) << 5),
           (misc_sel & 7) | ((off_sel & 7) << 3) | (64 if ws_short else 0) |
           (128 if no_grad else 0),
           Y_YOLO | (1 if misaligned else 0) | (2 if null_truths else 0) | dtypes]
    out += [n_heads, A]
    out += net_w if net_w is not None else net(32)
    out += net_h if net_h is not None else net(32)
    out += [C, N]
    for code in lambdas:  # a code byte, or a raw double (0xF0 and 8 bytes)
        out += [0xF0] + list(struct.pack('<d', code)) if isinstance(code, float) else [code]
    out += [ignore]
    out += truth if truth is not None else [0]
    out += list(gcounts)
    for H, W, B, mask in heads or [(0, 0, 0, [0])]:
        out += [H, W, B] + list(mask)
    out += anchors if anchors is not None else px_anchors([8, 8])
    for img in images or []:
        out.append(len(img))
        for t in img:
            out += t
    out.append(kind)
    return bytes(out) + bytes(pred)


def yolo_seeds():
    s = {}
    varied = bytes(range(0, 256, 7))
    # One head of a darknet network: the whole COCO anchor list, mask 3,4,5,
    # norm sum; truths matched to this head and to others.
    dn_head = [(size(8, 8), size(8, 8), size(3, 4), [3, 4, 5])]
    dn = dict(n_heads=size(1, 3), A=size(9, 9), net_w=net(416), net_h=net(416),
              C=size(16, 16), N=size(1, 4), heads=dn_head, anchors=px_anchors(COCO_ANCHORS),
              ignore=5,  # 0.7
              images=[[nice_truth(120, 100, 30, 40, 3), nice_truth(40, 200, 200, 150, 7),
                       nice_truth(220, 30, 8, 12, 0)]],
              pred=varied)
    def add(name, base=dn, **kw):
        d = dict(base)
        d.update(kw)
        s['yolo_' + name] = yolo_case(**d)

    add('one_head_darknet_sum', norm=YNORM_SUM)
    add('one_head_images')
    # Three heads of a small COCO-like network: grids 2, 4, 8 (net 416 / 208,
    # 104, 52), 80 classes, masks 6-8, 3-5, 0-2, two images.
    coco_heads = [(size(2, 8), size(2, 8), size(3, 4), [6, 7, 8]),
                  (size(4, 8), size(4, 8), size(3, 4), [3, 4, 5]),
                  (size(8, 8), size(8, 8), size(3, 4), [0, 1, 2])]
    coco = dict(dn, n_heads=size(3, 3), C=0xF8, N=size(2, 4), heads=coco_heads,
                images=[[nice_truth(128, 128, 200, 180, 0), nice_truth(30, 60, 20, 30, 79),
                         nice_truth(200, 90, 60, 100, 41)],
                        [nice_truth(k * 40 + 5, 250 - k * 35, 10 + 30 * k, 15 + 25 * k, k * 11)
                         for k in range(7)]])
    add('three_heads_coco', base=coco)
    add('three_heads_coco_nhwc_accumulate', base=coco, flags=Y_NHWC | Y_ACCUM)
    add('three_heads_threads2_workspace', base=coco, flags=Y_THREADS | Y_WS, C=size(5, 16))
    add('three_heads_no_per_head', base=coco, flags=Y_NO_PER_HEAD, C=size(3, 16))
    add('three_heads_last_head_no_gradient', base=coco, flags=Y_NO_LAST_GRAD, C=size(3, 16))
    add('three_heads_no_gradient', base=coco, no_grad=True, C=size(3, 16))
    add('three_heads_every_variant', base=coco, dtypes=Y_EVERY_VARIANT, C=size(3, 16))
    # Several truths on one slot: a multi-label class target; the last one's box.
    add('multilabel_one_slot', images=[[nice_truth(100, 100, 50, 50, 0),
                                        nice_truth(101, 99, 52, 49, 2),
                                        nice_truth(100, 100, 50, 50, 9)]])
    # truth_thresh < 1: slots near a truth become positives of their best
    # truth (0.5 below, at and above ignore_thresh)
    add('truth_thresh_05', truth=[0xA0, 1], kind=1, pred=varied)
    add('truth_thresh_equal_ignore', truth=[0xA0, 5])
    add('truth_thresh_0', truth=[0xA0, 2], ignore=2)
    add('ignore_thresh_0', ignore=2)
    # IoU-family box losses (the truth_thresh byte's low bits): each kind on
    # the darknet head and the COCO network, with truth_thresh positives,
    # and the two codes that are no box loss.
    for code, kind in ((1, 'iou'), (2, 'giou'), (3, 'diou'), (4, 'ciou')):
        add('box_' + kind, truth=[code], pred=varied)
        add('box_%s_coco_nhwc' % kind, base=coco, flags=Y_NHWC, truth=[code], C=size(5, 16))
        add('box_%s_truth_thresh' % kind, truth=[0xA0 + code, 1], kind=1, pred=varied)
    add('box_ciou_half', truth=[4], dtypes=(1 << 2), pred=varied)
    add('box_giou_every_variant', base=coco, truth=[2], dtypes=Y_EVERY_VARIANT, C=size(3, 16))
    # Flavour alexeyab (the prediction mode byte's bits 2-7 = 0x2A, then its
    # option bytes): yolov4.cfg's and yolov7.cfg's sets, each option, and
    # each invalid value.
    def ab(kind=0, iou_loss=0, thresh_kind=0, sw=0, max_boxes=0xF0, iou_norm=0.75,
           cls_norm=0, obj_norm=0, scale=0, max_delta=0xEF, iou_thresh=3, eps=2,
           counters=()):
        def code(v):  # a code byte, or a raw double
            return [0xF0] + list(struct.pack('<d', v)) if isinstance(v, float) else [v]
        out = [0xA8 | kind, (thresh_kind << 4) | iou_loss, sw, max_boxes]
        for v in (iou_norm, cls_norm, obj_norm, scale, max_delta, iou_thresh, eps):
            out += code(v)
        return out + list(counters)
    def add_ab(name, base=dn, pred=varied, truth=None, **kw):
        d = dict(base, kind=0, pred=b'')
        if truth is not None:
            d['truth'] = truth
        case = yolo_case(**d)  # ends with the mode byte, replaced by ab()'s
        s['yolo_alexeyab_' + name] = case[:-1] + bytes(ab(**kw)) + bytes(pred)
    # max_delta 0xEF: lambda_code's special[15] = 1e150 (no clipping in effect)
    add_ab('yolov4', iou_loss=4, iou_norm=0.07, scale=1.05, max_delta=2, iou_thresh=0.213)
    add_ab('yolov7', base=coco, iou_loss=4, sw=2 | 4, iou_norm=0.05, cls_norm=3, scale=4,
           max_delta=4, iou_thresh=0.2)
    add_ab('yolov7_every_variant', base=dict(coco, dtypes=Y_EVERY_VARIANT, C=size(3, 16)),
           iou_loss=4, sw=2 | 4, iou_norm=0.05, cls_norm=3, scale=4, max_delta=4,
           iou_thresh=0.2)
    add_ab('mse_defaults')
    add_ab('mse_nhwc_accumulate_half', base=dict(coco, flags=Y_NHWC | Y_ACCUM, dtypes=1 << 2,
                                                 C=size(3, 16)))
    add_ab('giou_show_details_0_max_2', iou_loss=2, sw=8, max_boxes=1)
    add_ab('diou_iou_thresh_ciou', iou_loss=3, thresh_kind=3, iou_thresh=4)
    add_ab('iou_truth_thresh', iou_loss=1, truth=[0xA0, 1])
    add_ab('focal_eps_counters', sw=1 | 128, eps=7, cls_norm=3, max_delta=2,
           counters=[3, 0, 250, 7, 1, 90, 12, 5, 0, 4, 60, 2, 8, 9, 11, 6])
    add_ab('obj_normalizer_smooth', sw=4, obj_norm=4, iou_thresh=1)
    add_ab('bad_iou_loss_5', iou_loss=5)
    add_ab('bad_iou_thresh_kind_mse', thresh_kind=12)
    add_ab('bad_focal_loss_2', sw=16)
    add_ab('bad_lambda_kept', base=dict(dn, lambdas=(2, 0, 0, 0)), sw=32)
    add_ab('bad_box_loss_kept', truth=[2], sw=64)
    add_ab('bad_scale_x_y_0', scale=1)
    add_ab('bad_max_delta_negative', max_delta=0xE0)
    add_ab('bad_iou_thresh_2', iou_thresh=0xE6)
    add_ab('bad_max_boxes_0', max_boxes=0xF1)
    add_ab('bad_counter_negative', sw=128, counters=[3, 0xF0] + [1] * 14)
    add('bad_box_loss_5', truth=[5])
    add('bad_box_loss_negative', truth=[6])
    add('ignore_thresh_1', ignore=3)
    add('ignore_thresh_05_dense', ignore=1)
    # An anchor in two heads' masks (valid: distinct within each head), and
    # an exact tie of two anchors.
    add('anchor_in_two_heads', base=coco,
        heads=[coco_heads[0], (size(4, 8), size(4, 8), size(3, 4), [3, 4, 8]), coco_heads[2]])
    add('anchor_tie', anchors=px_anchors(COCO_ANCHORS[:8] + COCO_ANCHORS[6:8] +
                                         COCO_ANCHORS[10:]))
    add('global_images', flags=Y_GLOBAL, gcounts=(3, 40, 7))
    add('global_images_bad_n_conf_unread', flags=Y_GLOBAL, gcounts=(3, 40, 7), off_sel=7)
    add('empty_image_null_truths', images=[[]], null_truths=True)
    add('two_images_one_empty', N=size(2, 4), images=[[], [nice_truth(10, 20, 30, 40, 1)]])
    add('non_square_net_grid', net_w=net(320), net_h=net(160),
        heads=[(size(3, 8), size(7, 8), size(2, 4), [1, 8])])
    add('square_flag', flags=Y_SQUARE, net_h=[0xF7])
    add('sixteen_heads', n_heads=0xFC, C=size(2, 16),
        heads=[(size(1 + h % 3, 8), size(1 + h % 2, 8), size(1, 4), [h % 9])
               for h in range(16)])
    add('truth_on_cell_borders', images=[[nice_truth(2, 3, 60, 60, 0, snap_x=True, snap_y=True),
                                          nice_truth(8, 8, 30, 30, 2, snap_x=True, snap_y=True)]])
    add('pred_special_finite', kind=2, pred=bytes(range(0, 0xFD)))
    add('pred_raw_bits', kind=3, pred=struct.pack('<8f', 0.5, -1.0, 2.0, 1e-3, 40.0, 1e20,
                                                  -1e20, 3.0))
    add('lambdas_extreme', lambdas=(LAMBDA_MAX, 0xE6, LAMBDA_MAX, 0xE9))
    add('big_sizes_plan_only', heads=[(0xF8, 0xF9, size(3, 4), [3, 4, 5])])  # 17 x 32
    add('huge_sizes_product', heads=[(0xFF, 0xFE, size(3, 4), [3, 4, 5])])
    add('big_C_plan_only', C=0xFE)
    add('grid_anchor_overflow', net_w=[0xD0 | 0], net_h=[0xD0 | 0],
        anchors=px_anchors(COCO_ANCHORS[:6]) + [0xD6] * 2 + px_anchors(COCO_ANCHORS[8:]))
    # element types
    for suffix in ['bf16', 'f16', 'bf16-gradf32', 'f16-gradf32', 'bad', 'f16-badgrad']:
        add('one_head_' + suffix, dtypes=DTYPES[suffix])
        add('three_heads_' + suffix, base=coco, C=size(4, 16), dtypes=DTYPES[suffix])
    add('pred_huge_logits-f16', kind=3, pred=struct.pack('<4f', 1e20, 1e20, 1e20, 1e20),
        dtypes=DT_F16)
    # invalid inputs, one per rule
    add('bad_n_heads_0', n_heads=0xF0)
    add('bad_n_heads_negative', n_heads=0xF1)
    add('bad_n_heads_17', n_heads=0xF2)
    add('bad_n_anchors_0', A=0xF0)
    add('bad_n_anchors_negative', A=0xF1)
    add('bad_net_w_0', net_w=[0xF0])
    add('bad_net_h_negative', net_h=[0xF1])
    add('bad_net_raw_int_min', net_w=[0xF8] + list(struct.pack('<i', -2**31)))
    add('bad_C_0', C=0xF0)
    add('bad_C_above_max', C=0xFB)
    add('bad_head_H_0', heads=[(0xF0, size(8, 8), size(3, 4), [3, 4, 5])])
    add('bad_head_W_negative', heads=[(size(8, 8), 0xF1, size(3, 4), [3, 4, 5])])
    add('bad_head_B_0', heads=[(size(8, 8), size(8, 8), 0xF0, [])])
    add('bad_second_head_B_negative', base=coco,
        heads=[coco_heads[0], (size(4, 8), size(4, 8), 0xF1, []), coco_heads[2]])
    add('bad_mask_A', heads=[(size(8, 8), size(8, 8), size(3, 4), [3, 0xF0, 5])])
    add('bad_mask_negative', heads=[(size(8, 8), size(8, 8), size(3, 4), [3, 4, 0xF1])])
    add('bad_mask_int_min', heads=[(size(8, 8), size(8, 8), size(3, 4), [0xF2, 4, 5])])
    add('bad_mask_repeated', heads=[(size(8, 8), size(8, 8), size(3, 4), [3, 4, 3])])
    add('bad_mask_repeated_third_head', base=coco,
        heads=coco_heads[:2] + [(size(8, 8), size(8, 8), size(3, 4), [0, 1, 10])])
    add('bad_lambda_negative', lambdas=(0xE0, 0, 0, 0))
    add('bad_lambda_nan', lambdas=(0, 0xE2, 0, 0))
    add('bad_lambda_above_max', lambdas=(0, 0, ABOVE_LAMBDA_MAX, 0))
    add('bad_ignore_thresh_above', ignore=0xE6)
    add('bad_ignore_thresh_nan', ignore=0xE3)
    add('bad_truth_thresh_above', truth=[0xA0, 0xE6])
    add('bad_truth_thresh_negative', truth=[0xA0, 0xE1])
    add('bad_norm_counts', norm=YNORM_COUNTS)
    add('bad_norm_invalid', norm=YNORM_INVALID)
    add('bad_layout', enum_break=5)
    add('bad_grad_mode', enum_break=7)
    add('bad_threads', misc_sel=6)
    add('null_heads', enum_break=4)
    add('null_mask', enum_break=6)
    add('null_anchors', null_sel=5)
    add('null_preds', null_sel=4)
    add('null_preds_last_head', base=coco, null_sel=6, C=size(3, 16))
    add('null_total', null_sel=7)
    add('bad_anchor_zero', anchors=[0xE0] + px_anchors(COCO_ANCHORS[1:]))
    add('bad_anchor_nan', anchors=px_anchors(COCO_ANCHORS[:5]) + [0xE3] +
        px_anchors(COCO_ANCHORS[6:]))
    add('bad_anchor_inf_unused', anchors=px_anchors(COCO_ANCHORS[:17]) + [0xE4])
    add('bad_n_images', N=0xF1)
    add('bad_offsets_start', off_sel=5)
    add('bad_offsets_decreasing', off_sel=6, N=size(2, 4),
        images=[[nice_truth(1, 2, 3, 4, 0)], []])
    add('bad_global_n_images_0', flags=Y_GLOBAL, gcounts=(3, 40, 0xF0))
    add('global_n_images_0_sum', flags=Y_GLOBAL, gcounts=(3, 40, 0xF0), norm=YNORM_SUM)
    add('workspace_short', flags=Y_WS, ws_short=True)
    add('bad_truth_w_zero', images=[[broken_truth(2, 5)]])
    add('bad_truth_class_C', images=[[broken_truth(4, 0)]])
    add('bad_pred_nan_box', kind=2, pred=bytes([0, 1, 0xFF]))
    add('bad_pred_inf_objectness_third_head', base=coco, C=size(3, 16), kind=3,
        # heads 0 and 1 hold 2*2*3*8*2 + 4*4*3*8*2 entries; then tc (k = 4)
        # of head 2's first cell, NCHW: entry 4 * 64
        pred=struct.pack('<f', 0.5) * (192 + 768 + 4 * 64) + struct.pack('<f', float('inf')))
    # +inf (special code 0xFE) at class logit 0 of every anchor of cell 0,
    # zeros elsewhere: one NCHW anchor block (K * H * W = 21 * 64 entries)
    # cycled; read only if a truth's slot is there (allowed either way)
    inf_cls = bytearray(21 * 64)
    inf_cls[5 * 64] = 0xFE
    add('pred_inf_class_logits', kind=2, pred=bytes(inf_cls),
        images=[[nice_truth(5, 5, 30, 40, 3)], ])
    return s


# --- npy_fuzz ---------------------------------------------------------------

def npy(descr, shape, payload, version=1, fortran=False, pad_to=64):
    if len(shape) == 1:
        shape_txt = '(%d,)' % shape[0]  # Python's 1-tuple
    else:
        shape_txt = '(' + ', '.join(str(d) for d in shape) + ')'
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, 'True' if fortran else 'False', shape_txt)
    lenfmt = '<H' if version == 1 else '<I'
    pre = 6 + 2 + struct.calcsize(lenfmt)
    total = pre + len(header) + 1
    header += ' ' * ((-total) % pad_to) + '\n'
    return (b'\x93NUMPY' + bytes([version, 0]) + struct.pack(lenfmt, len(header)) +
            header.encode() + payload)


def npy_seeds():
    s = {}
    s['f4_vector'] = npy('<f4', [4], struct.pack('<4f', 1, -2.5, 3e38, -0.0))
    s['f4_matrix'] = npy('<f4', [2, 3], struct.pack('<6f', *range(6)))
    s['f4_scalar'] = npy('<f4', [], struct.pack('<f', 7.0))
    s['f4_empty'] = npy('<f4', [0, 5], b'')
    s['f4_rank5_tensor'] = npy('<f4', [1, 2, 1, 2, 2], struct.pack('<8f', *range(8)))
    s['f8_vector'] = npy('<f8', [3], struct.pack('<3d', 1e300, float('nan'), 1e-320))
    s['f4_version2'] = npy('<f4', [2], struct.pack('<2f', 1, 2), version=2)
    # float16 and bfloat16 bit patterns (issue 17): subnormal, inf, NaN
    s['f2_vector'] = npy('<f2', [5], struct.pack('<5H', 0x3c00, 0x0001, 0x7c00, 0xfe01, 0x8000))
    s['u2_bf16_matrix'] = npy('<u2', [2, 2], struct.pack('<4H', 0x3f80, 0x7fc1, 0xff80, 0x0001))
    s['bad_big_endian_f2'] = npy('>f2', [1], b'\0\0')
    s['bad_fortran'] = npy('<f4', [2], struct.pack('<2f', 1, 2), fortran=True)
    s['bad_big_endian'] = npy('>f4', [1], b'\0\0\0\0')
    s['bad_int_dtype'] = npy('<i4', [1], b'\0\0\0\0')
    s['bad_truncated'] = npy('<f4', [4], struct.pack('<3f', 1, 2, 3))
    s['bad_trailing'] = npy('<f4', [1], struct.pack('<2f', 1, 2))
    s['bad_huge_shape'] = npy('<f4', [1 << 40, 1 << 40], b'')
    s['bad_magic'] = b'\x93NUMPX\x01\x00' + b'\x00' * 8
    s['bad_header_len'] = b'\x93NUMPY\x01\x00\xff\xff{'
    return s


# --- labels_fuzz -------------------------------------------------------------

def labels_seeds():
    return {
        'one_box': b'0 1 0.5 0.5 0.25 0.25\n',
        'several_images': b'# image class cx cy w h\n0 0 0.1 0.2 0.3 0.4\n2 5 1 1 1 1\n'
                          b'0 3 0 0 0.01 0.01\n\n1 2 0.5 0.5 0.5 0.5   # comment\n',
        'crlf_tabs': b'0\t1\t0.5\t0.5\t0.1\t0.1\r\n1 0 0.25 0.75 1e-3 2.5e-1\r\n',
        'no_final_newline': b'3 4 0.5 0.5 0.5 0.5',
        'empty': b'',
        'comments_only': b'# nothing\n   \n#\n',
        'bad_five_fields': b'0 1 0.5 0.5 0.25\n',
        'bad_seven_fields': b'0 1 0.5 0.5 0.25 0.25 9\n',
        'bad_negative_image': b'-1 1 0.5 0.5 0.25 0.25\n',
        'bad_float_class': b'0 1.5 0.5 0.5 0.25 0.25\n',
        'bad_nan': b'0 1 nan 0.5 0.25 0.25\n',
        'bad_w_zero': b'0 1 0.5 0.5 0 0.25\n',
        'bad_cx_above_one': b'0 1 1.0000001 0.5 0.25 0.25\n',
        'bad_nul_byte': b'0 1 0.5\x00 0.5 0.25 0.25\n',
        'bad_overflow_int': b'99999999999999999999999 1 0.5 0.5 0.25 0.25\n',
        'bad_long_field': b'0 1 0.' + b'5' * 300 + b' 0.5 0.25 0.25\n',
    }


def write(harness, seeds):
    d = os.path.join(HERE, 'corpus', harness)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)
    print('%s: %d seeds in %s' % (harness, len(seeds), os.path.relpath(d)))


def main():
    seeds = loss_seeds()
    seeds.update(yolo_seeds())
    write('loss_fuzz', seeds)
    write('npy_fuzz', npy_seeds())
    write('labels_fuzz', labels_seeds())
    return 0


if __name__ == '__main__':
    sys.exit(main())
