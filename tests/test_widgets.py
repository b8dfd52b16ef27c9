"""sslbook.widgets: the explorers react to their controls and reject bad input."""
import ipywidgets
import numpy as np
import pytest

from sslbook import train, widgets


def two_blobs(n=40):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    return rng.normal(size=(n, 5)) + np.where(y == 1, 6.0, -6.0)[:, None], y



def test_cluster_explorer_reacts_to_its_controls():
    x, y = two_blobs()
    rng = np.random.default_rng(1)
    ex = widgets.cluster_explorer({"blobs": x, "noise": rng.normal(size=x.shape)}, y, max_k=6)
    assert ex.k.value == 2 and ex.nmi == pytest.approx(1.0)
    assert "NMI = <b>1.000</b>" in ex.summary.value
    first = ex.image.value
    assert first[:4] == b"\x89PNG"
    ex.which.value = "noise"
    assert ex.nmi < 0.3 and ex.image.value != first
    ex.projection.value = "tsne"
    assert ("noise", "tsne") in ex._points
    ex.k.value = 5
    assert "k = 5" in ex.summary.value
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()



def test_cluster_explorer_rejects_bad_input():
    x, y = two_blobs()
    with pytest.raises(ValueError, match="non-empty dict"):
        widgets.cluster_explorer({}, y)
    with pytest.raises(ValueError, match=r"features\['a'\] has 39 rows but labels has 40"):
        widgets.cluster_explorer({"a": x[:-1]}, y)
    with pytest.raises(ValueError, match="max_k"):
        widgets.cluster_explorer({"a": x}, y, max_k=1)



def test_temperature_explorer_concentrates_weight_at_low_temperature():
    ex = widgets.TemperatureExplorer([0.9, 0.8, 0.1, -0.2, 0.0], value=1.0)
    high = ex.hardest_share
    ex.temperature.value = 0.02
    assert ex.hardest_share > 0.99 > high and "t = 0.02" in ex.summary.value
    assert ex.weights(0.5).sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="similarities"):
        widgets.TemperatureExplorer([0.5])
    with pytest.raises(ValueError, match="value must be one of"):
        widgets.TemperatureExplorer([0.5, 0.1], value=0.3)



def test_margin_explorer_separates_groups_by_about_the_margin():
    small = train.margin_toy(0.25)[1]
    ex = widgets.MarginExplorer(value=0.5)
    assert ex.min_negative_distance == pytest.approx(0.5, abs=0.05)
    ex.margin.value = 2.0
    assert ex.min_negative_distance == pytest.approx(2.0, abs=0.05) and ex.final_loss < 1e-3
    assert small.shape == (24, 2)
    with pytest.raises(ValueError, match="margin"):
        train.margin_toy(-1.0)



def test_result_browser_and_augmentation_chooser():
    import matplotlib.pyplot as plt

    calls = []
    browser = widgets.ResultBrowser({1: (plt.figure(), "one"), 2: lambda: (calls.append(2) or plt.figure(), "two")})
    assert browser.summary.value == "one" and not calls
    browser.option.value = 2
    assert browser.summary.value == "two" and calls == [2]
    browser.option.value = 1
    browser.option.value = 2
    assert calls == [2]  # cached

    trained = []

    def run(names):
        trained.append(names)
        return {"shape": 0.9, "colour": 0.1}

    chooser = widgets.AugmentationChooser({"geometric": True, "colour": False}, run,
                                          results={("geometric",): {"shape": 0.2, "colour": 0.6}})
    assert "clusters by <b>colour</b>" in chooser.summary.value and not trained
    chooser.boxes["colour"].value = True
    assert "not trained yet" in chooser.summary.value
    chooser.button.click()
    assert trained == [("colour", "geometric")] and "clusters by <b>shape</b>" in chooser.summary.value
    with pytest.raises(ValueError, match="run must be a function"):
        widgets.AugmentationChooser({"a": True}, run=None)



