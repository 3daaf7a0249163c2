#!/usr/bin/python3
"""Mutation testing for regionloss (issue 16, part 3).

Makes one small fault at a time in the reference (src/scalar/reference.c)
and in the decision and normalisation code of the driver (src/driver.c),
rebuilds, runs the test suites that should notice it, and reports each
mutant as killed, survived, timed out or build-failed (build failures are
left out of the score).

The working tree is never modified: the tool keeps a shadow copy of the
project (tracked and untracked, non-ignored files) in BUILD_ROOT/src, with
its own meson build in BUILD_ROOT/build, and mutates the copy.  The copy's
file is restored after every mutant (in a `finally`, on Ctrl-C and on
SIGTERM too), and every start re-syncs the copy from the working tree, so
even a SIGKILL leaves nothing behind that the next run does not undo.

    /usr/bin/python3 tools/mutate.py --list            # the mutants, no build
    /usr/bin/python3 tools/mutate.py --jobs 2          # the full run
    /usr/bin/python3 tools/mutate.py --sample 40 --seed 7   # a random subset
    /usr/bin/python3 tools/mutate.py --only ref:plan_image:  # by key prefix
    /usr/bin/python3 tools/mutate.py --self-test       # seconds; run by meson test

Targets are chosen by function name (fnmatch patterns), never by line
number, so the tool follows the code as it changes.  Mutant keys are
derived from the file, function, operator and the text of the mutated
line, not from line numbers, so the table of equivalent mutants below stays
valid when code moves.  Python 3 standard library only.
"""

import argparse
import fnmatch
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

# ---------------------------------------------------------------------------
# What is mutated, and which tests must notice.
#
# file        the source file, relative to the project root
# tag         short name used in mutant keys
# functions   fnmatch patterns of the functions whose bodies are mutated
#             (the signature is never touched); a pattern that matches
#             nothing is reported by --list and fails --self-test
# tests       stages of `meson test` test names (from `meson test --list`):
#             each stage is built and run, fail-fast, only when the stages
#             before it passed, so a mutant the quick tests kill costs only
#             their relinking and running
# skip_lines  regexes: a mutation site on a line matching one is skipped
#             (memory management and error messages: not decisions)
# ---------------------------------------------------------------------------
REFERENCE_TESTS = [
    # stage 1: hand-checked goldens, finite differences, darknet's l.delta
    ['goldens', 'reference/finite_diff_spec', 'reference/finite_diff_darknet',
     'darknet/delta_equivalence', 'reference/hand_one_truth'],
    # stage 2: every other reference suite
    ['reference/' + t for t in (
        'hand_empty_image', 'hand_cell_borders', 'hand_assignment', 'hand_thresh_equal',
        'finite_inputs', 'prop_layout', 'prop_lambda', 'prop_batch_sum', 'prop_truth_order',
        'prop_exact_prediction', 'prop_grad_modes', 'prop_determinism', 'prop_counts_shards',
        'darknet_truths', 'prop_forced', 'prop_ref_outputs')] + ['darknet/hand_terms', 'edges'],
]

DRIVER_TESTS = [
    # stage 1: seconds; every variant in darknet mode, huge C, dispatch, and
    # the sparse mask path's boundary (strict decisions on both paths)
    ['darknet/hand_terms', 'darknet/delta_equivalence', 'edges', 'large-classes', 'dispatch',
     'sparse-boundary'],
    # stage 2: every variant against the reference on 3000 random cases
    ['thin-boxes', 'differential', 'perf/threads'],
]

YOLO_AB_REFERENCE_TESTS = [
    # stage 1: the hand-derived deltas and costs of AlexeyAB's layer
    ['darknet/yolo_ab_hand_terms'],
    # stage 2: the Python options and the invariances on random networks;
    # the optimised driver's own implementation on random networks
    ['python/yolo_alexeyab', 'yolo-ab-invariants', 'yolo-differential'],
]
DRIVER_AB_TESTS = [
    # stage 1: the hand-derived deltas and costs, on every variant
    ['darknet/yolo_ab_hand_terms'],
    # stage 2: every variant against the reference on random networks (a
    # quarter of them of flavour alexeyab)
    ['yolo-differential'],
]
YOLO_REFERENCE_TESTS = [
    # stage 1: the autograd goldens, the hand-derived cases, the bad inputs
    ['yolo_goldens', 'reference/yolo_hand_terms', 'reference/yolo_bad_input',
     'reference/yolo_finite_inputs'],
    # stage 2: finite differences (about 20 s)
    ['reference/finite_diff_yolo'],
]

MEMORY_LINES = [r'\b(malloc|calloc|free|memset|memcpy|scratch_free|state_free)\s*\(',
                r'rl_fail\(',
                r'sizeof']

