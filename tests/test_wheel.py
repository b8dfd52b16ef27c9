"""The wheel (`python -m build --wheel`) carries what the chapters need: every module of sslbook,
its exercises, and the checkpoints the chapters load (package data, sslbook/weights/); its
metadata names the licence as an SPDX expression and the dependencies.

The sdist and the wheel (built from the sdist, as `python -m build` does) come from a copy of the
working tree's files (tracked and new, not ignored) in a temporary folder, without build isolation
(no network: the setuptools of this environment)."""
import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def source_files(root: Path = ROOT) -> list[str]:
    """The files of the working tree git knows of or would add (tracked and untracked, not ignored)."""
    out = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], cwd=root, check=True,
                         capture_output=True).stdout.decode()
    return sorted({f for f in out.split("\0") if f and (root / f).is_file()})


def copy_tree(dest: Path, root: Path = ROOT) -> Path:
    """Copy :func:`source_files` to ``dest``; return it."""
    for f in source_files(root):
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f, dest / f)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = copy_tree(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("dist")
    # The sdist first, then the wheel built from it: what the sdist leaves out, the wheel lacks too.
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = done.stdout + done.stderr
    for warned in ("Deprecat", "would be ignored"):   # e.g. project.license as a table; a data folder left out
        assert warned not in log, log[log.index(warned) - 1500:][:3000]
    wheels = list(out.glob("sslbook-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def chapter_checkpoints() -> set[str]:
    """The .pt files the chapters and the package name (cifar10-small-KIND.pt through recipes, pydocs-mlm.pt)."""
    from sslbook import recipes

    rec = recipes.RECIPES["quick"]
    kinds = [*rec.pretrain_steps, *(f"supervised-{c}" for c in rec.supervised_steps)]
    return {recipes.checkpoint_name(k, rec.arch) for k in kinds} | {"pydocs-mlm.pt"}


def test_the_wheel_carries_every_module_the_exercises_and_the_checkpoints(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "sslbook").rglob("*.py")}
    assert modules and not modules - names, f"missing from the wheel: {sorted(modules - names)}"
    assert any(n.startswith("sslbook/exercises/") and n.endswith(".py") for n in names)
    needed = {f"sslbook/weights/{n}" for n in chapter_checkpoints()}
    assert not needed - names, f"checkpoints missing from the wheel: {sorted(needed - names)}"
    with zipfile.ZipFile(wheel) as z:   # the same bytes as the files the repository's chapters load
        for n in needed:
            assert z.read(n) == (ROOT / n).read_bytes(), n
    assert not any(n.startswith(("tests/", "chapters/", "benchmarks/")) for n in names)


def test_the_wheel_metadata_has_an_spdx_licence_and_the_dependencies(wheel):
    with zipfile.ZipFile(wheel) as z:
        meta_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(z.read(meta_name))
    assert meta["Name"] == "sslbook" and meta["License-Expression"] == "MIT"
    assert meta["License"] is None   # the SPDX field, not the deprecated table
    requires = {r.split(";")[0].split(">")[0].split("=")[0].split("<")[0].strip() for r in meta.get_all("Requires-Dist")
                if "extra ==" not in r}
    assert {"torch", "torchvision", "numpy", "scikit-learn", "scipy", "matplotlib", "ipywidgets", "tqdm"} <= requires
