#!/usr/bin/env python3
"""Checks that scripts/packages.txt accounts for every program the builds
and the tests use (issue 16).

    scripts/check-deps.py [--packages FILE] [--quiet] [--pulled-in PKG]

A program the build or a test needs, but that only some earlier, unrelated
apt-get put on this machine, works here and is missing on a fresh one (as
aarch64-linux-gnu-pkg-config was: issue 16).  So for every program (and
library, and Python module) found below, this script follows it through
each symlink (update-alternatives' included) to its real file, asks
`dpkg -S` which package owns each of those files, and requires each owner
to be

  - listed in the package list (default scripts/packages.txt), or
  - a dependency of one, transitively (Depends and Pre-Depends, as dpkg's
    status database records them for the installed packages, with the
    architecture rules of multiarch), or
  - Essential: yes, or a dependency of one (bash, coreutils, dpkg, ...:
    present on every Debian system, so listing them would be noise).

Recommends do not count: install-deps.sh installs --no-install-recommends.
On a miss it prints the program, its file and the package to add, and
exits 1.  Something not found at all is a miss too (the build would fail).

What is checked, and where the names come from.  Discovered, so that a new
tool or dependency is checked without editing this file:
  - [binaries] of every cross file in cross/ (compilers, ar, strip, the
    pkg-config wrapper, the exe_wrapper qemu);
  - find_program('...') literals in every meson.build (a name that is a
    file next to the meson.build, like check_exports.sh, is the project's);
  - dependency('...') literals in every meson.build: their .pc file, found
    by pkg-config natively and by each cross file's pkg-config for the host,
    and the shared libraries its --libs name;
  - programs scripts/*.sh look up with `command -v NAME` or start as
    afl-NAME (the AFL++ driver and compilers of fuzz.sh);
  - Python modules: imported by the Python files under tests/, scripts/,
    python/ and any folder with a pyproject.toml, named by 'import NAME' /
    '-m', 'NAME' strings or find_installation(modules : [...]) in meson.build
    files, and pyproject.toml build backends; minus the standard library and
    the project's own modules (see discover());
  - the shared libraries the arm64 Criterion (unpacked by install-deps.sh
    outside dpkg, in /opt/regionloss/arm64-sysroot) needs at run time.
Listed by hand, because nothing in the tree names them literally (meson
picks compilers itself; the test scripts call binutils by bare name; the
sanitizer runtime is a file clang finds):
  - FIXED_PROGRAMS and the clang sanitizer runtimes, below.
"""
import argparse
import ast
import glob
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Programs no file of the tree names in a form the discovery above reads.
FIXED_PROGRAMS = {
    # meson's default compilers (native stage) and the ones test-all.sh and
    # fuzz.sh set through CC/CXX (sanitize stage, and afl-clang-fast's back end)
    'cc': 'meson picks the C compiler',
    'c++': 'meson picks the C++ compiler',
    'gcc': 'native build',
    'g++': 'native build',
    'clang': 'sanitize stage, AFL++ back end',
    'clang++': 'sanitize stage, AFL++ back end',
    'meson': 'every build',
    'ninja': 'meson backend, fuzz.sh',
    'pkg-config': 'native dependency lookup',
    # meson's dependency('mpi') falls back to the wrapper compiler's --showme
    'mpicc': "dependency('mpi')",
    'mpirun': 'tests/mpi',
    # tests/packaging/check_exports.sh, tests/differential/check_baseline_isa.sh
    'nm': 'tests/packaging',
    'objdump': 'tests/differential',
    'readelf': 'this guard',
}

# What the README's Python path (scripts/install-deps.sh --python, then
# scripts/python-install.sh: pip install ., which builds the library with
# meson-python) runs: the compilers, meson and its backend, pkg-config.
PYTHON_PATH_PROGRAMS = ['cc', 'c++', 'gcc', 'g++', 'meson', 'ninja', 'pkg-config']
# The meson.build files a pip install . configures and whose dependency()
# it needs (tests, examples, fuzzers and tools find theirs optionally or not
# at all there), relative to the root.
PYTHON_PATH_MESON = ['meson.build', 'src', 'python']

# The sanitizer runtimes the sanitize stage and fuzz.sh link (clang's
# -fsanitize=address,undefined), looked up in clang's runtime directory.
SANITIZER_RUNTIMES = ['asan', 'ubsan_standalone']

# Files install-deps.sh creates itself, outside dpkg: not checked.
PRIVATE_PREFIXES = ['/opt/regionloss/']