TARGETS = [
    {
        'file': 'src/scalar/reference.c',
        'tag': 'ref',
        'functions': [
            'sigmoid', 'sigmoid_slope',      # docs/loss.md: decoding
            'box_iou', 'shape_iou',          # IoU; shape IoU
            'truth_in_grid',                 # responsible slot: cell, anchor
            'decode',                        # decoding
            'slot_of',
            'plan_image', 'plan_batch',      # masks and counts
            'weight', 'weighted',            # spec mode: k = lambda / N
            'class_lse', 'log_prob', 'class_term',  # softmax / logistic classes
            'spec_slot',                     # spec mode: terms, gradient
            'darknet_slot', 'darknet_truth_stats',  # docs/darknet.md
            'rl_reference_compute_forced',   # divisors, totals, diagnostics
        ],
        'tests': REFERENCE_TESTS,
        'skip_lines': MEMORY_LINES,
    },
    {
        'file': 'src/driver.c',
        'tag': 'drv',
        'functions': [
            'assign',                # cell and anchor, in double
            'assign_image',          # responsible slots, truths' float edges
            'rl_call_phase1',        # mask arguments (thresh), class-logit check
            'rl_call_init', 'rl_call_assign', 'rl_call_counts', 'rl_call_set_weights',
            'iou_d',                 # IoU of the responsible slots, in double
            'mul0', 'weight',        # k = lambda / N, zero weights
            'logistic_classes',      # darknet softmax=0 classes
            'rl_call_phase2',        # per-object terms, darknet statistics
            'rl_driver_run',         # counts, divisors, totals, diagnostics
            # issue 14's sparse mask path and streaming pass: which rows a
            # truth reaches, the bands, their truths, spans or whole rows
            # (not by_spans: it only picks between two ways of deciding a band,
            # whole rows or each row's reached columns, whose decisions and
            # sums are the same; a fault there changes the speed)
            '*sparse*', '*stream*', 'clamp_cell', 'reach_axis', 'gather_truths',
            'row_columns', 'cells_run', 'mask_cells', 'mask_rows',
        ],
        'tests': DRIVER_TESTS,
        'skip_lines': MEMORY_LINES,
    },
    {
        'file': 'src/scalar/yolo_reference.c',
        'tag': 'yref',
        'functions': [
            'sigmoid', 'softplus', 'bce_logit', 'bce_slope', 'weighted',  # BCE
            'box_iou', 'best_anchor', 'decode',      # IoU, anchor match, decoding
            'slot_index', 'assign_image',            # the decisions
            'check_positive_logits',                 # truth_thresh positives' logits
            'has_class', 'slot_terms',               # multi-label targets, terms
            'darknet_stats', 'head_compute', 'rl_yolo_reference_total',  # the contract's fields
            'rl_yolo_reference_divisor',             # D
            'rl_yolo_reference_compute',             # the passes
        ],
        'tests': YOLO_REFERENCE_TESTS,
        'skip_lines': MEMORY_LINES,
    },
    {
        'file': 'src/scalar/yolo_reference_ab.c',
        'tag': 'yrefab',
        'functions': [
            'inter', 'uni', 'iou_ab', 'enclosing', 'giou_ab', 'shape_iou_kind',
            'dx_iou',                                 # darknet's box.c, in double
            'out', 'decode', 'box_delta', 'class_mult', 'smoothed', 'class_delta',
            'seen_truths', 'pass1_slot', 'positive', 'mask_index', 'pass2_image',
            'head_result', 'positive_diagnostics',
        ],
        'tests': YOLO_AB_REFERENCE_TESTS,
        'skip_lines': MEMORY_LINES,
    },
    {
        'file': 'src/driver_yolo_ab.c',
        'tag': 'drvab',
        'functions': [
            'act', 'act_of', 'load5', 'decoded', 'decoded_of',
            'overlap', 'isect', 'iou', 'hull', 'giou', 'aspect_term',
            'shape_kind', 'axis_d', 'iou_slope',      # darknet's box.c, in double
            'read_end', 'truth_cell', 'truth_step', 'find_rec', 'rl_yolo_ab_mark',
            'pass1', 'pass1_of', 'pass1_obj', 'add_negative', 'check_classes', 'rl_yolo_ab_phase1',
            'mult', 'target', 'class_deltas', 'box_deltas', 'pass1_deltas', 'average',
            'finish_positive', 'pass2_positive', 'rl_yolo_ab_objects', 'rl_yolo_ab_reduce',
        ],
        'tests': DRIVER_AB_TESTS,
        'skip_lines': MEMORY_LINES,
    },
]

