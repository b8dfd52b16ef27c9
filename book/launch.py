"""Colab launch buttons and install cells, from one setting: the book's repository URL.

``make book REPO_URL=https://github.com/OWNER/REPO`` adds a Colab launch button to every
chapter (each opens the chapter's ``.ipynb`` from that repository, branch ``REPO_BRANCH``);
without a URL there is no button and no warning. ``make notebooks REPO_URL=...`` writes the
same URL into the first code cell of every chapter, which installs ``sslbook`` from the
repository when, and only when, the notebook runs on Colab.

    python book/launch.py config --repo-url URL --branch main --out _build/x/_config.yml
    python book/launch.py stamp --repo-url URL chapters/*.md
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parents[1]
COLAB = "https://colab.research.google.com"
MARK = "# On Colab only:"

INSTALL_CELL = '''```{{code-cell}} ipython3
:tags: [remove-cell, colab-install]

{mark} install the book's package, sslbook. Anywhere else this cell does nothing.
import importlib.util
import subprocess
import sys

REPO_URL = "{url}"  # the book's repository: `make notebooks REPO_URL=...` writes it here
if "google.colab" in sys.modules and importlib.util.find_spec("sslbook") is None:
    if not REPO_URL:
        raise RuntimeError("This copy does not say where the book's repository is: set REPO_URL above "
                           "to its URL (https://github.com/OWNER/REPO) and run this cell again.")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", f"sslbook @ git+{{REPO_URL}}"], check=True)
```
'''
CELL_RE = re.compile(r"```\{code-cell\} ipython3\n:tags: \[remove-cell, colab-install\]\n.*?\n```\n", re.DOTALL)


def check_url(repo_url: str) -> str:
    """``repo_url`` as given when it is empty or an https URL with an owner and a name."""
    if repo_url == "":
        return repo_url
    u = urlparse(repo_url)
    if u.scheme != "https" or not u.netloc or len([p for p in u.path.split("/") if p]) < 2 or '"' in repo_url:
        raise ValueError(f"repo_url must be empty or https://HOST/OWNER/REPO, got {repo_url!r}")
    return repo_url.rstrip("/").removesuffix(".git")


def install_cell(repo_url: str = "") -> str:
    """The first code cell of every chapter, as MyST text."""
    return INSTALL_CELL.format(mark=MARK, url=check_url(repo_url))


def stamp(path: Path, repo_url: str = "") -> bool:
    """Write the install cell (with ``repo_url``) into the chapter at ``path``: replace the
    one there, or put it under the chapter's title. Returns whether the file changed."""
    text = path.read_text()
    cell = install_cell(repo_url)
    if CELL_RE.search(text):
        new = CELL_RE.sub(lambda _m: cell, text, count=1)
    elif "```{code-cell}" in text and (title := re.search(r"^# .*\n\n", text, re.MULTILINE)):
        new = text[:title.end()] + cell + "\n" + text[title.end():]
    else:
        return False
    if new != text:
        path.write_text(new)
    return new != text


def config(repo_url: str = "", branch: str = "main", base: Path = ROOT / "_config.yml") -> dict:
    """The book's ``_config.yml``, plus a repository and a Colab launch button when
    ``repo_url`` is given (Jupyter Book points buttons at its own repository otherwise)."""
    cfg = yaml.safe_load(base.read_text())
    # Jupyter Book reads these paths relative to the config file, which is written elsewhere.
    extensions = cfg.get("sphinx", {}).get("local_extensions") or {}
    for name, path in extensions.items():
        extensions[name] = str((base.parent / path).resolve())
    repo_url = check_url(repo_url)
    if repo_url:
        if not re.fullmatch(r"[A-Za-z0-9._/-]+", branch or ""):
            raise ValueError(f"branch must be a git branch name, got {branch!r}")
        cfg["repository"] = {"url": repo_url, "branch": branch, "path_to_book": ""}
        cfg["launch_buttons"] = {"colab_url": COLAB, "notebook_interface": "classic"}
        cfg.setdefault("html", {})["use_repository_button"] = True
    return cfg


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("config", help="write the build's _config.yml")
    c.add_argument("--repo-url", default="")
    c.add_argument("--branch", default="main")
    c.add_argument("--out", required=True, type=Path)
    s = sub.add_parser("stamp", help="write the install cell into chapters")
    s.add_argument("--repo-url", default="")
    s.add_argument("chapters", nargs="+", type=Path)
    args = p.parse_args(argv)
    try:
        if args.what == "config":
            cfg = config(args.repo_url, args.branch)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(yaml.safe_dump(cfg, sort_keys=False))
        else:
            for path in args.chapters:
                stamp(path, args.repo_url)
    except ValueError as e:
        p.error(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