# dependency() names that are not pkg-config modules.
SPECIAL_DEPENDENCIES = {
    'threads': None,  # the C library
    'mpi': 'ompi-c',  # Open MPI's .pc (meson tries it before mpicc)
}

# The interpreter the Python tests run under: tests/tool/meson.build takes
# Debian's first, and the modules are looked up with it (the python3 first on
# PATH may be a pyenv build that no package owns and that has no NumPy).
PYTHON = '/usr/bin/python3'

if not shutil.which('dpkg') or not shutil.which('dpkg-query'):
    sys.exit('check-deps: dpkg not found; this guard checks the packages of a Debian '
             'system (scripts/install-deps.sh installs them there)')
NATIVE_ARCH = subprocess.run(['dpkg', '--print-architecture'], capture_output=True,
                             text=True, check=True).stdout.strip()


# The groups a line of the package list may name after the package.
KNOWN_GROUPS = {'python'}


def read_package_list(path, group=None):
    """The list's package names (each line's first word), or only those of
    group; ValueError for a group no script knows."""
    pkgs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            words = line.split('#', 1)[0].split()
            if not words:
                continue
            bad = set(words[1:]) - KNOWN_GROUPS
            if bad:
                raise ValueError(f'{path}:{n}: unknown group {" ".join(sorted(bad))} (known: '
                                 f'{" ".join(sorted(KNOWN_GROUPS))})')
            if group is None or group in words[1:]:
                pkgs.append(words[0])
    return pkgs


def split_arch(spec, default):
    if ':' in spec:
        name, arch = spec.split(':', 1)
        return name, arch
    return spec, default


# ---------------------------------------------------------------- dpkg status

class Status:
    """The installed packages, keyed by (name, arch)."""

    FIELDS = ['Package', 'Architecture', 'Status', 'Essential', 'Multi-Arch',
              'Depends', 'Pre-Depends', 'Provides']

    def __init__(self):
        fmt = '\\t'.join('${%s}' % f for f in self.FIELDS) + '\\n'
        out = subprocess.run(['dpkg-query', '-W', '-f', fmt], capture_output=True,
                             text=True, check=True).stdout
        self.pkgs = {}
        self.by_name = {}
        self.providers = {}
        for line in out.splitlines():
            v = dict(zip(self.FIELDS, line.split('\t')))
            if not v.get('Status', '').endswith(' installed'):
                continue
            key = (v['Package'], v['Architecture'])
            self.pkgs[key] = v
            self.by_name.setdefault(v['Package'], []).append(key)
            for prov in self.alternatives(v['Provides']):
                for name, _ in prov:
                    self.providers.setdefault(name, []).append(key)

    @staticmethod
    def alternatives(field):
        """'a (>= 1), b:any | c [amd64]' -> [[('a', None)], [('b', 'any'), ('c', None)]]"""
        groups = []
        for group in field.split(','):
            alts = []
            for alt in group.split('|'):
                alt = re.sub(r'\(.*?\)|\[.*?\]|<.*?>', '', alt).strip()
                if not alt:
                    continue
                name, qual = split_arch(alt, None)
                alts.append((name, qual))
            if alts:
                groups.append(alts)
        return groups

    def effective_arch(self, key):
        return NATIVE_ARCH if key[1] == 'all' else key[1]

    def resolve(self, name, qual, from_arch):
        """Installed packages that satisfy a dependency on name from a package
        of architecture from_arch (multiarch: same architecture, 'all', or a
        Multi-Arch: foreign/allowed package)."""
        found = []
        for key in self.by_name.get(name, []) + self.providers.get(name, []):
            arch = key[1]
            ma = self.pkgs[key]['Multi-Arch']
            if qual and qual not in ('any', 'native'):
                ok = arch == qual
            elif arch in ('all', from_arch) or ma == 'foreign':
                ok = True
            else:
                ok = qual == 'any' and ma == 'allowed'
            if ok:
                found.append(key)
        return found

    def closure(self, roots):
        """Every installed package reachable from roots through Depends and
        Pre-Depends.  Of an 'a | b' group only the first alternative installed
        here counts: on a fresh machine apt installs the first one, so a tool
        that b alone provides would be missing there."""
        seen = set()
        todo = list(roots)
        while todo:
            key = todo.pop()
            if key in seen or key not in self.pkgs:
                continue
            seen.add(key)
            v = self.pkgs[key]
            arch = self.effective_arch(key)
            for field in ('Depends', 'Pre-Depends'):
                for group in self.alternatives(v[field]):
                    for name, qual in group:
                        found = self.resolve(name, qual, arch)
                        if found:
                            todo.extend(found)
                            break
        return seen

    def key_of(self, spec):
        """A package list entry, or a name dpkg -S printed, as (name, arch)."""
        name, arch = split_arch(spec, None)
        keys = self.by_name.get(name, [])
        if arch:
            return (name, arch) if (name, arch) in self.pkgs else None
        for k in keys:
            if k[1] in (NATIVE_ARCH, 'all'):
                return k
        return keys[0] if len(keys) == 1 else None

    def essential(self):
        return [k for k, v in self.pkgs.items() if v['Essential'] == 'yes']