# Mutants that cannot change any result, by key, with the reason.  A key
# listed here is not run (unless --run-equivalent) and is reported as
# equivalent; keep the reasoning here and in docs/testing.md.
EQUIVALENT = {
    # driver_yolo_ab.c isect: `ox < 0` or `oy < 0` -> `<=`: an overlap of
    # exactly 0 then returns 0 instead of 0 * (the other overlap, finite): 0
    # either way.
    'drvab:isect:rel:854c32': 'overlap exactly 0: the intersection is 0 either way',
    'drvab:isect:rel:697f53': 'overlap exactly 0: the intersection is 0 either way',
    # act_of's w and h branch: it is never called for entries 2 and 3
    # (decoded_of reads them raw), so moving the branch's bounds is not seen.
    'drvab:act_of:const:f6189b': 'act_of never gets k = 2: decoded_of reads w raw',
    'drvab:act_of:rel:1d7488': 'k = 2 returns before the scale_x_y test',
    'drvab:act_of:const:615467': 'k = 2 returns before the scale_x_y test',
    # load5 reading a sixth entry (k <= 5, k < 6) writes one double past its
    # array: undefined behaviour the sanitizer stage sees, no result changes.
    'drvab:load5:rel:a5f833': 'writes t[5]: UB, no result',
    'drvab:load5:const:049c57': 'writes t[5]: UB, no result',
    # yolo_reference_ab.c (flavour alexeyab)
    'yrefab:inter:rel:3c2243': 'an overlap of exactly 0 gives a 0 intersection either way',
    'yrefab:dx_iou:index:5ddfa6': 'the corner swap of an inverted box: w and h are never < 0',
    'yrefab:class_delta:arith:d0fe49': "focal's 1e-15 next to an output in (0, 1]: below rounding",
    'yrefab:class_delta:drop:52ca99': "focal's 1e-15 next to an output in (0, 1]: below rounding",
    'yrefab:pass1_slot:const:ba1c23': 'match = 2 for "a class above 0.25": only its truth is used',
    'yrefab:mask_index:const:04b0cb': 'returns -2 for "not in this head": only >= 0 is used',
    'yrefab:head_result:const:9c657f': 'the count of 0 replaced by 1.25: the IoU sum is 0 then',
    # box_iou: `!(area_a > 0.0)` -> `>= 0.0` lets an area of exactly 0 through;
    # then one side's overlap is <= its width 0 (or the product underflowed,
    # and inter <= area rounds to 0 too), so inter = 0 and IoU = 0 either way.
    'ref:box_iou:rel:6ac785': 'area 0 passes the guard but gives inter = 0, IoU 0',
    'ref:box_iou:rel:07bedc': 'the same for area_b (a truth or an anchor: never 0 anyway)',
    # box_iou: uni = area_a + area_b - inter with both areas > 0 and inter at
    # most min(area) times (1 + a few ulps) is never 0: the guard for uni
    # (its comparison and its return value) is unreachable.
    'ref:box_iou:rel:d31ee3': 'uni > 0 always holds once both areas are > 0',
    'ref:box_iou:const:7ca847': 'unreachable: uni > 0 always holds once both areas are > 0',
    # truth_in_grid: `fi > H - 1 ? H - 1 : fi` -> `fi > H - 2 ? H - 1 : fi`:
    # fi is an integer; they differ only at fi = H - 1, where both give H - 1.
    'ref:truth_in_grid:const:251109': 'clamp test H-2: differs only at fi = H-1, both give H-1',
    'ref:truth_in_grid:const:5b6dda': 'clamp test W-2: differs only at fj = W-1, both give W-1',
    'ref:truth_in_grid:rel:76449f': 'clamp test fj >= W-1: differs only at fj = W-1, both give W-1',
    'ref:truth_in_grid:rel:3cebd9': 'clamp test fi >= H-1: differs only at fi = H-1, both give H-1',
    # truth_in_grid: the anchor search starts at best = -1; every shape IoU
    # is >= 0 > -1.25 as well, so anchor 0 still sets it first.
    'ref:truth_in_grid:const:0923a2': 'initial best -1.25: any IoU (>= 0) beats it as -1 does',
    # plan_image: the running maximum with >= instead of >: a tie replaces
    # best by an equal value.
    'ref:plan_image:rel:2f13ef': 'max with >=: a tie stores the same value',
    # spec_slot: `double p_true = 0.0;` is overwritten by class_term, which
    # stores *p_true on every path, before it is read.
    'ref:spec_slot:const:5db08c': 'p_true initialiser: class_term always overwrites it',
    'ref:darknet_slot:const:f6fa9a': 'p_true initialiser: class_term always overwrites it',
    # darknet_slot: with logistic classes the lse placeholder {0.0, 0.0} is
    # never read (o = sigmoid(t_c) on that path).
    'ref:darknet_slot:const:990e77': 'unused lse placeholder of the logistic path',
    'ref:darknet_slot:const:2146fd': 'unused lse placeholder of the logistic path',
    # rl_reference_compute_forced: `if (count > 0)` -> `> 1` before dividing
    # the darknet averages by count: the only count it skips is 1, and x/1 = x.
    'ref:rl_reference_compute_forced:const:157f6c': 'skips dividing by a count of 1: x / 1 = x',
    # driver.c: the same arguments as for the reference's twins.
    'drv:assign:rel:15835a': 'clamp test fj >= W-1: differs only at fj = W-1, both give W-1',
    'drv:assign:const:2b5b43': 'clamp test W-2: differs only at fj = W-1, both give W-1',
    'drv:assign:rel:e172d7': 'clamp test fi >= H-1: differs only at fi = H-1, both give H-1',
    'drv:assign:const:0d0c3a': 'clamp test H-2: differs only at fi = H-1, both give H-1',
    'drv:assign:const:896072': 'initial best -1.25: any IoU (>= 0) beats it as -1 does',
    'drv:iou_d:rel:b5cd12': 'area 0 passes the guard but gives inter = 0, IoU 0',
    'drv:iou_d:rel:64d06d': 'the same for the truth\'s area (never 0 anyway)',
    # iou_d: the overlap is at most the truth's size (<= W x H cells), so
    # inter is finite and u = ap + at - inter >= ap > 0: the `: 0.0` branch
    # of `u > 0 ? inter / u : 0.0` is unreachable.
    'drv:iou_d:rel:312d10': 'u > 0 always holds once both areas are > 0',
    'drv:iou_d:const:ac3c2c': 'unreachable: u > 0 always holds once both areas are > 0',
    'drv:rl_call_phase2:const:df060e': 'p_true initialiser: both class paths overwrite it',
    # rl_call_phase1 (then phase1_image): the doubt margins' initialisers; rl_mask_doubt sets all
    # three before the kernel reads them.
    # (the mask kernel's arguments moved from phase1_image to mask_cells)
    'drv:mask_cells:const:ef83d6': 'doubt_w initialiser: rl_mask_doubt overwrites it',
    'drv:mask_cells:const:f6cf61': 'doubt_h initialiser: rl_mask_doubt overwrites it',
    'drv:mask_cells:const:fc6aa6': 'doubt_c initialiser: rl_mask_doubt overwrites it',
    # yolo_reference.c: the twins of the reference's, and its own.
    'yref:assign_image:rel:fb3f82': 'clamp test fj >= W-1: differs only at fj = W-1, both give W-1',
    'yref:assign_image:rel:d0d357': 'clamp test fi >= H-1: differs only at fi = H-1, both give H-1',
    'yref:box_iou:rel:1b0cd0': 'the same for area_b (a truth or an anchor: never 0 anyway)',
    'yref:box_iou:rel:480033': 'uni > 0 always holds once both areas are > 0',
    'yref:rl_yolo_reference_compute:rel:8da5df': 'frees st[n_heads] too: zeroed, free(NULL)',
    'yref:box_iou:const:c79365': 'unreachable: uni > 0 always holds once both areas are > 0',
    'yref:best_anchor:const:b79afb': 'a_best initialiser: the first anchor (IoU >= 0 > -1) sets it',
    'yref:assign_image:const:858319': 'clamp test W-2: differs only at fj = W-1, both give W-1',
    'yref:assign_image:const:932723': 'clamp test H-2: differs only at fi = H-1, both give H-1',
    'yref:assign_image:const:21b18b': 'truth_slot = -2 for "no slot here": only slots >= 0 match',
    'yref:assign_image:const:0cbbc6': 'forced = -2 without a forced array: also "keep"',
    'yref:has_class:const:31b037': 'returns 2 for "has the class": only its truth is used',
    'yref:bce_logit:const:625803': 'y = 1 no longer skips (1 - y) softplus(z): a 0 term added',
    'yref:rl_yolo_reference_total:const:c8923f': 'skips dividing by a count of 1: x / 1 = x',
    'yref:rl_yolo_reference_compute:const:562bb7': 'frees from head 1: st[0] leaks, no result',
    'yref:box_iou:rel:fe7b14': 'area 0 passes the guard but gives inter = 0, IoU 0',
    'yref:best_anchor:const:c3d40b': 'initial best -1.25: any IoU (>= 0) beats it as -1 does',
    'yref:darknet_stats:const:742c4d': 'skips dividing by a count of 1: x / 1 = x',
    'yref:has_class:const:7ebc9f': 'returns 2 for "has the class": only its truth is used',
    'yref:assign_image:const:281243': 'tt = -2 for "no truth_thresh truth": only tt >= 0 is read',
    'yref:rl_yolo_reference_compute:index:a82146': 'one more head_state in the array, never used',
    # pass 1 over heads 0..n_heads: the extra head's params are all zero (no
    # slot, no anchor, no mask), so it reads nothing and decides nothing; its
    # buffers leak (no test sees a leak).
    'yref:rl_yolo_reference_compute:rel:1111a9': 'an extra empty head in pass 1: only leaks',
    # the logit check's rows 0..H: row H is the next image's row 0 (checked
    # again, harmlessly) or, for the last image, one row past the arrays:
    # undefined behaviour, not a number a test can compare.
    'yref:check_positive_logits:rel:07f6a5': 'reads one row past the slots: UB, no result',
    # issue 14's sparse path
    'drv:use_sparse:rel:c6d1ea': 'thresh = 1/2 + 2^-30 exactly: the sparse path is exact there '
                                 'too (the bound needs only a few 2^-53 above 1/2)',
    'drv:clamp_cell:rel:2575c9': '!(v > 0) -> !(v >= 0): at v = 0 both return cell 0',
    'drv:clamp_cell:rel:2a48d8': 'v >= hi -> v > hi: at v = hi both return hi',
    'drv:reach_axis:const:ed5a29': 'a truth reaching a quarter cell further back: a '
                                   'superset of the cells, decided the same (more work)',
    'drv:reach_axis:arith:48d188': 'x1 + eps -> x1 - eps drops only a cell touching the box on '
                                   'its border; a centre there is on the edge, IoU <= 1/2',
    'drv:sparse_phase1:const:18b4f6': 'bands end a row early: the last row becomes a band of '
                                      'its own, with its own truths; same decisions and sums',
    'drv:sparse_phase1:drop:073c33': 'the every-row shortcut never taken: the gather then copies '
                                     'every truth, the same set',
    # rl_call_phase1: `soa.boxes = nt > 0 ? truths + lo : NULL` -> `nt >= 0`:
    # with nt = 0 the kernels never read soa.boxes.  (Same results; the guard
    # only keeps NULL + 0 away from UBSan in the sanitize build.)
    'drv:rl_call_phase1:rel:58a254': 'with no truths soa.boxes is never read',
}

