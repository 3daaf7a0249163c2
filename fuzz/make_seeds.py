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
    write('loss_fuzz', loss_seeds())
    write('npy_fuzz', npy_seeds())
    write('labels_fuzz', labels_seeds())
    return 0


if __name__ == '__main__':
    sys.exit(main())