def display(key):
    name, arch = key
    return name if arch in (NATIVE_ARCH, 'all') else f'{name}:{arch}'


# ---------------------------------------------------------------- ownership

def path_variants(path):
    """With merged /usr, dpkg may have recorded /bin/x or /lib/x for a file
    the resolved path calls /usr/bin/x or /usr/lib/x, and the other way."""
    out = [path]
    m = re.match(r'^/usr(/(bin|sbin|lib[^/]*)/.*)$', path)
    if m:
        out.append(m.group(1))
    elif re.match(r'^/(bin|sbin|lib[^/]*)/', path):
        out.append('/usr' + path)
    return out


def owners(paths):
    """{path: [package spec, ...]} for the paths dpkg -S knows, one call."""
    queries = sorted({v for p in paths for v in path_variants(p)})
    if not queries:
        return {}
    out = subprocess.run(['dpkg', '-S'] + queries, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        if line.startswith('diversion by'):
            continue
        pkgs, _, path = line.partition(': ')
        found.setdefault(path, []).extend(p.strip() for p in pkgs.split(','))
    result = {}
    for p in paths:
        for v in path_variants(p):
            if v in found:
                result.setdefault(p, []).extend(found[v])
    return result


# ---------------------------------------------------------------- discovery

def meson_files():
    out = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if not d.startswith(('.', 'build'))]
        if 'meson.build' in filenames:
            out.append(os.path.join(dirpath, 'meson.build'))
    return sorted(out)


def string_args(call, text):
    """The leading string literal arguments of every call(...) in text."""
    out = []
    for m in re.finditer(r'\b%s\s*\(' % call, text):
        rest = text[m.end():]
        while True:
            s = re.match(r"\s*'([^']*)'\s*,?", rest)
            if not s:
                break
            out.append(s.group(1))
            rest = rest[s.end():]
    return out


def parse_cross_file(path):
    """{section: {key: [words]}} (meson's ini-like syntax, Python-like values)."""
    section, sections = None, {}
    with open(path) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            if line.startswith('[') and line.endswith(']'):
                section = line.strip('[]')
                sections.setdefault(section, {})
                continue
            if section and '=' in line:
                key, value = (s.strip() for s in line.split('=', 1))
                # A value may continue over several lines (a list).
                while value.count('[') > value.count(']'):
                    value += next(f).split('#', 1)[0].strip()
                try:
                    v = ast.literal_eval(value)
                except (ValueError, SyntaxError):
                    continue  # a meson expression this parser does not follow
                sections[section][key] = v if isinstance(v, list) else [v]
    return sections


def python_imports(path):
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split('.')[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split('.')[0])
    return names


class Needs:
    """What to check: (what, why, path or None when not found)."""

    def __init__(self):
        self.items = []

    def file(self, what, why, path):
        self.items.append((what, why, path))

    def program(self, name, why):
        if any(w == name for w, _, _ in self.items):
            return
        self.file(name, why, shutil.which(name))