MIN_MUTANTS_PER_TARGET = 100   # --self-test fails below this (the code shrank or moved?)

DEFAULT_BUILD_ROOT = 'build-mutate'

# ---------------------------------------------------------------------------
# A small C lexer: enough to find functions and operators outside comments,
# strings and preprocessor lines.
# ---------------------------------------------------------------------------
TOKEN_RE = re.compile(r'''
    (?P<num>0[xX][0-9a-fA-F]+[uUlL]*
          | (?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?[fFlL]?
          | \d+[eE][+-]?\d+[fFlL]?
          | \d+[uUlL]*)
  | (?P<str>"[^"\n]*"|'[^'\n]*')
  | (?P<id>[A-Za-z_]\w*)
  | (?P<op>->|\+\+|--|<<=|>>=|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|[-+*/%<>=!~&|^?:;,.(){}\[\]])
''', re.VERBOSE)

TYPE_WORDS = {'double', 'float', 'int', 'char', 'long', 'short', 'unsigned', 'signed',
              'int8_t', 'int32_t', 'int64_t', 'uint8_t', 'uint32_t', 'uint64_t', 'size_t',
              'uintptr_t', 'const', 'static', 'void', 'struct', 'box'}
KEYWORDS = {'return', 'if', 'else', 'for', 'while', 'do', 'sizeof', 'case', 'switch',
            'break', 'continue', 'goto', 'typedef'}
# Tokens that end an additive operand (lower precedence than + and -).
STOPPERS = {',', ';', '?', ':', '=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<=',
            '>>=', '==', '!=', '<', '>', '<=', '>=', '&&', '||', '&', '|', '^', '<<', '>>'}
PARAM_SWAP = {  # "a lambda changed": the wrong lambda
    'lambda_coord': 'lambda_class', 'lambda_class': 'lambda_obj',
    'lambda_obj': 'lambda_noobj', 'lambda_noobj': 'lambda_coord',
}
PARAM_NUDGE = {  # "thresh changed", and the other configured constants
    'thresh': ' + 0.05', 'warmup_scale': ' * 2', 'warmup_seen': ' + 1',
}


def blank(text):
    """Comments, string and char literals and preprocessor lines become
    spaces (newlines kept), so offsets into the result are offsets into
    the source."""
    out = list(text)
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c == '#':
            j = i
            while j < n and (text[j] != '\n' or text[j - 1] == '\\'):
                j += 1
            for k in range(i, j):
                if out[k] != '\n':
                    out[k] = ' '
            i = j
            continue
        if c == '\n':
            line_start = True
            i += 1
            continue
        if not c.isspace():
            line_start = False
        if text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
        elif text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
        elif c in '"\'':
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == '\\' else 1
            # keep the quotes, blank the contents
            for k in range(i + 1, min(j, n)):
                if out[k] != '\n':
                    out[k] = ' '
            i = j + 1
            continue
        else:
            i += 1
            continue
        for k in range(i, j):
            if out[k] != '\n':
                out[k] = ' '
        i = j
    return ''.join(out)


class Tok:
    __slots__ = ('kind', 'text', 'start', 'end')

    def __init__(self, kind, text, start, end):
        self.kind, self.text, self.start, self.end = kind, text, start, end

    def __repr__(self):
        return 'Tok(%r)' % self.text


def tokenize(clean):
    toks = []
    pos = 0
    for m in TOKEN_RE.finditer(clean):
        if clean[pos:m.start()].strip():
            raise ValueError('lexer: cannot read %r at offset %d'
                             % (clean[pos:m.start()].strip()[:20], pos))
        pos = m.end()
        kind = m.lastgroup
        toks.append(Tok(kind, m.group(), m.start(), m.end()))
    return toks


