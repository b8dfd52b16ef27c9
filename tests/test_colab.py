"""Colab, simulated: a chapter's .ipynb alone in an empty folder, sslbook installed by the chapter's own
first cell with `pip install "sslbook @ git+URL"`, runs as it does in the repository: it loads the
checkpoints sslbook ships and prints the same numbers.

The simulation, with nothing downloaded:
- a fresh virtual environment (`python -m venv --without-pip`) stands for Colab's runtime; what
  Colab preinstalls (torch, torchvision, numpy, scikit-learn, scipy, matplotlib, ipywidgets, tqdm,
  ipykernel, nbclient, a current pip...) comes from this environment's site-packages, seen through
  a folder of links to its entries, sslbook's own left out (and its editable finder, whose .pth
  would not run from an appended folder anyway), appended by a .pth file;
- a stand-in `google.colab` module, imported at start-up by another .pth file, so that
  `"google.colab" in sys.modules` holds in the kernel as on Colab;
- the repository: a copy of the working tree's files (tracked and new, not ignored) committed to a
  throw-away git repository, whose file:// URL is written into the chapter's first cell (what
  `make notebooks REPO_URL=...` does with the real URL); pip runs offline (`PIP_NO_INDEX`) and
  without build isolation (its setuptools is the preinstalled one);
- no CIFAR-10 (../shared is not on Colab and nothing is downloaded here), so 6a's retrieval section
  says it runs on the labelled stand-in; the repository run of the comparison is offline too.

Chapters 6a (chapter 5's CIFAR-10 encoders) and 6b (the language model) are executed with nbclient by
a kernel of the fresh environment, and again from chapters/ by this environment's kernel; their
printed lines must be the same, and a probe cell added at the end must show that the kernel's sslbook
and its checkpoints came from the fresh environment. With COLAB_SIMULATION_REPORT set to a path, the
test writes the printed numbers of both runs there (.ci/run shows them).
"""
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from test_wheel import copy_tree

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ("06a_vision", "06b_language")
PROBE = """import hashlib, json, sys
import sslbook
from sslbook import checkpoints
files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(checkpoints.shipped().glob("*.pt"))}
print("PROBE " + json.dumps({"sslbook": sslbook.__file__, "weights": str(checkpoints.shipped()), "files": files,
                             "colab": "google.colab" in sys.modules, "python": sys.executable}))"""

RUNNER = """import json, sys, pathlib
import nbformat
from nbclient import NotebookClient
nb_in, nb_out, cwd, kernels = sys.argv[1:5]
spec = pathlib.Path(kernels) / "kernels" / "python3"
spec.mkdir(parents=True, exist_ok=True)
(spec / "kernel.json").write_text(json.dumps({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f",
                                               "{connection_file}"], "display_name": "Python 3", "language": "python"}))
nb = nbformat.read(nb_in, as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": cwd}}).execute()
nbformat.write(nb, nb_out)
"""


def run(args, **kw):
    done = subprocess.run(args, capture_output=True, text=True, **kw)
    assert done.returncode == 0, f"{args}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def base_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SSLBOOK_", "PIP_", "PYTHON", "VIRTUAL_ENV", "COVERAGE_", "JUPYTER"))}
    # The same settings for both runs: quick budget, seed 0, nothing downloaded, a cache of its own.
    env.update(SSLBOOK_BUDGET="quick", SSLBOOK_OFFLINE="1", SSLBOOK_PROGRESS="0", MPLBACKEND="Agg",
               SSLBOOK_CACHE=str(tmp / "cache"))
    return env


def make_colab(tmp: Path) -> Path:
    """A fresh environment standing for Colab's runtime; returns its python."""
    venv = tmp / "colab"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    here = Path(sysconfig.get_paths()["purelib"])
    preinstalled = tmp / "preinstalled"
    preinstalled.mkdir()
    for entry in here.iterdir():
        name = entry.name.lower()
        if name.startswith(("sslbook", "__editable__")) or name.endswith(".pth"):
            continue
        (preinstalled / entry.name).symlink_to(entry)
    (site / "00-colab-preinstalled.pth").write_text(f"{preinstalled}\n")
    (site / "google" / "colab").mkdir(parents=True)   # a namespace portion: google.protobuf stays importable
    (site / "google" / "colab" / "__init__.py").write_text('"""A stand-in for Colab\'s google.colab module."""\n')
    (site / "zz-google-colab.pth").write_text("import google.colab\n")
    return python