def pkg_config_files(needs, pkg_config, modules, why, libdir=None):
    """The .pc file of each module, and the shared libraries its --libs name."""
    if not shutil.which(pkg_config):
        return  # already reported as a missing program
    env = dict(os.environ)
    if libdir:  # a cross file's pkg_config_libdir property, as meson sets it
        env['PKG_CONFIG_LIBDIR'] = ':'.join(libdir)
    for mod in modules:
        r = subprocess.run([pkg_config, '--path', mod], capture_output=True, text=True,
                           env=env)
        pc = r.stdout.strip()
        if r.returncode != 0 or not pc:
            needs.file(f'{mod}.pc', f"{why}: dependency('{mod}') through {pkg_config}", None)
            continue
        needs.file(f'{mod}.pc', f"{why}: dependency('{mod}')", pc)
        libs = subprocess.run([pkg_config, '--libs', mod], capture_output=True,
                              text=True, env=env).stdout.split()
        dirs = [a[2:] for a in libs if a.startswith('-L')]
        dirs.append(os.path.dirname(os.path.dirname(pc)))  # .../lib/<triplet>
        for a in libs:
            if not a.startswith('-l'):
                continue
            so = next((os.path.join(d, f'lib{a[2:]}.so') for d in dirs
                       if os.path.exists(os.path.join(d, f'lib{a[2:]}.so'))), None)
            if so:  # -lm, -lpthread and the like live in the C library's dirs
                needs.file(f'lib{a[2:]}.so', f'{why}: {mod} links it', so)


def elf_needed(path):
    out = subprocess.run(['readelf', '-d', path], capture_output=True, text=True).stdout
    return re.findall(r'\(NEEDED\)\s+Shared library: \[([^\]]+)\]', out)


def in_python_path(rel):
    return any(rel == p or rel.startswith(p + os.sep) for p in PYTHON_PATH_MESON)


def discover(needs, group=None):
    """Everything the builds and tests use; with group 'python', only what
    the README's Python path does (PYTHON_PATH_*: the package's build by
    pip install . and its tests, tests/python)."""
    if group == 'python':
        return discover_python_path(needs)
    for name, why in FIXED_PROGRAMS.items():
        needs.program(name, why)

    # meson.build: find_program, dependency, and Python modules in strings.
    modules, py_modules = set(), {}
    for mb in meson_files():
        rel = os.path.relpath(mb, ROOT)
        with open(mb) as f:
            text = f.read()
        for name in string_args('find_program', text):
            if os.path.exists(os.path.join(os.path.dirname(mb), name)):
                continue  # the project's own script
            needs.program(name, f'find_program in {rel}')
        modules.update(string_args('dependency', text))
        for m in re.finditer(r"'import (\w+)'|'-m',\s*'(\w+)'", text):
            py_modules.setdefault(m.group(1) or m.group(2), rel)
        # import('python').find_installation(..., modules : ['numpy', ...])
        for m in re.finditer(r"\bmodules\s*:\s*\[([^\]]*)\]", text):
            for name in re.findall(r"'([\w.]+)'", m.group(1)):
                py_modules.setdefault(name.split('.')[0], rel)
    modules.discard('')

    # scripts/*.sh: `command -v NAME`, and the AFL++ programs fuzz.sh runs.
    for sh in sorted(glob.glob(os.path.join(ROOT, 'scripts', '*.sh'))):
        rel = os.path.relpath(sh, ROOT)
        with open(sh) as f:
            text = f.read()
        names = set(re.findall(r'command -v ([A-Za-z0-9_.+-]+)', text))
        names.update(re.findall(r'(?<![\w/.-])(afl-[a-z][a-z0-9+-]*[a-z0-9+])', text))
        for name in sorted(names):
            needs.program(name, rel)

    # Cross files: every binary, and the host's pkg-config modules.
    native_pc = [SPECIAL_DEPENDENCIES.get(m, m) for m in sorted(modules)]
    native_pc = [m for m in native_pc if m]
    pkg_config_files(needs, 'pkg-config', native_pc, 'native build')
    for cf in sorted(glob.glob(os.path.join(ROOT, 'cross', '*.txt'))):
        rel = os.path.relpath(cf, ROOT)
        sections = parse_cross_file(cf)
        binaries = sections.get('binaries', {})
        for key, words in binaries.items():
            needs.program(words[0], f'{rel} [binaries] {key}')
        if 'pkgconfig' in binaries or 'pkg-config' in binaries:
            pc = (binaries.get('pkgconfig') or binaries.get('pkg-config'))[0]
            # A cross build skips MPI (examples/meson.build).
            cross_pc = [m for m in native_pc if m != SPECIAL_DEPENDENCIES['mpi']]
            pkg_config_files(needs, pc, cross_pc, rel,
                             sections.get('properties', {}).get('pkg_config_libdir'))

    # The sanitizer runtime clang links.
    clang = shutil.which('clang')
    if clang:
        rt = subprocess.run([clang, '--print-runtime-dir'], capture_output=True,
                            text=True).stdout.strip()
        machine = os.uname().machine
        for lib in SANITIZER_RUNTIMES:
            path = os.path.join(rt, f'libclang_rt.{lib}-{machine}.a')
            needs.file(os.path.basename(path), 'clang -fsanitize=address,undefined',
                       path if os.path.exists(path) else None)

    # The unpacked arm64 Criterion's run-time libraries (libffi8, libgit2, ...)
    # must come from apt: resolve its NEEDED entries outside the sysroot.
    sysroot = '/opt/regionloss/arm64-sysroot/usr/lib/aarch64-linux-gnu'
    arm_dirs = ['/usr/lib/aarch64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/aarch64-linux-gnu/lib']
    if os.path.isdir(sysroot):
        todo = [os.path.join(sysroot, 'libcriterion.so.3')]
        seen = set()
        while todo:
            lib = todo.pop()
            for so in elf_needed(lib):
                if so in seen:
                    continue
                seen.add(so)
                if os.path.exists(os.path.join(sysroot, so)):
                    todo.append(os.path.join(sysroot, so))
                    continue
                path = next((os.path.join(d, so) for d in arm_dirs
                             if os.path.exists(os.path.join(d, so))), None)
                needs.file(so, 'arm64 Criterion (tests under qemu)', path)
                if path:
                    todo.append(path)

    # Python modules the tests import, for the interpreter the tests use.
    # Read: every .py under tests/, scripts/ and python/, and under any folder
    # with a pyproject.toml (a Python package's sources and its tests), plus
    # each pyproject.toml's build backend (mesonpy, for meson-python).  Not
    # read: generators run by hand, not by a build or a test (fuzz/make_seeds.py,
    # tools/goldens/make_goldens.py, which needs torch only to make goldens).
    # The project's own modules (any .py file or package folder of the tree,
    # and extension_module() names) are not packages to install.
    all_py, own = [], set()
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if not d.startswith(('.', 'build'))]
        in_package = '__init__.py' in filenames
        for fn in filenames:
            if fn.endswith('.py'):
                all_py.append(os.path.join(dirpath, fn))
                # a package's modules are imported through it: regionloss/torch.py
                # is regionloss.torch, and `import torch` still means PyTorch
                if not in_package:
                    own.add(fn[:-3])
        if in_package:
            own.add(os.path.basename(dirpath))
    for mb in meson_files():
        with open(mb) as f:
            own.update(string_args('extension_module', f.read()))
    roots = [os.path.join(ROOT, d) for d in ('tests', 'scripts', 'python')]
    for pp in glob.glob(os.path.join(ROOT, '**', 'pyproject.toml'), recursive=True):
        if any(d.startswith(('.', 'build')) for d in os.path.relpath(pp, ROOT).split(os.sep)):
            continue
        roots.append(os.path.dirname(pp))
        with open(pp) as f:
            m = re.search(r'^build-backend\s*=\s*["\']([\w.]+)', f.read(), re.M)
        if m:
            py_modules.setdefault(m.group(1).split('.')[0], os.path.relpath(pp, ROOT))
    for pf in sorted(all_py):
        if not any(pf.startswith(r + os.sep) for r in roots):
            continue
        for mod in python_imports(pf):
            if mod not in own:
                py_modules.setdefault(mod, os.path.relpath(pf, ROOT))
    python_modules(needs, py_modules)