def functions(toks):
    """(name, first body token index, closing brace index) of every function
    definition: a '{' at file level whose previous token is ')'."""
    out = []
    depth = 0
    i = 0
    while i < len(toks):
        t = toks[i].text
        if t == '{':
            if depth == 0 and i > 0 and toks[i - 1].text == ')':
                # walk back to the '(' matching that ')', the name is before it
                d = 0
                k = i - 1
                while k >= 0:
                    if toks[k].text == ')':
                        d += 1
                    elif toks[k].text == '(':
                        d -= 1
                        if d == 0:
                            break
                    k -= 1
                name = toks[k - 1].text if k > 0 and toks[k - 1].kind == 'id' else None
                # find the matching '}'
                d = 0
                j = i
                while j < len(toks):
                    if toks[j].text == '{':
                        d += 1
                    elif toks[j].text == '}':
                        d -= 1
                        if d == 0:
                            break
                    j += 1
                if name:
                    out.append((name, i + 1, j))
                i = j + 1
                continue
            depth += 1
        elif t == '}':
            depth -= 1
        i += 1
    return out


def is_binary(toks, i):
    """Whether the + or - at toks[i] is a binary operator."""
    if i == 0:
        return False
    p = toks[i - 1]
    if p.kind == 'num':
        return True
    if p.kind == 'id':
        return p.text not in KEYWORDS
    return p.text in (')', ']', '++', '--')


def operand_right(toks, i, end):
    """Index one past the additive operand that starts at toks[i]."""
    depth = 0
    k = i
    while k < end:
        t = toks[k].text
        if t in ('(', '['):
            depth += 1
        elif t in (')', ']', '}'):
            if depth == 0:
                return k
            depth -= 1
        elif depth == 0 and k > i:
            if t in STOPPERS or (t in ('+', '-') and is_binary(toks, k)):
                return k
        k += 1
    return k


def operand_left(toks, i, begin):
    """(index of the first token of the additive operand that ends at
    toks[i], whether it is the first term of its sum)."""
    depth = 0
    k = i
    while k >= begin:
        t = toks[k].text
        if t in (')', ']'):
            depth += 1
        elif t in ('(', '[', '{'):
            if depth == 0:
                return k + 1, True
            depth -= 1
        elif depth == 0:
            if t in ('+', '-') and is_binary(toks, k):
                return k + 1, False
            if t in STOPPERS or t in ('return', '}'):
                return k + 1, True
        k -= 1
    return begin, True


def is_declaration_subscript(toks, i):
    """toks[i] is '[': is it an array declarator (type name[N])?"""
    return (i >= 2 and toks[i - 1].kind == 'id'
            and (toks[i - 2].text in TYPE_WORDS or toks[i - 2].text.endswith('_t')))


def num_mutation(text):
    """The changed literal, or None for literals left alone (bit masks)."""
    if text.lower().startswith('0x'):
        return None
    m = re.fullmatch(r'(\d+)([uUlL]*)', text)
    if m:
        return str(int(m.group(1)) + 1) + m.group(2)
    m = re.fullmatch(r'([0-9.eE+-]+)([fFlL]?)', text)
    if not m:
        return None
    v = float(m.group(1))
    nv = 1.0 if v == 0 else v * 1.25
    return repr(nv) + m.group(2)


class Mutant:
    __slots__ = ('target', 'func', 'op', 'start', 'end', 'repl', 'line', 'key', 'desc')

    def __init__(self, target, func, op, start, end, repl, desc):
        self.target, self.func, self.op = target, func, op
        self.start, self.end, self.repl, self.desc = start, end, repl, desc
        self.line = None
        self.key = None

    def apply(self, text):
        return text[:self.start] + self.repl + text[self.end:]


