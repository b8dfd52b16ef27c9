"""The built site in a real browser, with every outside host blocked.

Run after ``make book`` (``make site-test``; ``.ci/run`` does both). Debian's Chromium
(``apt-get install -y chromium``) is driven by Playwright from PyPI; no browser is ever
downloaded. ``_build/html`` is served on 127.0.0.1; a request to any other host is aborted
and counted. For every page of the book: no request leaves the machine, none fails, the
console shows no error and no script throws, the formulas are typeset by the site's own MathJax, the widgets
of every explorer render from the site's own widget manager, and moving the control of
every kernel-free explorer changes the frame shown (and so does its play button, where it
has one); code fits the page width and each cell's printed lines sit in one box. A screenshot of each page is saved
under ``_build/screenshots/``.
"""
from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
#: The most widget state (saved explorer frames) one page may carry, in bytes.
STATE_CAP = 3_000_000
#: The theme logs this one console error of its own on every page (pydata-sphinx-theme).
KNOWN_CONSOLE = ("Got invalid theme mode",)
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium") or "") if p and Path(p).exists()),
                None)


def pages() -> list[str]:
    """Every page of the table of contents, as a path under the site (``chapters/05_cifar10``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = [toc["root"]]

    def walk(items):
        for item in items or []:
            if "file" in item:
                found.append(item["file"])
            walk(item.get("sections"))
            walk(item.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return found


def source_has_math(page: str) -> bool:
    text = (ROOT / f"{page}.md").read_text()
    return bool(re.search(r"\$[^$\n]+\$|\$\$|\{math\}", text))


@pytest.fixture(scope="module")
def server():
    if not (SITE / "index.html").is_file():
        pytest.fail(f"no built site at {SITE}: run `make book` first (`make site-test` follows it in .ci/run)")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *a, **k: None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("Chromium is missing: `apt-get install -y chromium` (Debian); .ci/run installs it when missing")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--no-sandbox"])
        yield b
        b.close()


@pytest.mark.parametrize("page", pages())
def test_page_works_offline(page, server, browser):
    html_file = SITE / f"{page}.html"
    assert html_file.is_file(), f"{html_file} was not built"
    html = html_file.read_text()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside, failed, errors = [], [], []

    def route(r):
        if urlparse(r.request.url).hostname not in ("127.0.0.1", None):
            outside.append(r.request.url)
            return r.abort()
        return r.continue_()
    context.route("**/*", route)
    tab = context.new_page()
    tab.on("requestfailed", lambda req: failed.append(req.url) if "127.0.0.1" in req.url else None)
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
           and not any(k in msg.text for k in KNOWN_CONSOLE) else None)
    tab.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))   # a script that threw
    tab.goto(f"{server}/{page}.html", wait_until="load")
    tab.wait_for_load_state("networkidle")

    assert outside == [], f"{page}: requests to outside hosts (blocked): {outside[:5]}"
    assert failed == [], f"{page}: failed requests: {failed[:5]}"

    if source_has_math(page):
        tab.wait_for_selector("mjx-container", timeout=20_000)
        assert tab.locator("mjx-merror").count() == 0, f"{page}: MathJax reports an error"
        text = tab.inner_text("main")
        assert "\\(" not in text and "\\[" not in text, f"{page}: raw TeX left on the page"

    if "application/vnd.jupyter.widget-state+json" in html:
        state = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', html, re.DOTALL)
        assert state and len(state.group(1)) <= STATE_CAP, f"{page}: widget state over {STATE_CAP:,} bytes"
        tab.wait_for_selector(".jupyter-widgets", timeout=20_000)
        assert tab.locator(".jupyter-widgets").count() > 0, f"{page}: explorers did not render"
        check_frame_explorers(tab, page, html)

    check_no_error_output(tab, page, html)
    check_layout(tab, page)
    assert errors == [], f"{page}: console errors: {errors[:5]}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{page.replace('/', '_')}.png"))
    context.close()


#: How myst-nb renders a cell that raised (``output traceback``) and the head of a Python traceback.
ERROR_MARKS = ('class="output traceback', "Traceback (most recent call last)")


def check_no_error_output(tab, page: str, html: str) -> None:
    """A page never shows a cell that failed: no traceback box, no error output and no printed
    traceback (a build that tolerated a failing notebook would still pass every other check)."""
    found = [mark for mark in ERROR_MARKS if mark in html]
    assert not found, f"{page}: the page shows an error output ({found[0]!r})"
    boxes = tab.locator("div.output.traceback, div.output.error, .cell_output .traceback")
    assert boxes.count() == 0, f"{page}: {boxes.count()} error output(s) on the page"
    stderr = tab.locator("div.output.stderr")
    for i in range(stderr.count()):
        text = stderr.nth(i).inner_text()
        assert "Error" not in text and "Traceback" not in text, f"{page}: an error printed to stderr: {text[:300]}"


def check_frame_explorers(tab, page: str, html: str) -> None:
    """Every explorer on the page is a slider over frames drawn in advance (a ``Stack``
    shows only the selected frame); moving the slider with the keyboard changes the
    picture, with no kernel behind the page."""
    if "SelectionSliderModel" not in html:
        return
    handles = tab.locator(".noUi-handle")
    assert handles.count() > 0, f"{page}: an explorer's slider is in the saved state but not on the page"
    for i in range(handles.count()):
        handle = handles.nth(i)
        if not handle.is_visible():
            continue                     # a slider of a group that is not selected
        explorer = handle.locator("xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '),"
                                  " ' widget-vbox ')][1]")
        handle.scroll_into_view_if_needed()
        before = picture(explorer)
        assert before, f"{page}: explorer {i} shows no picture"
        for key in ("ArrowRight", "ArrowLeft", "ArrowLeft"):      # the first frame may be the last one
            handle.focus()
            handle.press(key)
            tab.wait_for_timeout(300)
            if picture(explorer) != before:
                break
        assert picture(explorer) != before, f"{page}: explorer {i}: moving the slider did not change the picture"
        if explorer.locator(".widget-play").count():
            check_play(tab, page, explorer, i)


def check_layout(tab, page: str) -> None:
    """Code fits the page width (long lines wrap), and every cell's printed lines sit in
    one output box (not one box per line when glue() calls come between the prints)."""
    wide = tab.evaluate("""() => [...document.querySelectorAll('div.cell_input pre')]
        .filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.innerText.slice(0, 60))""")
    assert wide == [], f"{page}: code wider than the page: {wide[:3]}"
    split = tab.evaluate("""() => [...document.querySelectorAll('div.cell_output')]
        .filter(o => o.querySelectorAll(':scope > div.output.stream').length > 1)
        .map(o => o.innerText.slice(0, 60))""")
    assert split == [], f"{page}: printed output split into several boxes: {split[:3]}"


def check_play(tab, page: str, explorer, i: int) -> None:
    """A play button steps through the frames by itself."""
    buttons = explorer.locator(".widget-play button")          # play, pause, stop
    before = picture(explorer)
    buttons.nth(0).click()
    for _ in range(20):
        tab.wait_for_timeout(250)
        if picture(explorer) != before:
            break
    buttons.nth(1).click()
    assert picture(explorer) != before, f"{page}: explorer {i}: pressing play did not change the picture"


def picture(explorer) -> str:
    imgs = explorer.locator("img")
    for j in range(imgs.count()):
        if imgs.nth(j).is_visible():
            return (imgs.nth(j).get_attribute("src") or "")[-300:]
    return ""
