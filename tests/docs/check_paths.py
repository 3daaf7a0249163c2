#!/usr/bin/env python3
"""The repository names no file it does not hold (issue 24).

Every file git tracks is read (binary files skipped) and three kinds of
reference are resolved:

  (a) the external specification's file name, S-P-E-C dot m-d in any case
      (spelled out nowhere in this script, so that the script passes its own
      check): docs/loss.md states the math; the name may appear only if a
      file of that name is tracked, and neither may a numbered section of
      it (the capitals, then "section", "sections", a section sign or
      nothing, then a digit);
  (b) a path that starts with a top-level directory of the repository
      (docs/, src/, include/, tests/, tools/, scripts/, fuzz/, bench/,
      examples/, python/, cross/, data/, .ci/, and any other tracked one),
      backquoted or not, or a top-level file name (README.md, meson.build,
      meson_options.txt, pyproject.toml) on its own, resolved from the
      repository's root; and an all-capitals Markdown name on its own
      (a NEWS or CHANGES file ending in .md), which must be some tracked
      file's name;
  (c) in a .md file, the target of a relative link [text](target), resolved
      from the .md file's folder (URLs and #anchors are not paths).

A path resolves when it is a tracked file or a folder holding one, from
the root or, for (b), from the mentioning file's folder or one above it
(src/hwy/meson.build names src/hwy/tests/exp_ulp.cc from src/hwy, as the
include path does).  The path is the longest run of
path characters after the directory's name, less trailing punctuation; a
path preceded by a word character, "/", ".", "-" or "$" is part of a longer
word (a URL, /usr/include/..., build/src/..., $src/...) and is not read.

Patterns.  A path holding *, ?, [..], <..>, {a,b} or $NAME is a pattern,
not a name: <..> and $NAME stand for one path component, {a,b} expands to
each alternative, and every resulting pattern must match at least one
tracked file or folder (fnmatch; "*" also crosses "/").  So
tests/data/goldens/dn_* and fuzz/regressions/<harness>/<name> pass, and
a pattern that fits no tracked name is dangling like any other path.

Names the repository does not hold on purpose -- build outputs and files
other programs write -- are listed in ALLOWED below, each with its reason;
nothing else is excused.

Each dangling reference is printed as
    file:line: names <path>, which the repository does not hold
and the exit status is 1 if there is any.  Outside a git checkout (a
release tarball) the files are those of the source tree, build folders
(any holding build.ninja or meson-private), .git, __pycache__ and
subprojects/ left out; there a dangling reference is printed but the exit
status is 77 (skipped): the list is not git's, so a missing name may be the
tarball's doing rather than the repository's.

Usage: check_paths.py [SOURCE_ROOT]   (default: two folders up)
"""
import fnmatch
import os
import re
import subprocess
import sys

# path -> why the repository rightly does not hold it.  Exact paths, as the
# text writes them; keep this short.
ALLOWED = {
    # build outputs: meson's targets, named in their build folder
    'bench/regionloss_bench': 'the benchmark executable bench/meson.build builds',
    'examples/mpi_shards': 'the executable examples/meson.build builds from mpi_shards.c',
    'src/libregionloss.so.0.2.0': "the shared library src/meson.build builds",
    # meson test names, not files
    'examples/quickstart': 'the test examples/meson.build registers',
    'examples/detector': 'the test examples/meson.build registers for detector.py',
    'examples/detector_yolo': 'the same for detector.py --layer yolo',
    'examples/detector_yolo_ciou': 'detector.py --layer yolo --box-loss ciou',
    'docs/paths': 'this check, as tests/docs/meson.build registers it',
    'fuzz/<harness>-replay': "the replay tests fuzz/meson.build registers, one per harness",
    # darknet's tree (pjreddie/darknet), which docs/darknet.md patches and
    # docs/performance.md times
    'include/darknet.h': "darknet's header, where its struct layer gets the library's state",
    'src/region_layer.c': "darknet's [region] layer, which the adapter replaces",
    'src/yolo_layer.c': "darknet's [yolo] layer, timed beside the library",
    'src/parser.c': "darknet's cfg parser, whose parse_yolo gives AlexeyAB's [yolo] defaults",
    'python/yolo_alexeyab': 'the test tests/python/meson.build registers for '
                            'test_yolo_alexeyab.py (tools/mutate.py runs it)',
}

ROOT_DIRS = {'docs', 'src', 'include', 'tests', 'tools', 'scripts', 'fuzz',
             'bench', 'examples', 'python', 'cross', 'data', '.ci'}
ROOT_FILES = ('README.md', 'meson.build', 'meson_options.txt', 'pyproject.toml')
EXTERNAL_SPEC = re.compile(r'\b' + 'SPEC' + r'\.' + 'md' + r'\b', re.IGNORECASE)
SPEC_SECTION = re.compile(r'\b' + 'SP' + r'EC\s+(?:sections?\s+|\u00a7\s*)?\d+(?:\.\d+)?')
CAPS_MD = re.compile(r'(?<![\w./-])([A-Z][A-Z0-9_]*\.md)\b')
PATH_CHARS = r'[\w.\-+/*?\[\]<>{},$@=~]'
LINK = re.compile(r'\[[^\]\n]*\]\(([^()\s]+)(?:\s+"[^"]*")?\)')
SKIP_DIRS = {'.git', '__pycache__', 'subprojects'}


