"""The bibliography: every work a page cites is in book/references.bib, and every entry
there has a title and a year."""
import re

import pytest

CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


def bib_entries(root):
    text = (root / "book" / "references.bib").read_text()
    entries = {}
    for block in re.split(r"(?m)^(?=@)", text):
        m = re.match(r"@(\w+)\{([^,\s]+),", block)
        if m:
            entries[m.group(2)] = block
    return entries


def test_every_cited_key_is_in_the_bibliography(root):
    keys = set(bib_entries(root))
    missing = []
    for page in [*root.glob("chapters/*.md"), *root.glob("book/*.md")]:
        for group in CITE.findall(page.read_text()):
            missing += [f"{page.name}: {k.strip()}" for k in group.split(",") if k.strip() not in keys]
    assert missing == []


@pytest.mark.parametrize("field", ["title", "year"])
def test_every_entry_has_a_title_and_a_year(root, field):
    lacking = [key for key, block in bib_entries(root).items()
               if not re.search(rf"^\s*{field}\s*=\s*[{{\"]?\s*\S", block, re.MULTILINE)]
    assert lacking == []


def test_no_key_is_defined_twice(root):
    text = (root / "book" / "references.bib").read_text()
    keys = re.findall(r"(?m)^@\w+\{([^,\s]+),", text)
    assert len(keys) == len(set(keys))


def test_every_entry_can_be_found(root):
    """A reader can find every work: a DOI, an arXiv eprint or a URL (a ``url`` field, or
    ``\\url{...}`` in ``howpublished``)."""
    lacking = [key for key, block in bib_entries(root).items()
               if not re.search(r"^\s*(doi|eprint|url)\s*=\s*[{\"]?\s*\S", block, re.MULTILINE | re.IGNORECASE)
               and "\\url{" not in block]
    assert lacking == []


# The article's references (its section 10), by key, with the arXiv id it gives where it gives one.
ARTICLE = {"goodfellow2016deep": None, "chollet2017deep": None, "zhang2023d2l": None,
           "chen2020simclr": "2002.05709", "devlin2019bert": "1810.04805", "he2020moco": "1911.05722"}


@pytest.mark.parametrize("key", ARTICLE)
def test_the_articles_references_are_there(root, key):
    entries = bib_entries(root)
    assert key in entries, f"the article cites {key}, which book/references.bib lacks"
    if ARTICLE[key]:
        assert re.search(rf"^\s*eprint\s*=\s*{{{re.escape(ARTICLE[key])}}}", entries[key], re.MULTILINE)


def test_one_bibliography_directive_in_the_book(root):
    """sphinxcontrib-bibtex warns about duplicates (and the build runs with -W) when two
    pages list the whole bibliography."""
    pages = [p.name for p in [*root.glob("chapters/*.md"), *root.glob("book/*.md")]
             if "```{bibliography}" in p.read_text()]
    assert pages == ["10_references.md"]