def repository(tmp: Path) -> str:
    """A throw-away git repository of the working tree's files; its git+file URL's file:// part."""
    repo = copy_tree(tmp / "repo")
    git = ["git", "-C", str(repo), "-c", "user.name=ci", "-c", "user.email=ci@localhost"]
    run([*git, "init", "-q"])
    run([*git, "add", "-A"])
    run([*git, "commit", "-q", "-m", "the working tree"])
    return repo.as_uri()


def outputs(nb) -> list[str]:
    """Printed lines and text results of every code cell but the first (the install cell) and the probe."""
    lines = []
    for cell in [c for c in nb.cells if c.cell_type == "code"][1:-1]:
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and out.name == "stdout":
                lines += out.text.splitlines()
            elif out.output_type in ("execute_result", "display_data"):
                lines += str(out.get("data", {}).get("text/plain", "")).splitlines()
    return lines


def probe(nb) -> dict:
    text = "".join(o.get("text", "") for o in [c for c in nb.cells if c.cell_type == "code"][-1].outputs)
    return json.loads(text.split("PROBE ", 1)[1])


def execute(python, nb_path: Path, cwd: Path, tmp: Path, env: dict, tag: str):
    runner = tmp / "runner.py"
    runner.write_text(RUNNER)
    out = tmp / f"{tag}-{nb_path.name}"
    run([str(python), str(runner), str(nb_path), str(out), str(cwd), str(tmp / f"kernels-{tag}-{nb_path.stem}")],
        env={**env, "JUPYTER_PATH": str(tmp / f"kernels-{tag}-{nb_path.stem}")}, cwd=tmp, timeout=900)
    return nbformat.read(out, as_version=4)


def with_probe(src: Path, dest: Path, repo_url: str = "") -> Path:
    nb = nbformat.read(src, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert 'REPO_URL = ""' in first.source and "google.colab" in first.source, "the first cell is not the install cell"
    if repo_url:
        first.source = first.source.replace('REPO_URL = ""', f'REPO_URL = "{repo_url}"')
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    nbformat.write(nb, dest)
    return dest


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("colab")
    python = make_colab(tmp)
    env = {**base_env(tmp), "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PIP_CACHE_DIR": str(tmp / "pip-cache")}
    return tmp, python, env, repository(tmp)


def test_the_fresh_environment_is_colab_without_sslbook(colab):
    tmp, python, env, _ = colab
    seen = json.loads(run([str(python), "-c", "import importlib.util, json, sys, torch, google.protobuf; "
                           "print(json.dumps([importlib.util.find_spec('sslbook') is None, "
                           "'google.colab' in sys.modules, sys.prefix]))"], env=env, cwd=tmp))   # not the repo's folder
    assert seen == [True, True, str(tmp / "colab")]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_alone_on_colab_loads_the_shipped_checkpoints_and_prints_the_same(colab, chapter, tmp_path):
    tmp, python, env, url = colab
    alone = tmp_path / "empty"
    alone.mkdir()
    nb_path = with_probe(ROOT / "chapters" / f"{chapter}.ipynb", alone / f"{chapter}.ipynb", url)
    on_colab = execute(python, nb_path, alone, tmp_path, env, "colab")
    where = probe(on_colab)
    prefix = str(tmp / "colab")
    assert where["colab"] and where["python"].startswith(prefix)
    assert where["sslbook"].startswith(prefix) and where["weights"].startswith(prefix), where   # installed, not the repo
    assert sorted(p.name for p in alone.iterdir()) == [f"{chapter}.ipynb"]   # nothing beside the notebook was needed

    here = with_probe(ROOT / "chapters" / f"{chapter}.ipynb", tmp_path / f"repo-{chapter}.ipynb")
    in_repo = execute(sys.executable, here, ROOT / "chapters", tmp_path, base_env(tmp_path), "repo")
    assert probe(in_repo)["files"] == where["files"]   # the same checkpoint files, byte for byte
    assert not probe(in_repo)["colab"] and probe(in_repo)["sslbook"].startswith(str(ROOT))
    colab_lines, repo_lines = outputs(on_colab), outputs(in_repo)
    assert len(colab_lines) > 10
    assert colab_lines == repo_lines, "\n".join(
        f"colab: {a}\nrepo:  {b}" for a, b in zip(colab_lines, repo_lines) if a != b)
    report = os.environ.get("COLAB_SIMULATION_REPORT")
    if report:
        with open(report, "a") as f:
            f.write(f"== {chapter}: the Colab simulation | the repository ({len(colab_lines)} lines, identical)\n")
            f.writelines(f"{a}  |  {b}\n" for a, b in zip(colab_lines, repo_lines) if any(ch.isdigit() for ch in a))
