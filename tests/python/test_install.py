"""The package found where the README and docs/python.md say it is:

* the source tree after `bash scripts/demo.sh`: python/regionloss loads
  build/src/libregionloss.so.1 (tested in a copy of the tree's layout whose
  build/ is this build, since CI builds elsewhere than build/);
* meson install: the package and its private library in site-packages,
  beside the C library, importable from the installed tree alone.
(pip install . is tested by scripts/test-all.sh's pip stage, which needs a
venv and a build of its own.)"""
import glob
import os
import shutil
import subprocess
import sys

from conftest import SOURCE_ROOT

import pytest

LIB = os.path.abspath(os.environ["REGIONLOSS_LIBRARY"]) if os.environ.get("REGIONLOSS_LIBRARY") \
    else ""
BUILD = os.environ.get("REGIONLOSS_BUILD_ROOT", "")

PROBE = ("import numpy as np, regionloss\n"
         "p = regionloss.Plan([(1.3, 1.7), (3.2, 4.0)], 3, (5, 5))\n"
         "x = np.linspace(-2, 2, 2 * 2 * 8 * 25, dtype=np.float32).reshape(2, 16, 5, 5)\n"
         "r, g = p.compute(x, np.array([[0, 1, .5, .5, .3, .2], [1, 2, .2, .7, .4, .6]]))\n"
         "print(regionloss.library_path)\n"
         "print(repr(r.loss), float(np.abs(g).sum()))\n")

def run_probe(pythonpath, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("REGIONLOSS_LIBRARY", "PYTHONPATH")}
    env["PYTHONPATH"] = pythonpath
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=cwd, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    path, numbers = out.stdout.splitlines()
    return path, numbers

def test_source_tree_loads_build_src(tmp_path):
    if not LIB:
        pytest.skip("REGIONLOSS_LIBRARY is not set (meson test sets it to the build's library)")
    root = tmp_path / "tree"
    shutil.copytree(os.path.join(SOURCE_ROOT, "python", "regionloss"),
                    root / "python" / "regionloss",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    (root / "meson.build").write_text("# stands for the repository's root\n")
    (root / "build" / "src").mkdir(parents=True)
    os.symlink(LIB, root / "build" / "src" / "libregionloss.so.1")
    path, numbers = run_probe(str(root / "python"), str(tmp_path))
    assert path == str(root / "build" / "src" / "libregionloss.so.1")
    # without build/ the import fails and says how to get the library
    os.unlink(root / "build" / "src" / "libregionloss.so.1")
    env = {k: v for k, v in os.environ.items() if k != "REGIONLOSS_LIBRARY"}
    env["PYTHONPATH"] = str(root / "python")
    out = subprocess.run([sys.executable, "-c", "import regionloss"], env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "bash scripts/demo.sh" in out.stderr and "REGIONLOSS_LIBRARY" in out.stderr

def test_meson_install_installs_package_and_library(tmp_path):
    if not BUILD:
        pytest.skip("REGIONLOSS_BUILD_ROOT is not set (meson test sets it to the build folder)")
    dest = tmp_path / "dest"
    subprocess.run(["meson", "install", "-C", BUILD, "--destdir", str(dest), "--no-rebuild"],
                   check=True, capture_output=True)
    inits = glob.glob(str(dest / "**" / "regionloss" / "__init__.py"), recursive=True)
    assert len(inits) == 1, inits
    pkg = os.path.dirname(inits[0])
    assert os.path.exists(os.path.join(pkg, "_libregionloss.so"))
    assert os.path.exists(os.path.join(pkg, "torch.py"))
    assert os.path.exists(os.path.join(pkg, "_yolo.py"))  # the [yolo] heads' YoloPlan
    # every module of the package (python/meson.build lists them by hand)
    for f in glob.glob(os.path.join(SOURCE_ROOT, "python", "regionloss", "*.py")):
        assert os.path.exists(os.path.join(pkg, os.path.basename(f))), f
    assert glob.glob(str(dest / "**" / "libregionloss.so.1"), recursive=True), \
        "the C library is installed too"
    path, numbers = run_probe(os.path.dirname(pkg), str(tmp_path))
    assert path == os.path.join(pkg, "_libregionloss.so")
    # the same numbers as the build's library
    env = dict(os.environ, PYTHONPATH=os.path.join(SOURCE_ROOT, "python"))
    here = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, check=True).stdout.splitlines()[1]
    assert numbers == here
