"""Colab: one setting (the repository URL) gives a launch button per chapter at build time
and an install cell that installs sslbook on Colab only; without it, no button."""
import importlib.util
import sys
import types

import jupytext
import pytest
from jupyter_book.config import get_final_config

ROOT_SPEC = importlib.util.spec_from_file_location("launch", __import__("pathlib").Path(__file__).parents[1] / "book" / "launch.py")
launch = importlib.util.module_from_spec(ROOT_SPEC)
ROOT_SPEC.loader.exec_module(launch)
URL = "https://github.com/example/sslbook"


def sphinx_options(cfg):
    return get_final_config(user_yaml=cfg, cli_config={"latex_individualpages": False}, sourcedir=launch.ROOT)[0]["html_theme_options"]


def test_without_a_repository_url_there_is_no_launch_button():
    opts = sphinx_options(launch.config(""))
    assert not any(opts["launch_buttons"].get(k) for k in ("colab_url", "binderhub_url", "jupyterhub_url"))
    assert not opts.get("use_repository_button")


def test_a_repository_url_gives_colab_buttons_on_that_repository():
    opts = sphinx_options(launch.config(URL + ".git", "main"))
    assert opts["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert opts["repository_url"] == URL and opts["repository_branch"] == "main" and opts["path_to_docs"] == ""


@pytest.mark.parametrize("bad", ["github.com/a/b", "http://github.com/a/b", "https://github.com/a", 'https://x/a/b"'])
def test_a_bad_repository_url_is_refused(bad):
    with pytest.raises(ValueError, match="repo_url must be empty or https://HOST/OWNER/REPO"):
        launch.config(bad)


def test_every_chapter_starts_with_the_same_install_cell(root):
    found = 0
    for md in sorted((root / "chapters").glob("*.md")):
        nb = jupytext.read(md)
        code = [c for c in nb.cells if c.cell_type == "code"]
        if not code:
            continue
        found += 1
        first = code[0]
        assert "colab-install" in first.metadata.get("tags", []), f"{md.name}: the first code cell is not the install cell"
        assert first.source == jupytext.reads(launch.install_cell(""), fmt="md:myst").cells[0].source, md.name
        assert (root / "chapters" / f"{md.stem}.ipynb").is_file(), f"{md.name} has no .ipynb for Colab"
    assert found >= 14


def run_install_cell(monkeypatch, url, on_colab, installed=False):
    calls = []
    monkeypatch.setattr("subprocess.run", lambda args, **kw: calls.append(args))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if installed else None)
    source = jupytext.reads(launch.install_cell(url), fmt="md:myst").cells[0].source
    exec(compile(source, "install-cell", "exec"), {})
    return calls


def test_the_install_cell_does_nothing_off_colab(monkeypatch):
    assert run_install_cell(monkeypatch, URL, on_colab=False) == []
    assert run_install_cell(monkeypatch, URL, on_colab=True, installed=True) == []


def test_the_install_cell_installs_from_the_repository_on_colab(monkeypatch):
    calls = run_install_cell(monkeypatch, URL, on_colab=True)
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", f"sslbook @ git+{URL}"]]
    with pytest.raises(RuntimeError, match="set REPO_URL above"):
        run_install_cell(monkeypatch, "", on_colab=True)


def test_stamping_writes_the_url_once_and_is_idempotent(tmp_path):
    md = tmp_path / "x.md"
    md.write_text("# Title\n\nText.\n\n```{code-cell} ipython3\nx = 1\n```\n")
    assert launch.stamp(md, URL)
    once = md.read_text()
    assert not launch.stamp(md, URL) and md.read_text() == once
    assert once.count("colab-install") == 1 and f'REPO_URL = "{URL}"' in once
    assert once.index("# Title") < once.index("colab-install") < once.index("x = 1")
    launch.stamp(md, "")
    assert 'REPO_URL = ""' in md.read_text() and md.read_text().count("colab-install") == 1


def test_the_written_config_finds_the_local_extensions_from_anywhere():
    for path in launch.config("")["sphinx"]["local_extensions"].values():
        assert __import__("pathlib").Path(path).is_absolute() and (__import__("pathlib").Path(path) / "sslbook_site.py").is_file()
