"""The book's build: every configuration (budget, data source) has its own build folder and
execution cache, so a build never shows another configuration's numbers; the site's
front-end files come from the npm lock file, not from a CDN."""
import json
import re
import shutil
import subprocess

import pytest


def planned_build(root, **env):
    """The jupyter-book command `make book` would run with these settings (dry run)."""
    args = ["make", "-n", "-C", str(root), "book"] + [f"{k}={v}" for k, v in env.items()]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if "jupyter-book build" in line)
    return re.search(r"--path-output (\S+)", line).group(1)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_budget_and_data_source_get_their_own_build_folder(root):
    quick = planned_build(root, SSLBOOK_BUDGET="quick", CIFAR10="/data/cifar10-jpg.tar.gz")
    full = planned_build(root, SSLBOOK_BUDGET="full", CIFAR10="/data/cifar10-jpg.tar.gz")
    stand_in = planned_build(root, SSLBOOK_BUDGET="quick", CIFAR10="", SSLBOOK_OFFLINE="1")
    download = planned_build(root, SSLBOOK_BUDGET="quick", CIFAR10="", SSLBOOK_OFFLINE="0")
    assert len({quick, full, stand_in, download}) == 4
    assert "quick" in quick and "full" in full and "stand-in" in stand_in and "download" in download


def test_site_assets_are_pinned_by_the_lock_file(root):
    package = json.loads((root / "package.json").read_text())
    lock = json.loads((root / "package-lock.json").read_text())
    for name, version in package["devDependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} must be pinned exactly, got {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    config = (root / "_config.yml").read_text()
    assert "mathjax_path: mathjax/tex-mml-chtml.js" in config and "widgets/embed.js" in config
    assert not re.search(r"https?://\S*(cdn|unpkg|jsdelivr)", config, re.IGNORECASE)


def test_each_page_keeps_one_copy_of_every_script(root):
    import importlib.util
    spec = importlib.util.spec_from_file_location("sslbook_site", root / "book" / "_ext" / "sslbook_site.py")
    site = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(site)
    from sphinx.builders.html._assets import _JavaScript
    thebe = _JavaScript(None, body='const THEBE_JS_URL = "x"')
    again = _JavaScript("", body='const THEBE_JS_URL = "x"')     # the same inline script, registered again
    context = {"script_files": [_JavaScript("a.js"), thebe, _JavaScript("b.js"), again, _JavaScript("a.js", defer="")]}
    site._one_copy_of_each_script(None, "page", "page.html", context, None)
    assert [str(s) for s in context["script_files"]] == [str(_JavaScript("a.js")), str(thebe), str(_JavaScript("b.js"))]
    assert "local_extensions" in (root / "_config.yml").read_text()
    assert "autoReplaceSvg" in (root / "book" / "static" / "sslbook.js").read_text()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_book_seed_gets_its_own_build_folder_and_reaches_the_kernels(root):
    default = planned_build(root, CIFAR10="/data/c.tar.gz")
    seed2 = planned_build(root, CIFAR10="/data/c.tar.gz", SEED="2")
    assert default != seed2 and seed2.endswith("-seed2")
    book = subprocess.run(["make", "-n", "-C", str(root), "book", "SEED=2"], capture_output=True, text=True).stdout
    assert "SSLBOOK_SEED=2" in book
    test = subprocess.run(["make", "-n", "-C", str(root), "test"], capture_output=True, text=True).stdout
    chapter_pass = next(line for line in test.splitlines() if "SSLBOOK_SEED=" in line)
    assert "SSLBOOK_SEED=1" in chapter_pass        # make test checks the other seed than make book


def test_the_readme_jupyter_command_exists(root):
    """README, "Run it in Jupyter": `.venv/bin/jupyter lab chapters/` after `make setup`."""
    import sys
    from pathlib import Path
    assert "jupyter lab chapters/" in (root / "README.md").read_text()
    jupyter = Path(sys.executable).parent / "jupyter"
    proc = subprocess.run([str(jupyter), "lab", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and re.match(r"\d+\.\d+", proc.stdout.strip()), proc.stderr
