"""Explorers that move without a kernel: frames drawn in advance behind a slider, linked
in the page, so that the rendered book (a static site) can be explored offline."""

from __future__ import annotations

from html import escape as _escape

import ipywidgets as w

from .plots import to_png as _png


def _frame_png(item) -> tuple[bytes, str]:
    picture, html = item() if callable(item) else item
    return (picture if isinstance(picture, bytes) else _png(picture)), html


class FrameExplorer:
    """Precomputed frames behind a slider, linked in the browser, so that the explorer
    moves in the static page without a kernel.

    ``frames`` maps each option to ``(figure or PNG bytes, html)`` (or to a function
    returning one): every frame is drawn once, when the explorer is built, into a
    ``Stack`` whose visible child follows the slider through ``jslink`` (a link that
    lives in the page). Given a dict of such dicts, ``frames`` makes one slider per
    group and toggle buttons choose the group. ``play`` adds a play button.

    >>> import matplotlib.pyplot as plt
    >>> ex = FrameExplorer({"a": (plt.figure(), "first"), "b": (plt.figure(), "second")})
    >>> ex.options, len(ex.stack.children)
    (('a', 'b'), 2)
    """

    def __init__(self, frames: dict, description: str = "option", value=None, play: bool = False,
                 group_description: str = "show"):
        if not isinstance(frames, dict) or not frames:
            raise ValueError("frames must be a non-empty dict mapping an option to (figure, html)")
        if all(isinstance(v, dict) for v in frames.values()):
            self.groups = {g: FrameExplorer(f, description, value, play) for g, f in frames.items()}
            self.options = tuple(frames)
            self.stack = w.Stack([g.ui for g in self.groups.values()], selected_index=0)
            self.control = w.ToggleButtons(options=list(frames), description=group_description)
            self.link = w.jslink((self.control, "index"), (self.stack, "selected_index"))
            self.ui = w.VBox([self.control, self.stack])
            return
        self.groups = None
        self.options = tuple(frames)
        value = self.options[0] if value is None else value
        if value not in frames:
            raise ValueError(f"value must be one of {list(self.options)}, got {value!r}")
        self.frames = {k: _frame_png(v) for k, v in frames.items()}
        # The option's full name heads its frame: the slider's own readout is a fixed-width box that
        # cuts long names off on the page ("SimCLR enc"), so the slider shows none.
        children = [w.VBox([w.HTML(f"<b>{_escape(description)}: {_escape(str(option))}</b>"), w.HTML(html),
                            w.Image(value=png, format="png")])
                    for option, (png, html) in self.frames.items()]
        start = self.options.index(value)
        self.stack = w.Stack(children, selected_index=start)
        self.control = w.SelectionSlider(options=list(self.options), value=value, description=description,
                                         continuous_update=True, readout=False)
        self.link = w.jslink((self.control, "index"), (self.stack, "selected_index"))
        row = [self.control]
        if play:
            self.play = w.Play(min=0, max=len(self.options) - 1, value=start, interval=700)
            w.jslink((self.play, "value"), (self.control, "index"))
            row.insert(0, self.play)
        self.ui = w.VBox([w.HBox(row), self.stack])

    def _repr_mimebundle_(self, **kwargs):
        return self.ui._repr_mimebundle_(**kwargs)