def tracked_files(root):
    """The tracked files, or None outside a git checkout of root."""
    try:
        top = subprocess.run(['git', '-C', root, 'rev-parse', '--show-toplevel'],
                             capture_output=True, text=True, check=True).stdout.strip()
        if os.path.realpath(top) != os.path.realpath(root):
            return None  # root is inside some other checkout, not its own
        out = subprocess.run(['git', '-C', root, 'ls-files', '-z'],
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return [p for p in out.decode('utf-8', 'surrogateescape').split('\0') if p]


def walked_files(root):
    """The files of a source tree that is not a checkout, build folders out."""
    out = []
    for d, subdirs, names in os.walk(root):
        subdirs[:] = sorted(s for s in subdirs if s not in SKIP_DIRS and not
                            os.path.exists(os.path.join(d, s, 'build.ninja')) and not
                            os.path.exists(os.path.join(d, s, 'meson-private')))
        rel = os.path.relpath(d, root)
        out += [n if rel == '.' else rel.replace(os.sep, '/') + '/' + n for n in names]
    return out


def folders_of(files):
    dirs = set()
    for f in files:
        parts = f.split('/')[:-1]
        for k in range(1, len(parts) + 1):
            dirs.add('/'.join(parts[:k]))
    return dirs


def expand_braces(s):
    m = re.search(r'\{([^{}]*)\}', s)
    if not m or ',' not in m.group(1):
        return [s]
    out = []
    for alt in m.group(1).split(','):
        out += expand_braces(s[:m.start()] + alt + s[m.end():])
    return out


def is_pattern(p):
    return any(c in p for c in '*?[<{$')


def pattern_matches(p, names):
    for alt in expand_braces(p):
        g = re.sub(r'<[^<>/]*>', '*', alt)
        g = re.sub(r'\$\{?\w+\}?', '*', g)
        g = g.rstrip('/')
        if not any(fnmatch.fnmatchcase(n, g) for n in names):
            return False
    return True


def clean(p):
    """The path a match names: trailing punctuation and unbalanced closers off."""
    while p:
        if p[-1] in '.,:;=!-+~@':
            p = p[:-1]
        elif p[-1] == ']' and p.count('[') < p.count(']'):
            p = p[:-1]
        elif p[-1] == '>' and p.count('<') < p.count('>'):
            p = p[:-1]
        elif p[-1] == '}' and p.count('{') < p.count('}'):
            p = p[:-1]
        else:
            break
    return p


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), '..', '..'))
    files = tracked_files(root)
    in_git = files is not None
    if not in_git:
        files = walked_files(root)
        print(f'{root} is not a git checkout: reading the tree as it is')
    fileset = set(files)
    dirs = folders_of(files)
    names = fileset | dirs
    basenames = {f.rsplit('/', 1)[-1] for f in files}
    root_dirs = ROOT_DIRS | {f.split('/', 1)[0] for f in files if '/' in f}
    root_path = re.compile(r'(?<![\w./\-$])((?:' + '|'.join(re.escape(d) for d in sorted(root_dirs))
                           + r')/' + PATH_CHARS + r'*)')
    root_file = re.compile(r'(?<![\w./\-])(' + '|'.join(re.escape(f) for f in ROOT_FILES)
                           + r')(?![\w/])')
    spec_held = any(EXTERNAL_SPEC.fullmatch(b) for b in basenames)

    def holds(p):
        p = p.rstrip('/')
        if is_pattern(p):
            return pattern_matches(p, names)
        return p in names

    bad = []
    for f in sorted(files):
        full = os.path.join(root, f)
        try:
            with open(full, 'rb') as fh:
                data = fh.read()
        except OSError:
            continue  # a tracked file deleted in the work tree: git's business
        if b'\0' in data[:8192]:
            continue
        text = data.decode('utf-8', 'replace')
        here = os.path.dirname(f)
        ancestors = [here.rsplit('/', k)[0] for k in range(here.count('/') + 1)] if here else []
        for n, line in enumerate(text.split('\n'), 1):
            found = []
            if not spec_held:
                found += [m.group(0) for m in EXTERNAL_SPEC.finditer(line)]
                found += [m.group(0) for m in SPEC_SECTION.finditer(line)]
            for m in CAPS_MD.finditer(line):
                if m.group(1) not in basenames and not EXTERNAL_SPEC.fullmatch(m.group(1)):
                    found.append(m.group(1))
            for m in root_file.finditer(line):
                if m.group(1) not in fileset:
                    found.append(m.group(1))
            for m in root_path.finditer(line):
                p = clean(m.group(1))
                if p in ALLOWED or holds(p) or any(holds(d + '/' + p) for d in ancestors):
                    continue
                found.append(p)
            if f.endswith('.md'):
                for m in LINK.finditer(line):
                    t = m.group(1)
                    if re.match(r'[a-zA-Z][\w+.-]*:', t) or t.startswith('#'):
                        continue
                    t = t.split('#', 1)[0]
                    p = os.path.normpath(t.lstrip('/') if t.startswith('/') else
                                         os.path.join(here, t))
                    if p == '.' or p in ALLOWED or holds(p):
                        continue
                    found.append(t)
            for p in dict.fromkeys(found):
                bad.append(f'{f}:{n}: names {p}, which the repository does not hold')
    for b in bad:
        print(b)
    if bad:
        print(f'{len(bad)} dangling reference(s)', file=sys.stderr)
        return 1 if in_git else 77
    print(f'{len(files)} {"tracked " if in_git else ""}files: every repository path they name'
          ' is held')
    return 0


if __name__ == '__main__':
    sys.exit(main())
