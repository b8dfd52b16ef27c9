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
               if not re.search(rf"^\s*{field}\s*=\s*[{{\"]?\s*\S", block, re.M)]
    assert lacking == []


def test_no_key_is_defined_twice(root):
    text = (root / "book" / "references.bib").read_text()
    keys = re.findall(r"(?m)^@\w+\{([^,\s]+),", text)
    assert len(keys) == len(set(keys))
