# Two commands do everything on a fresh machine:
#   make book   set up .venv from nothing, then build the rendered HTML (_build/html)
#   make test   set up .venv from nothing, then run every test (nbval over every chapter included)
# SEED=N shifts every seed in the book (SSLBOOK_SEED): `make book` uses SEED=0 unless told,
# the chapter pass of `make test` SEED=1, so that together they check two seeds.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sslbook-installed

# CIFAR-10 for chapter 5: an image-folder tree or a .tar.gz of one. By default the copy in
# ../shared/data when there is one; empty means download it through torchvision, or,
# offline, the chapter's labelled stand-in.
CIFAR10 ?= $(or $(SSLBOOK_CIFAR10),$(wildcard $(abspath ../shared/data/cifar10-jpg.tar.gz)))

.PHONY: setup assets book test site-test student notebooks wheel bench clean

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's dependencies change.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test]"
	touch $(STAMP)

# Front-end files the site serves itself instead of loading them from a CDN at read time:
# MathJax 3 and the Jupyter widgets HTML manager, at the exact versions of package-lock.json,
# from the npm registry, copied to _vendor/ (Sphinx publishes it under _static/).
VENDOR := _vendor
MJ     := node_modules/mathjax/es5
WM     := node_modules/@jupyter-widgets/html-manager/dist

assets: $(VENDOR)/.stamp

$(VENDOR)/.stamp: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR)
	mkdir -p $(VENDOR)/mathjax/output/chtml $(VENDOR)/widgets
	cp $(MJ)/tex-mml-chtml.js $(VENDOR)/mathjax/
	cp -r $(MJ)/input $(MJ)/ui $(MJ)/a11y $(VENDOR)/mathjax/
	cp -r $(MJ)/output/chtml/fonts $(VENDOR)/mathjax/output/chtml/
	cp $(WM)/embed.js $(WM)/*.woff $(WM)/*.woff2 $(WM)/*.ttf $(WM)/*.eot $(WM)/*.svg $(VENDOR)/widgets/
	touch $@

# One build folder per configuration: the budget and the data source are part of what is
# cached (jupyter-cache keys a notebook on its code only), so a build never shows another
# configuration's numbers. _build/html points at the latest build.
# A failing cell or any warning fails the build.
# SSLBOOK_PROGRESS=0: no progress-bar widgets in executed notebooks. MPLBACKEND is unset so that
# the kernels draw figures inline (with MPLBACKEND=Agg the pages would have no figures).
# The book's repository (https://github.com/OWNER/REPO), the one setting behind the Colab
# launch buttons (`make book`) and the Colab install cells (`make notebooks`); empty: none.
REPO_URL    ?= $(SSLBOOK_REPO_URL)
REPO_BRANCH ?= main
BUDGET := $(or $(SSLBOOK_BUDGET),quick)
SOURCE := $(if $(CIFAR10),cifar10-$(notdir $(CIFAR10)),$(if $(filter 1 yes true on,$(SSLBOOK_OFFLINE)),stand-in,download))
SEED   ?= $(SSLBOOK_SEED)
BOOK_SEED := $(or $(SEED),0)
TEST_SEED := $(or $(SEED),1)
CONFIG := $(BUDGET)-$(SOURCE)$(if $(filter-out 0,$(BOOK_SEED)),-seed$(BOOK_SEED))
book: $(STAMP) $(VENDOR)/.stamp
	$(PY) book/launch.py config --repo-url "$(REPO_URL)" --branch "$(REPO_BRANCH)" --out _build/$(CONFIG)/_config.yml
	env -u MPLBACKEND SSLBOOK_PROGRESS=0 SSLBOOK_BUDGET=$(BUDGET) SSLBOOK_CIFAR10=$(CIFAR10) SSLBOOK_SEED=$(BOOK_SEED) \
	  $(VENV)/bin/jupyter-book build . --config _build/$(CONFIG)/_config.yml --path-output _build/$(CONFIG) -W -n --keep-going
	rm -rf _build/html && ln -s $(CONFIG)/_build/html _build/html
	@echo "book ($(CONFIG)): _build/html -> _build/$(CONFIG)/_build/html"

# Unit and reference tests and the student-copy meta-tests; then the chapter pass: nbval over every
# chapter's MyST source with SSLBOOK_SEED=$(TEST_SEED), each exercise run as the student's stub (its check must
# say "not answered yet") and then as its solution (its check must pass): one execution per chapter
# (tests/chapter_plugin.py).
test: $(STAMP)
	MPLBACKEND=Agg SSLBOOK_PROGRESS=0 SSLBOOK_CIFAR10=$(CIFAR10) $(PY) -m pytest tests --ignore=tests/site
	MPLBACKEND=Agg SSLBOOK_PROGRESS=0 SSLBOOK_CIFAR10=$(CIFAR10) SSLBOOK_SEED=$(TEST_SEED) $(PY) -m pytest \
	  -p tests.chapter_plugin --nbval-current-env --nbval-cell-timeout=300 -p no:cacheprovider chapters

# Student copies: every solution replaced by a stub, written to student/.
student: $(STAMP)
	$(PY) -m sslbook.student chapters student

# Regenerate the .ipynb beside each chapter from its MyST source (.md), with REPO_URL in the
# first cell (it installs sslbook from there on Colab, and nowhere else). The .ipynb carry no outputs.
notebooks: $(STAMP)
	$(PY) book/launch.py stamp --repo-url "$(REPO_URL)" $(filter-out chapters/10_references.md,$(wildcard chapters/*.md))
	$(VENV)/bin/jupytext --to ipynb $(filter-out chapters/10_references.md,$(wildcard chapters/*.md))

# The package as a wheel (and its sdist, from which the wheel is built) in _build/dist/: every module,
# the exercise checkers and the checkpoints the chapters load (sslbook/weights/, package data);
# tests/test_wheel.py checks its contents. No build isolation: the setuptools of .venv, no network.
wheel: $(STAMP)
	$(PY) -m build --no-isolation --outdir _build/dist .

# The built site in a real browser (Debian's Chromium driven by Playwright), every outside
# host blocked: formulas typeset, no failed request, no console error, explorers that move.
site-test: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider tests/site

bench: $(STAMP)
	$(PY) benchmarks/chapter_times.py
	$(PY) benchmarks/concepts.py
	SSLBOOK_CIFAR10=$(CIFAR10) $(PY) benchmarks/cifar10.py
	SSLBOOK_CIFAR10=$(CIFAR10) $(PY) benchmarks/distributed.py

clean:
	rm -rf _build student $(VENDOR)