def mutants_of(target, text):
    clean = blank(text)
    toks = tokenize(clean)
    lines = text.split('\n')
    line_of_offset = []
    for ln, s in enumerate(lines, 1):
        line_of_offset.extend([ln] * (len(s) + 1))
    skip = [re.compile(r) for r in target.get('skip_lines', [])]
    funcs = functions(toks)
    found = {}
    result = []
    for name, b, e in funcs:
        pats = [p for p in target['functions'] if fnmatch.fnmatchcase(name, p)]
        if not pats:
            continue
        for p in pats:
            found.setdefault(p, []).append(name)
        ms = []

        def add(op, s, en, repl, desc):
            ms.append(Mutant(target, name, op, s, en, repl, desc))

        sub_depth = 0  # inside [ ]: index arithmetic, left to 'index' and 'arith'
        for i in range(b, e):
            t = toks[i]
            tx = t.text
            sub_depth += (tx == '[') - (tx == ']')
            in_subscript = sub_depth > 0
            # relational: < <=, > >=
            rel = {'<': '<=', '<=': '<', '>': '>=', '>=': '>'}.get(tx)
            if rel:
                add('rel', t.start, t.end, rel, '%s -> %s' % (tx, rel))
            # constants
            if t.kind == 'num':
                in_decl = (i >= 1 and toks[i - 1].text == '['
                           and is_declaration_subscript(toks, i - 1))
                nv = None if in_decl else num_mutation(tx)
                if nv is not None:
                    add('const', t.start, t.end, nv, '%s -> %s' % (tx, nv))
            if t.kind == 'id' and i >= 1 and toks[i - 1].text in ('->', '.'):
                if tx in PARAM_SWAP:
                    add('const', t.start, t.end, PARAM_SWAP[tx], '%s -> %s' % (tx, PARAM_SWAP[tx]))
                elif tx in PARAM_NUDGE:
                    # wrap the whole member access: find its start
                    k = i
                    while k - 2 >= b and toks[k - 1].text in ('->', '.') and toks[k - 2].kind == 'id':
                        k -= 2
                    s = toks[k].start
                    orig = text[s:t.end]
                    add('const', s, t.end, '(%s%s)' % (orig, PARAM_NUDGE[tx]),
                        '%s -> %s%s' % (orig, orig, PARAM_NUDGE[tx]))
            # arithmetic: + -, += -=
            if tx in ('+', '-') and is_binary(toks, i):
                other = '-' if tx == '+' else '+'
                add('arith', t.start, t.end, other, '%s -> %s' % (tx, other))
                # a term dropped: the right operand
                r = operand_right(toks, i + 1, e)
                if r > i + 1 and not in_subscript:
                    s_txt = text[toks[i + 1].start:toks[r - 1].end]
                    add('drop', t.start, toks[r - 1].end, '',
                        'drop "%s %s"' % (tx, ' '.join(s_txt.split())))
                # and the left one, when it is the first of three or more
                # terms (for a - b, dropping either term is one fault)
                lft, first = operand_left(toks, i - 1, b)
                chain = r < e and toks[r].text in ('+', '-') and is_binary(toks, r)
                if first and chain and lft < i and not in_subscript:
                    s_txt = text[toks[lft].start:toks[i - 1].end]
                    add('drop', toks[lft].start, t.end, '-' if tx == '-' else '',
                        'drop "%s %s"' % (' '.join(s_txt.split()), tx))
            elif tx in ('+=', '-='):
                other = '-=' if tx == '+=' else '+='
                add('arith', t.start, t.end, other, '%s -> %s' % (tx, other))
                # the whole accumulation dropped, when it is a statement
                r = operand_right(toks, i + 1, e)
                if r < e and toks[r].text == ';':
                    k = i - 1
                    while k >= b and (toks[k].kind == 'id' or toks[k].text in ('->', '.', ']')):
                        if toks[k].text == ']':
                            d = 0
                            while k >= b:
                                if toks[k].text == ']':
                                    d += 1
                                elif toks[k].text == '[':
                                    d -= 1
                                    if d == 0:
                                        break
                                k -= 1
                        k -= 1
                    if k >= b and toks[k].text == '*' and toks[k - 1].text in (';', '{', '}', ')'):
                        k -= 1
                    if toks[k].text in (';', '{', '}', ')', 'else'):
                        s = toks[k + 1].start
                        stmt = ' '.join(text[s:toks[r].end].split())
                        add('drop', s, toks[r].end, ';', 'drop statement "%s"' % stmt)
            # an index off by one
            if tx == '[' and not is_declaration_subscript(toks, i):
                d = 0
                k = i
                while k < e:
                    if toks[k].text == '[':
                        d += 1
                    elif toks[k].text == ']':
                        d -= 1
                        if d == 0:
                            break
                    k += 1
                inner = ' '.join(text[t.end:toks[k].start].split())
                add('index', toks[k].start, toks[k].start, ' + 1',
                    '[%s] -> [%s + 1]' % (inner, inner))
        # skip lines, fill in line numbers, keys
        seen = {}
        for m in ms:
            m.line = line_of_offset[m.start]
            ltext = lines[m.line - 1]
            if any(r.search(ltext) for r in skip):
                continue
            base = '%s|%s|%s|%s|%s' % (target['tag'], name, m.op, ' '.join(ltext.split()),
                                       m.desc)
            seen[base] = seen.get(base, 0) + 1
            h = hashlib.sha1(('%s#%d' % (base, seen[base])).encode()).hexdigest()[:6]
            m.key = '%s:%s:%s:%s' % (target['tag'], name, m.op, h)
            result.append(m)
    missing = [p for p in target['functions'] if p not in found and not
               any(ch in p for ch in '*?[')]
    return result, found, missing


def all_mutants(root):
    out = []
    info = {}
    for tg in TARGETS:
        with open(os.path.join(root, tg['file'])) as f:
            text = f.read()
        ms, found, missing = mutants_of(tg, text)
        out.extend(ms)
        info[tg['file']] = (ms, found, missing, text)
    return out, info


# ---------------------------------------------------------------------------
# The shadow copy and its build
# ---------------------------------------------------------------------------
def project_files(root):
    out = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                         cwd=root, check=True, stdout=subprocess.PIPE).stdout
    return [p for p in out.decode().split('\0') if p]


def sync_copy(root, dst):
    """Make dst a copy of the project's files; files whose content is
    unchanged are not rewritten, so ninja rebuilds only what changed."""
    files = project_files(root)
    changed = 0
    keep = set()
    for rel in files:
        src = os.path.join(root, rel)
        if not os.path.isfile(src) or os.path.islink(src):
            continue
        keep.add(rel)
        d = os.path.join(dst, rel)
        with open(src, 'rb') as f:
            data = f.read()
        try:
            with open(d, 'rb') as f:
                same = f.read() == data
        except OSError:
            same = False
        if not same:
            os.makedirs(os.path.dirname(d), exist_ok=True)
            with open(d, 'wb') as f:
                f.write(data)
            shutil.copymode(src, d)
            changed += 1
    # files deleted from the project
    for dirpath, _, names in os.walk(dst):
        for nm in names:
            rel = os.path.relpath(os.path.join(dirpath, nm), dst)
            if rel not in keep:
                os.remove(os.path.join(dirpath, nm))
                changed += 1
    return changed


class Restorer:
    """Puts the original text back into the copy, whatever happens."""

    def __init__(self):
        self.path = None
        self.text = None

    def arm(self, path, text):
        self.path, self.text = path, text

    def restore(self):
        if self.path is not None:
            with open(self.path, 'w') as f:
                f.write(self.text)
            self.path = None


RESTORER = Restorer()


def on_signal(signum, frame):
    raise KeyboardInterrupt('signal %d' % signum)


def run(cmd, cwd, timeout=None, env=None):
    """(returncode or None on timeout, seconds, output tail)"""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True, env=env)
    try:
        out, _ = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        stop(p)
        out, _ = p.communicate()
        rc = None
    except BaseException:
        stop(p)
        raise
    return rc, time.monotonic() - t0, out.decode(errors='replace')


