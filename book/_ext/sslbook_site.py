"""Small fixes to the rendered pages: a local Sphinx extension, loaded by ``_config.yml``
(``sphinx.local_extensions``).

- Jupyter Book 1 registers sphinx-thebe's inline configuration twice on some builds; the second
  copy re-declares a ``const`` and the browser reports an error. Each page keeps one copy of
  every script.
- ``sslbook.js`` (in ``book/static``) makes the theme's icons and the widgets' play buttons
  agree, and lets the widgets typeset with the site's MathJax 3 (see the file).
"""
from __future__ import annotations


def _one_copy_of_each_script(app, pagename, templatename, context, doctree) -> None:
    seen, kept = set(), []
    for script in context.get("script_files", []):
        attributes = getattr(script, "attributes", {})
        # An inline script is registered with the file name None by some extensions and "" by others.
        key = (str(getattr(script, "filename", script) or ""), attributes.get("body"), attributes.get("src"))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.add_js_file("sslbook.js", priority=100)
    app.connect("html-page-context", _one_copy_of_each_script, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
