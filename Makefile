# Two commands do everything on a fresh machine:
#   make book   set up .venv from nothing, then build the rendered HTML (_build/html)
#   make test   set up .venv from nothing, then run every test (nbval over every chapter included)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sslbook-installed

# CIFAR-10 for chapter 5: an image-folder tree or a .tar.gz of one. By default the copy in
# ../shared/data when there is one; empty means download it through torchvision, or,
# offline, the chapter's labelled stand-in.
CIFAR10 ?= $(or $(SSLBOOK_CIFAR10),$(wildcard $(abspath ../shared/data/cifar10-jpg.tar.gz)))

.PHONY: setup book test student notebooks bench clean

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's dependencies change.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test]"
	touch $(STAMP)

# Execution is cached in _build/.jupyter_cache; a failing cell or any warning fails the build.
# SSLBOOK_PROGRESS=0: no progress-bar widgets in executed notebooks. MPLBACKEND is unset so that
# the kernels draw figures inline (with MPLBACKEND=Agg the pages would have no figures).
book: $(STAMP)
	env -u MPLBACKEND SSLBOOK_PROGRESS=0 SSLBOOK_CIFAR10=$(CIFAR10) $(VENV)/bin/jupyter-book build . -W -n --keep-going

# Unit and reference tests, the student-copy meta-tests, then nbval over every chapter notebook.
test: $(STAMP)
	MPLBACKEND=Agg SSLBOOK_PROGRESS=0 SSLBOOK_CIFAR10=$(CIFAR10) $(PY) -m pytest tests
	MPLBACKEND=Agg SSLBOOK_PROGRESS=0 SSLBOOK_CIFAR10=$(CIFAR10) $(PY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=300 -p no:cacheprovider chapters

# Student copies: every solution replaced by a stub, written to student/.
student: $(STAMP)
	$(PY) -m sslbook.student chapters student

# Regenerate the .ipynb beside each chapter from its MyST source (.md).
notebooks: $(STAMP)
	$(VENV)/bin/jupytext --to ipynb chapters/*.md

bench: $(STAMP)
	$(PY) benchmarks/concepts.py
	SSLBOOK_CIFAR10=$(CIFAR10) $(PY) benchmarks/cifar10.py

clean:
	rm -rf _build student
