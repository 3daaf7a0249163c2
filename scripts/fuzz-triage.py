#!/usr/bin/env python3
"""Groups fuzz reproducers by what they break.

    scripts/fuzz-triage.py HARNESS_BINARY FILE_OR_DIR...

Runs the harness in replay mode on each file (best: the AFL++ build, which
carries ASan and UBSan, e.g. build-ci-afl/fuzz/loss_fuzz) and keys each
failure on its first telling line: a sanitizer report, or the failed check
plus the first field a variant got wrong, with numbers and paths removed.
Prints one line per group (count, smallest reproducer, the line).  AFL++
saves many inputs per bug (one per new path to it); this tells how many bugs
there are.
"""
import collections
import os
import re
import subprocess
import sys

KEY_LINES = [
    re.compile(r'runtime error: .*'),
    re.compile(r'ERROR: AddressSanitizer: [\w-]+'),
    re.compile(r'ERROR: LeakSanitizer: .*'),
    re.compile(r'variant \w+: (result\.)?[\w.]+( entry)?'),
    re.compile(r'FUZZ CHECK FAILED at [^ ]+'),
]


def signature(output):
    found = []
    for rx in KEY_LINES:
        m = rx.search(output)
        if m:
            found.append(m.group(0))
        if len(found) == 2:
            break
    if not found:
        return 'no failure reproduced (flaky, or needs the sanitizer build)'
    sig = ' | '.join(found)
    sig = re.sub(r'0x[0-9a-f]+', 'ADDR', sig)
    sig = re.sub(r'-?\d+(\.\d+)?(e[-+]?\d+)?', 'N', sig)
    return sig


def inputs(args):
    for a in args:
        if os.path.isdir(a):
            for f in sorted(os.listdir(a)):
                p = os.path.join(a, f)
                if os.path.isfile(p) and not f.startswith(('.', 'README')):
                    yield p
        else:
            yield a


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    exe = sys.argv[1]
    groups = collections.defaultdict(list)
    env = dict(os.environ)
    env.setdefault('UBSAN_OPTIONS', 'halt_on_error=1:print_stacktrace=1')
    for f in inputs(sys.argv[2:]):
        try:
            r = subprocess.run([exe, f], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=60, env=env)
            out = r.stdout.decode('utf-8', 'replace')
            sig = signature(out) if r.returncode != 0 else 'passes now'
        except subprocess.TimeoutExpired:
            sig = 'timeout (60 s)'
        groups[sig].append(f)
    for sig, files in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        smallest = min(files, key=os.path.getsize)
        print('%5d  %s\n       e.g. %s' % (len(files), sig, smallest))
    return 0


if __name__ == '__main__':
    sys.exit(main())
