"""The architecture diagrams: every method draws, its graph is consistent, and its alt text says what
the figure shows (the same stop-gradients, momentum copies and shared weights)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from sslbook import diagrams

METHODS = sorted(diagrams.SPECS)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_the_methods_the_book_introduces_have_a_diagram():
    assert {"simclr", "moco", "byol", "simsiam", "mae", "dino", "ijepa", "clip"} <= set(diagrams.SPECS)


@pytest.mark.parametrize("method", METHODS)
def test_each_diagram_draws_every_box_and_arrow(method):
    spec = diagrams.SPECS[method]
    ax = diagrams.draw(method, legend=False).axes[0]
    assert ax.get_title() == spec["title"]
    assert len(ax.patches) == len(spec["nodes"]) + len(spec["edges"])
    texts = {t.get_text() for t in ax.texts}
    assert {label for label, *_ in spec["nodes"].values()} <= texts


@pytest.mark.parametrize("method", METHODS)
def test_each_graph_is_consistent(method):
    spec = diagrams.SPECS[method]
    nodes = spec["nodes"]
    for label, kind, col, row in nodes.values():
        assert kind in diagrams.KINDS, (method, label)
    for edge in spec["edges"]:
        tail, head, kind = edge[:3]
        assert tail in nodes and head in nodes, (method, edge)
        assert kind in diagrams.EDGES, (method, edge)
        if kind == "ema":                    # a moving average updates a momentum copy, drawn hatched
            assert nodes[head][1] == "momentum", (method, edge)
    momentum = {key for key, (_, kind, *_) in nodes.items() if kind == "momentum"}
    assert momentum == {e[1] for e in spec["edges"] if e[2] == "ema"}, method
    assert sum(kind == "loss" for _, kind, *_ in nodes.values()) == 1, method


@pytest.mark.parametrize("method", METHODS)
def test_the_alt_text_names_what_the_figure_draws(method):
    spec, alt = diagrams.SPECS[method], diagrams.ALT[method]
    assert alt.startswith(spec["title"] + ":")
    kinds = {e[2] for e in spec["edges"]}
    assert ("stop-gradient" in alt) == ("stop" in kinds), method
    assert ("EMA" in alt) == ("ema" in kinds), method
    assert ("shared weights" in alt) == ("shared" in kinds), method


def test_the_stop_gradients_sit_where_the_papers_put_them():
    stops = {m for m, spec in diagrams.SPECS.items() if any(e[2] == "stop" for e in spec["edges"])}
    assert stops == {"moco", "byol", "simsiam", "dino", "ijepa"}


def test_an_unknown_method_is_refused_by_name():
    with pytest.raises(ValueError, match="method.*'swav'"):
        diagrams.draw("swav")


def test_it_draws_into_a_given_axes():
    fig, ax = plt.subplots()
    assert diagrams.draw("clip", ax=ax) is fig


def _drawn_in_chapters(root):
    """(chapter, method, the cell's alt text) for every diagram cell of the chapters."""
    import re

    import jupytext

    found = []
    for page in sorted((root / "chapters").glob("*.md")):
        for c in jupytext.read(page, fmt="md:myst").cells:
            if c.cell_type == "code":
                for method in re.findall(r'diagrams\.draw\("(\w+)"', c.source):
                    found.append((page.name, method, c.metadata.get("mystnb", {}).get("image", {}).get("alt")))
    return found


def test_every_diagram_is_placed_in_a_chapter_with_its_alt_text(root):
    found = _drawn_in_chapters(root)
    assert {method for _, method, _ in found} == set(diagrams.SPECS)
    stale = [(page, method) for page, method, alt in found if alt != diagrams.ALT[method]]
    assert stale == [], f"the alt text of these cells differs from diagrams.ALT (copy it over): {stale}"