def discover_python_path(needs):
    for name in PYTHON_PATH_PROGRAMS:
        needs.program(name, 'pip install . (meson-python builds the library)')
    modules = set()
    for mb in meson_files():
        rel = os.path.relpath(mb, ROOT)
        if in_python_path(rel):
            with open(mb) as f:
                modules.update(string_args('dependency', f.read()))
    modules.discard('')
    pcs = [SPECIAL_DEPENDENCIES.get(m, m) for m in sorted(modules)]
    pkg_config_files(needs, 'pkg-config', [m for m in pcs if m], 'pip install .')
    own, py_modules = set(), {}
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if not d.startswith(('.', 'build'))]
        in_package = '__init__.py' in filenames
        for fn in filenames:
            if fn.endswith('.py') and not in_package:
                own.add(fn[:-3])
        if in_package:
            own.add(os.path.basename(dirpath))
    with open(os.path.join(ROOT, 'pyproject.toml')) as f:
        m = re.search(r'^build-backend\s*=\s*["\']([\w.]+)', f.read(), re.M)
    if m:
        py_modules[m.group(1).split('.')[0]] = 'pyproject.toml'
    for sub in ('python', os.path.join('tests', 'python')):
        for pf in sorted(glob.glob(os.path.join(ROOT, sub, '**', '*.py'), recursive=True)):
            for mod in python_imports(pf):
                if mod not in own:
                    py_modules.setdefault(mod, os.path.relpath(pf, ROOT))
    python_modules(needs, py_modules)