def test_frame_explorer_links_its_controls_in_the_page():
    import ipywidgets as w
    import matplotlib.pyplot as plt

    ex = widgets.FrameExplorer({"a": (plt.figure(), "first"), "b": (b"\x89PNG", "second")}, play=True)
    assert ex.options == ("a", "b") and ex.stack.selected_index == 0
    assert isinstance(ex.link, w.widgets.widget_link.Link)
    assert ex.link.source == (ex.control, "index") and ex.link.target == (ex.stack, "selected_index")
    grouped = widgets.FrameExplorer({"g1": {"x": (plt.figure(), "1")}, "g2": {"y": (plt.figure(), "2")}})
    assert grouped.options == ("g1", "g2") and len(grouped.stack.children) == 2
    # Each frame is headed by its option's full name; the slider's fixed-width readout, which cut long
    # names off on the page, is off.
    named = widgets.FrameExplorer({"SimCLR encoder": (b"\x89PNG", "x"), "random-init <b>": (b"\x89PNG", "y")},
                                  description="features")
    assert named.control.readout is False
    assert [c.children[0].value for c in named.stack.children] == [
        "<b>features: SimCLR encoder</b>", "<b>features: random-init &lt;b&gt;</b>"]
    with pytest.raises(ValueError, match="value must be one of"):
        widgets.FrameExplorer({"a": (plt.figure(), "")}, value="z")
    with pytest.raises(ValueError, match="frames must be a non-empty dict"):
        widgets.FrameExplorer({})


def frames_of(static):
    return [child.children[-1].value for child in static.stack.children]


def test_static_explorers_hold_one_distinct_frame_per_option_and_restore_the_control():
    temperature = widgets.TemperatureExplorer([0.9, 0.8, 0.1, -0.2], temperatures=(0.05, 0.5, 2.0), value=0.5)
    static = temperature.static()
    assert static.options == ("0.05", "0.5", "2.0") and static.control.value == "0.5"
    assert len(set(frames_of(static))) == 3                     # every option draws its own picture
    assert temperature.temperature.value == 0.5                 # the live explorer is left as it was
    assert static.link.source == (static.control, "index")      # moved in the page, not by Python

    clusters = widgets.ClusterExplorer({"start": np.random.rand(30, 4), "end": np.random.rand(30, 4)},
                                       np.arange(30) % 3)
    played = clusters.static(clusters.which, play=True)
    assert played.options == ("start", "end") and hasattr(played, "play")
    assert len(set(frames_of(played))) == 2

    margin = widgets.MarginExplorer(margins=(0.5, 1.0), value=1.0, steps=5)
    assert len(set(frames_of(margin.static()))) == 2


def test_a_static_explorer_leaves_no_picture_in_the_live_one_until_it_is_displayed():
    temperature = widgets.TemperatureExplorer([0.9, 0.8, 0.1, -0.2], temperatures=(0.05, 0.5), value=0.5)
    drawn = bytes(temperature.image.value)
    static = temperature.static()
    assert drawn and temperature.image.value == b""          # the page does not carry it twice
    bundle = temperature._repr_mimebundle_()
    assert bytes(temperature.image.value) == drawn and "application/vnd.jupyter.widget-view+json" in bundle
    assert bytes(static.stack.children[1].children[-1].value) == drawn   # 0.5's frame is that picture


def test_static_chooser_shows_the_trained_settings():
    chooser = widgets.AugmentationChooser({"colour": True, "crop": False}, run=lambda names: {"shape": 0.5},
                                          results={("colour",): {"shape": 0.9, "colour": 0.1},
                                                   (): {"shape": 0.2, "colour": 0.8}})
    static = chooser.static()
    assert static.options == ("colour", "no augmentation")
    assert chooser.chosen == ("colour",)
    with pytest.raises(ValueError, match="nothing to show"):
        widgets.AugmentationChooser({"a": False}, run=lambda n: {}).static()


def test_static_rejects_a_control_that_is_not_the_explorers():
    ex = widgets.TemperatureExplorer([0.9, 0.1])
    with pytest.raises(ValueError, match="control"):
        ex.static(ipywidgets.IntSlider())
