#!/usr/bin/env python3
"""Prints the closing lines of every test program of a `meson test` run.

    scripts/test-summary.py BUILD_DIR LABEL

meson test hides a passing program's output; this brings back the line each
runner ends with (Criterion's "Synthesis: Tested: ... | Passing: ... |
Failing: ... | Crashing: ..." and the fuzz replayers' "N inputs replayed, N
passed, 0 failed") from meson-logs/testlog.json, then one total line.
Exits 0; it only reports.
"""
import json
import os
import re
import sys

SYNTHESIS = re.compile(
    r'Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)')
ANSI = re.compile(r'\x1b\[[0-9;]*m')


def closing_line(text):
    lines = [ANSI.sub('', l).strip() for l in (text or '').splitlines()]
    lines = [l for l in lines if l]
    # A failure's own words first, then the runner's tally, then the last line.
    for pattern in ('FUZZ CHECK FAILED', 'SUMMARY: ', 'Synthesis:', 'replayed'):
        for l in reversed(lines):
            if pattern in l:
                return l
    for l in reversed(lines):
        if re.search(r'\d+ passed', l):
            return l
    return lines[-1] if lines else ''


def main():
    build, label = sys.argv[1], sys.argv[2]
    path = os.path.join(build, 'meson-logs', 'testlog.json')
    if not os.path.exists(path):
        print('%s: no test log (%s)' % (label, path))
        return 0
    tests = [json.loads(l) for l in open(path, encoding='utf-8', errors='replace') if l.strip()]
    tested = passing = failing = crashing = 0
    programs_ok = programs_bad = 0
    print('---- %s: closing line of each test program ----' % label)
    for t in tests:
        out = (t.get('stdout') or '') + '\n' + (t.get('stderr') or '')
        m = None
        for m in SYNTHESIS.finditer(ANSI.sub('', out)):
            pass
        if m:
            a, b, c, d = (int(x) for x in m.groups())
            tested, passing, failing, crashing = tested + a, passing + b, failing + c, crashing + d
        ok = t.get('result') in ('OK', 'EXPECTEDFAIL', 'SKIP')
        programs_ok += ok
        programs_bad += not ok
        print('  %-8s %-45s %s' % (t.get('result'), t.get('name'), closing_line(out)))
    print('%s: %d test programs, %d passed, %d failed; Criterion tests: %d passed, %d failed, '
          '%d crashed of %d' % (label, len(tests), programs_ok, programs_bad, passing, failing,
                                crashing, tested))
    return 0


if __name__ == '__main__':
    sys.exit(main())