def stop(p):
    """End a child's process group: SIGTERM first, so that `meson test`
    ends the tests it started in their own sessions, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            pass


def test_targets(build, names):
    """The ninja targets that the named tests need."""
    data = json.loads(subprocess.run(['meson', 'introspect', '--tests', build], check=True,
                                     stdout=subprocess.PIPE).stdout)
    by_name = {t['name']: t for t in data}
    missing = [n for n in names if n not in by_name]
    if missing:
        sys.exit('mutate: no such test(s) in %s: %s' % (build, ', '.join(missing)))
    targets = set()
    absb = os.path.abspath(build)
    for n in names:
        t = by_name[n]
        for c in t['cmd']:
            if c.startswith(absb + os.sep) and os.path.exists(c):
                targets.add(os.path.relpath(c, absb))
        for dep in t.get('depends', []):
            targets.add(dep)
    # dependency ids are meson target ids; map them to output files
    tdata = json.loads(subprocess.run(['meson', 'introspect', '--targets', build], check=True,
                                      stdout=subprocess.PIPE).stdout)
    id_to_files = {t['id']: [os.path.relpath(f, absb) for f in t['filename']] for t in tdata}
    out = set()
    for t in targets:
        out.update(id_to_files.get(t, [t]))
    return sorted(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog='\n\n'.join(__doc__.split('\n\n')[1:3]))
    ap.add_argument('--root', default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    help='project root (default: this tool\'s checkout)')
    ap.add_argument('--build-root', default=None,
                    help='shadow copy and build live here (default: ROOT/%s)' % DEFAULT_BUILD_ROOT)
    ap.add_argument('--jobs', '-j', type=int, default=2, help='ninja and meson test jobs (2)')
    ap.add_argument('--list', action='store_true', help='list the mutants and exit')
    ap.add_argument('--diff', action='store_true', help='with --list: show each change')
    ap.add_argument('--self-test', action='store_true',
                    help='check the targets and that a sample of mutants compiles')
    ap.add_argument('--only', action='append', default=[],
                    help='run mutants whose key starts with this (repeatable)')
    ap.add_argument('--file', choices=[t['tag'] for t in TARGETS], action='append',
                    help='only this target (repeatable)')
    ap.add_argument('--op', action='append', choices=['rel', 'const', 'arith', 'drop', 'index'],
                    help='only this operator (repeatable)')
    ap.add_argument('--sample', type=int, default=0, help='run a random N of the mutants')
    ap.add_argument('--seed', type=int, default=None, help='seed for --sample (printed)')
    ap.add_argument('--run-equivalent', action='store_true',
                    help='also run the mutants listed as equivalent')
    ap.add_argument('--timeout-factor', type=float, default=3.0,
                    help='a mutant times out after factor * the unmutated test time + 30 s')
    ap.add_argument('--json', help='write every result to this file')
    args = ap.parse_args()

    root = os.path.abspath(args.root)
    mutants, info = all_mutants(root)
    if args.file:
        mutants = [m for m in mutants if m.target['tag'] in args.file]
    if args.op:
        mutants = [m for m in mutants if m.op in args.op]
    if args.only:
        mutants = [m for m in mutants if any(m.key.startswith(o) for o in args.only)]

    if args.self_test:
        return self_test(root, info, args)
    if args.list:
        for tg in TARGETS:
            ms, found, missing, text = info[tg['file']]
            print('%s: %d mutants' % (tg['file'], len(ms)))
            for p in tg['functions']:
                names = found.get(p, [])
                n = sum(1 for m in ms if m.func in names)
                glob = any(ch in p for ch in '*?[')
                print('  %-32s %4d%s' % (p, n, '' if names else
                                         '   (no match yet)' if glob else '   (no such function)'))
        for m in mutants:
            print('%s  %s:%d  %s%s' % (m.key, m.target['file'], m.line, m.desc,
                                       '  [equivalent]' if m.key in EQUIVALENT else ''))
            if args.diff:
                text = info[m.target['file']][3]
                print('    - ' + text.split('\n')[m.line - 1].strip())
                print('    + ' + m.apply(text).split('\n')[m.line - 1].strip())
        by_op = {}
        for m in mutants:
            by_op[m.op] = by_op.get(m.op, 0) + 1
        print('%d mutants: %s' % (len(mutants), ', '.join('%s %d' % kv for kv in sorted(by_op.items()))))
        return 0

    if args.sample:
        seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
        print('mutate: sampling %d of %d mutants with --seed %d' % (min(args.sample, len(mutants)),
                                                                   len(mutants), seed))
        rnd = random.Random(seed)
        mutants = sorted(rnd.sample(mutants, min(args.sample, len(mutants))),
                         key=lambda m: (m.target['file'], m.start))
    return run_mutants(root, args, mutants)


def setup_build(root, args):
    broot = os.path.abspath(args.build_root or os.path.join(root, DEFAULT_BUILD_ROOT))
    src = os.path.join(broot, 'src')
    build = os.path.join(broot, 'build')
    os.makedirs(src, exist_ok=True)
    n = sync_copy(root, src)
    print('mutate: shadow copy %s (%d file(s) updated)' % (src, n), flush=True)
    if not os.path.exists(os.path.join(build, 'build.ninja')):
        rc, dt, out = run(['meson', 'setup', build, src], cwd=broot)
        if rc != 0:
            sys.exit('mutate: meson setup failed:\n' + out[-3000:])
    return src, build


def run_mutants(root, args, mutants):
    # SIGINT too: a shell's background job starts with SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        return run_mutants_1(root, args, mutants)
    except KeyboardInterrupt:
        RESTORER.restore()
        print('\nmutate: interrupted before the first mutant; nothing is mutated',
              file=sys.stderr)
        return 130
    finally:
        RESTORER.restore()


def run_mutants_1(root, args, mutants):
    t_start = time.monotonic()
    src, build = setup_build(root, args)
    env = dict(os.environ, CRITERION_JOBS=str(args.jobs))

    plan = []  # per target: (target, [(test names, ninja targets, baseline seconds)])
    for tg in TARGETS:
        if not any(m.target is tg for m in mutants):
            continue
        stages = []
        for names in tg['tests']:
            ninja_targets = test_targets(build, names)
            rc, dt, out = run(['ninja', '-C', build, '-j', str(args.jobs)] + ninja_targets,
                              cwd=src)
            if rc != 0:
                sys.exit('mutate: the unmutated build fails:\n' + out[-3000:])
            rc, dt, out = run(['meson', 'test', '-C', build, '--no-rebuild',
                               '--num-processes', str(args.jobs)] + names, cwd=src, env=env)
            if rc != 0:
                sys.exit('mutate: the unmutated tests fail for %s:\n%s'
                         % (tg['file'], out[-3000:]))
            stages.append((names, ninja_targets, dt))
        print('mutate: %s: %s tests pass unmutated in %s s' % (
            tg['file'], ' + '.join(str(len(st[0])) for st in stages),
            ' + '.join('%.1f' % st[2] for st in stages)), flush=True)
        plan.append((tg, stages))

    results = []
    counts = {}
    try:
        for tg, stages in plan:
            path = os.path.join(src, tg['file'])
            with open(path) as f:
                orig = f.read()
            ms = [m for m in mutants if m.target is tg]
            for idx, m in enumerate(ms, 1):
                dt = 0.0
                where = ''
                if m.key in EQUIVALENT and not args.run_equivalent:
                    status = 'equivalent'
                else:
                    RESTORER.arm(path, orig)
                    try:
                        with open(path, 'w') as f:
                            f.write(m.apply(orig))
                        status = 'survived'
                        for si, (names, ninja_targets, base) in enumerate(stages, 1):
                            rc, sdt, out = run(['ninja', '-C', build, '-j', str(args.jobs)]
                                               + ninja_targets, cwd=src)
                            dt += sdt
                            if rc != 0:
                                status = 'build-failed'
                                if os.environ.get('MUTATE_VERBOSE'):
                                    print(out[-1500:])
                                break
                            rc, sdt, out = run(['meson', 'test', '-C', build, '--no-rebuild',
                                                '--maxfail', '1', '--num-processes',
                                                str(args.jobs)] + names, cwd=src,
                                               timeout=args.timeout_factor * base + 30, env=env)
                            dt += sdt
                            if rc is None:
                                status, where = 'timed-out', 'stage %d' % si
                                break
                            if rc != 0:
                                failed = re.findall(r'^\s*\d+/\d+ \S+ / (\S+)\s+(?:FAIL|TIMEOUT)',
                                                    out, re.M)
                                status, where = 'killed', ','.join(failed) or 'stage %d' % si
                                break
                    finally:
                        RESTORER.restore()
                    if status == 'survived' and m.key in EQUIVALENT:
                        status = 'equivalent'
                counts[status] = counts.get(status, 0) + 1
                results.append({'key': m.key, 'file': tg['file'], 'line': m.line,
                                'function': m.func, 'op': m.op, 'change': m.desc,
                                'status': status, 'by': where, 'seconds': round(dt, 1)})
                print('[%s %d/%d] %-12s %5.1fs  %s  %s:%d  %s%s' % (
                    tg['tag'], idx, len(ms), status, dt, m.key, tg['file'], m.line, m.desc,
                    '  (by %s)' % where if where else ''), flush=True)
    except KeyboardInterrupt:
        print('\nmutate: interrupted; %s restored' % (RESTORER.path or 'the copy is'),
              file=sys.stderr)
        RESTORER.restore()
        summary(results, counts, time.monotonic() - t_start, args)
        return 130
    summary(results, counts, time.monotonic() - t_start, args)
    return 0


def summary(results, counts, seconds, args):
    killed = counts.get('killed', 0)
    timed = counts.get('timed-out', 0)
    surv = counts.get('survived', 0)
    equiv = counts.get('equivalent', 0)
    bf = counts.get('build-failed', 0)
    scored = killed + timed + surv
    print('\nmutate: %d mutants in %.0f s: killed %d, survived %d, timed out %d, '
          'equivalent %d, build failed %d' % (len(results), seconds, killed, surv, timed, equiv, bf))
    if scored:
        print('mutate: score (killed + timed out) / (killed + timed out + survived) = %.1f%%'
              % (100.0 * (killed + timed) / scored))
    for r in results:
        if r['status'] == 'survived':
            print('  survived  %s  %s:%d  %s' % (r['key'], r['file'], r['line'], r['change']))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'counts': counts, 'seconds': round(seconds), 'results': results}, f,
                      indent=1)


def self_test(root, info, args):
    """Seconds: every target function exists, each target has enough
    mutants, every mutant changes the text, keys are unique, and a fixed
    sample of mutants per target compiles (gcc -fsyntax-only)."""
    ok = True
    keys = set()
    cc = os.environ.get('CC', 'cc')
    for tg in TARGETS:
        ms, found, missing, text = info[tg['file']]
        if missing:
            print('FAIL %s: no function named %s' % (tg['file'], ', '.join(missing)))
            ok = False
        if len(ms) < MIN_MUTANTS_PER_TARGET:
            print('FAIL %s: only %d mutants (expected >= %d)' % (tg['file'], len(ms),
                                                                MIN_MUTANTS_PER_TARGET))
            ok = False
        for m in ms:
            if m.apply(text) == text:
                print('FAIL %s: mutant changes nothing' % m.key)
                ok = False
            if m.key in keys:
                print('FAIL duplicate key %s' % m.key)
                ok = False
            keys.add(m.key)
        ops = {m.op for m in ms}
        for op in ('rel', 'const', 'arith', 'drop', 'index'):
            if op not in ops:
                print('FAIL %s: no %s mutant' % (tg['file'], op))
                ok = False
        # a fixed sample, one per operator and function where possible
        sample = {}
        for m in ms:
            sample.setdefault((m.func, m.op), m)
        sample = sorted(sample.values(), key=lambda m: m.key)[:: max(1, len(sample) // 12)]
        d = os.path.dirname(os.path.join(root, tg['file']))
        for m in sample:
            cmd = [cc, '-std=c11', '-D_GNU_SOURCE', '-fsyntax-only', '-x', 'c', '-',
                   '-I', os.path.join(root, 'include'), '-I', os.path.join(root, 'src'), '-I', d]
            p = subprocess.run(cmd, input=m.apply(text).encode(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            if p.returncode != 0:
                print('FAIL %s does not compile:\n%s' % (m.key, p.stdout.decode()[-800:]))
                ok = False
        print('%s %s: %d mutants in %d functions; %d sampled mutants compile'
              % ('ok  ' if ok else 'FAIL', tg['file'], len(ms), len({m.func for m in ms}),
                 len(sample)))
    # A stale key is a warning, not a failure: the code it described changed,
    # and the next mutation run will report that mutant again if it survives.
    for k in EQUIVALENT:
        if k not in keys:
            print('WARN equivalent-mutant key %s matches no mutant now (the code changed: '
                  'recheck and update EQUIVALENT)' % k)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