def python_modules(needs, py_modules):
    """The modules py_modules names ({module: the file that imports it}), as
    Debian's interpreter finds them, and ensurepip and pip."""
    needs.file('python3', 'the Python tests, meson', PYTHON if os.path.exists(PYTHON) else None)
    if not os.path.exists(PYTHON):
        return
    # Ask that interpreter where each module lives; the standard library is
    # python3's own (libpython3.11-stdlib, a dependency of python3).
    probe = ('import importlib.util, json, sys\n'
             'out = {}\n'
             'for m in sys.argv[1:]:\n'
             '    if m in sys.stdlib_module_names: continue\n'
             '    try: s = importlib.util.find_spec(m)\n'
             '    except Exception: s = None\n'
             '    o = s.origin if s else None\n'
             '    out[m] = o if o not in ("built-in", "frozen") else None\n'
             'print(json.dumps(out))\n')
    r = subprocess.run([PYTHON, '-c', probe] + sorted(py_modules), capture_output=True,
                       text=True, check=True)
    for mod, path in sorted(json.loads(r.stdout).items()):
        needs.file(f'python3 module {mod}', f'imported by {py_modules[mod]}', path)
    # The pip stage of test-all.sh runs `python3 -m venv` (ensurepip, which
    # Debian keeps out of the standard library's package: python3.11-venv)
    # and the venv's pip sees the system's (python3-pip).  Both are stdlib
    # names or not imported by any file, so they are asked for by name.
    probe = ('import importlib.util, json\n'
             'print(json.dumps({m: getattr(importlib.util.find_spec(m), "origin", None)\n'
             '                  for m in ("ensurepip", "pip")}))\n')
    r = subprocess.run([PYTHON, '-c', probe], capture_output=True, text=True, check=True)
    for mod, path in sorted(json.loads(r.stdout).items()):
        needs.file(f'python3 module {mod}', 'scripts/test-all.sh, pip stage (venv, pip install .)',
                   path)


# ---------------------------------------------------------------- pins

# What the torch 2.13 stage installs from the Python package index (issue
# 24): a pip requirements file of exact pins with hashes, and the venv
# scripts/python-venv.sh makes of it, which this guard can check.
PINS = os.path.join(ROOT, 'scripts', 'python-pins.txt')
# In that venv besides the pins: ensurepip's pip (python3.11-venv, a Debian
# package, like the interpreter).
VENV_OWN = {'pip'}
# The modules its tests import, which must come from the venv itself.
VENV_MODULES = ['numpy', 'torch', 'pytest', 'mesonpy']
PIN_RE = re.compile(r'([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)'
                    r'((?:\s+--hash=sha256:[0-9a-f]{64})+)')


def canonical(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def read_pins(path):
    """({name: version}, problems) of a requirements file in which every
    entry is NAME==VERSION with at least one --hash=sha256:."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        return {}, [f'{path}: cannot read the pins of the Python package index ({e.strerror}): '
                    'scripts/python-venv.sh installs exactly what it lists']
    pins, problems = {}, []
    for line in re.sub(r'\\\n', ' ', text).splitlines():
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        m = PIN_RE.fullmatch(line)
        if not m:
            problems.append(f'{path}: "{line}" is not NAME==VERSION --hash=sha256:HEX: every '
                            'entry is pinned exactly, with the hash of its file')
            continue
        name = canonical(m.group(1))
        if name in pins:
            problems.append(f'{path}: {name} is pinned twice')
        pins[name] = m.group(2)
    if not pins and not problems:
        problems.append(f'{path}: no entry')
    return pins, problems


def venv_key(path):
    """The pins' and the interpreter's fingerprint: a venv made from other
    pins, or for another Python, is another folder."""
    import hashlib
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        h.update(f.read())
    if os.path.exists(PYTHON):
        h.update(subprocess.run([PYTHON, '-c', 'import sys; print(sys.version)'],
                                capture_output=True, check=True).stdout)
    return h.hexdigest()[:16]


def default_venv(path):
    cache = os.environ.get('REGIONLOSS_CACHE') or os.path.join(
        os.path.expanduser('~'), '.cache', 'regionloss')
    return os.path.join(cache, f'torch2-venv-{venv_key(path)}')


def check_venv(venv, pins):
    """Problems of a venv that should hold exactly the pins: its own
    site-packages only (no Debian package visible), every pinned version
    and nothing else (but pip; regionloss itself is never installed there),
    the tests' modules imported from it."""
    py = os.path.join(venv, 'bin', 'python')
    if not os.path.exists(py):
        return [f'{venv}: no venv there (scripts/python-venv.sh makes it)']
    probe = ('import importlib.metadata as md, importlib.util, json, sys\n'
             'print(json.dumps({"dists": [[d.metadata["Name"], d.version] for d in md.distributions()],\n'
             '    "mods": {m: getattr(importlib.util.find_spec(m), "origin", None) for m in sys.argv[1:]},\n'
             '    "prefix": sys.prefix, "path": sys.path}))\n')
    r = subprocess.run([py, '-I', '-c', probe] + VENV_MODULES, capture_output=True, text=True)
    if r.returncode != 0:
        return [f'{venv}: its python fails: {r.stderr.strip()[-300:]}']
    got = json.loads(r.stdout)
    problems = []
    prefix = os.path.realpath(got['prefix'])
    outside = [p for p in got['path'] if 'site-packages' in p or 'dist-packages' in p
               if not os.path.realpath(p).startswith(prefix + os.sep)]
    if outside:
        problems.append(f'{venv} sees packages outside itself ({", ".join(outside)}): it must '
                        'be made without --system-site-packages')
    installed = {}
    for name, version in got['dists']:
        installed[canonical(name)] = version
    for name, version in sorted(pins.items()):
        if name not in installed:
            problems.append(f'{venv}: {name}=={version} is pinned but not installed')
        elif installed[name] != version:
            problems.append(f'{venv}: {name} is {installed[name]}, the pins say {version}')
    for name in sorted(set(installed) - set(pins) - VENV_OWN):
        problems.append(f'{venv}: {name}=={installed[name]} is installed but not pinned: add '
                        f'it, with its hash, to {os.path.relpath(PINS, ROOT)}')
    for mod, origin in sorted(got['mods'].items()):
        if not origin or not os.path.realpath(origin).startswith(prefix + os.sep):
            problems.append(f'{venv}: module {mod} is {"missing" if not origin else "from " + origin}, '
                            'not the venv\'s')
    return problems


# ---------------------------------------------------------------- main

def link_chain(path):
    """path, every symlink it goes through, and its real file.  Each link can
    belong to its own package: /usr/bin/aarch64-linux-gnu-pkg-config is
    pkgconf:arm64's link to /usr/bin/pkgconf, which is pkgconf-bin's (amd64),
    so the real file alone would let the missing arm64 package through."""
    chain, p = [path], path
    for _ in range(40):
        if not os.path.islink(p):
            break
        p = os.path.join(os.path.dirname(p), os.readlink(p))
        chain.append(os.path.normpath(p))
    chain.append(os.path.realpath(path))
    out = []
    for c in chain:
        if c not in out:
            out.append(c)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--packages', metavar='FILE', default=os.path.join(ROOT, 'scripts', 'packages.txt'))
    ap.add_argument('--quiet', action='store_true', help='print only problems')
    ap.add_argument('--pulled-in', metavar='PKG',
                    help='only say (exit 0 or 1) whether the list, with its dependencies '
                         'and the Essential packages, brings PKG[:ARCH] in')
    ap.add_argument('--group', choices=sorted(KNOWN_GROUPS),
                    help="only the list's packages of that group, and only what its path "
                         "uses (python: the README's Python path)")
    ap.add_argument('--pins', metavar='FILE', default=PINS,
                    help='the pins of the Python package index (default '
                         'scripts/python-pins.txt)')
    ap.add_argument('--venv', metavar='DIR', nargs='?', const='',
                    help='only check the pins and the venv made of them (DIR, or the one '
                         'scripts/python-venv.sh makes)')
    ap.add_argument('--print-venv', action='store_true',
                    help="print the folder of the pins' venv and exit")
    args = ap.parse_args()
    if args.print_venv:
        print(default_venv(args.pins))
        return 0
    shown_list = os.path.abspath(args.packages)
    if shown_list.startswith(ROOT + os.sep):
        shown_list = os.path.relpath(shown_list, ROOT)

    pins, pin_problems = read_pins(args.pins)
    if args.venv is not None:
        venv = args.venv or default_venv(args.pins)
        problems = pin_problems or check_venv(venv, pins)
        for p in problems:
            print(f'check-deps: MISSING: {p}', file=sys.stderr)
        if problems:
            return 1
        if not args.quiet:
            print(f'check-deps: {venv} holds exactly the {len(pins)} pins of '
                  f'{os.path.relpath(args.pins, ROOT)}')
        return 0

    status = Status()
    listed, unknown = [], []
    try:
        specs = read_package_list(args.packages, args.group)
    except ValueError as e:
        print(f'check-deps: {e}', file=sys.stderr)
        return 1
    for spec in specs:
        key = status.key_of(spec if ':' in spec else f'{spec}:{NATIVE_ARCH}') or \
            status.key_of(spec)
        (listed if key else unknown).append(key or spec)
    allowed = status.closure(listed) | status.closure(status.essential())
    if args.pulled_in:
        spec = args.pulled_in
        key = status.key_of(spec if ':' in spec else f'{spec}:{NATIVE_ARCH}') or \
            status.key_of(spec)
        print(f'{spec}: {"pulled in" if key in allowed else "not pulled in"}')
        return 0 if key in allowed else 1

    needs = Needs()
    discover(needs, args.group)
    chains = {p: link_chain(p) for _, _, p in needs.items if p}
    owned = owners([c for chain in chains.values() for c in chain])

    problems, checked = [], 0
    missing = {}  # package to add -> the needs it would cover
    if args.group is None:
        # The pins of the Python package index, and their venv once made.
        problems.extend(pin_problems)
        if not pin_problems:
            venv = default_venv(args.pins)
            if os.path.isdir(venv):
                problems.extend(check_venv(venv, pins))
            if not args.quiet:
                print(f'ok  {len(pins)} pins of {os.path.relpath(args.pins, ROOT)}, each ==, '
                      f'with its hash; their venv '
                      f'{"checked" if os.path.isdir(venv) else "not made yet"}')
    for spec in unknown:
        problems.append(f'{shown_list} lists {spec}, which is not installed '
                        f'(run scripts/install-deps.sh)')
    for what, why, path in needs.items:
        if any(path and path.startswith(p) for p in PRIVATE_PREFIXES):
            continue
        if not path:
            problems.append(f'{what} ({why}) is not on this machine: find the Debian package '
                            f'that provides it and add it to {shown_list}')
            continue
        checked += 1
        # Every link and the real file: each that dpkg owns must be owned by
        # an allowed package.  Links no package owns (/etc/alternatives/*,
        # the alternatives' own /usr/bin/cc) are update-alternatives'.
        chain = chains[path]
        owned_by = [(c, sorted({k for k in map(status.key_of, owned.get(c, [])) if k}))
                    for c in chain]
        if not owned_by[-1][1]:
            problems.append(f'{what} ({why}): {" -> ".join(chain)} belongs to no installed '
                            f'package; install it through a package in {shown_list}')
            continue
        bad = [(c, keys) for c, keys in owned_by if keys and not set(keys) & allowed]
        if bad:
            for c, keys in bad:
                for k in keys:
                    lines = missing.setdefault(k, [])
                    line = f'{what} ({why}): {c}'
                    if not any(l.startswith(f'{what} ({why}): ') for l in lines):
                        lines.append(line)
        elif not args.quiet:
            keys = owned_by[-1][1]
            how = 'listed' if set(keys) & set(listed) else 'pulled in'
            print(f'ok  {what:36} {display(keys[0]):28} {how}')

    # Name the fewest packages to add: one another missing one pulls in is
    # covered by adding that one (libsleef-dev brings libsleef3).
    for k in sorted(missing):
        if any(k in status.closure([o]) for o in missing if o != k):
            continue
        covered = sorted({n for o in missing if o in status.closure([k]) for n in missing[o]})
        problems.append(f'add {display(k)} to {shown_list}: it is neither listed nor a '
                        f'dependency of a listed package, and it provides\n    ' +
                        '\n    '.join(covered))

    if problems:
        for p in problems:
            print(f'check-deps: MISSING: {p}', file=sys.stderr)
        print(f'check-deps: {len(problems)} problems; {shown_list}'
              f'{" and " + os.path.relpath(args.pins, ROOT) if pin_problems else ""} do not '
              f'account for everything the builds and tests use', file=sys.stderr)
        return 1
    print(f'check-deps: all {checked} programs, libraries and modules come from '
          f'{shown_list}{f" (group {args.group})" if args.group else ""} or its dependencies')
    return 0


if __name__ == '__main__':
    sys.exit(main())
