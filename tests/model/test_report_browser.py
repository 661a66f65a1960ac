"""The HTML report in a real browser: headless Chromium, driven over the DevTools protocol.

Chromium is Debian's package (``make browser-deps`` installs it when missing); the test
talks to it with a small DevTools client over ``websocket-client``. It checks that the
sections exist, every plot decoded (``naturalWidth > 0``), nothing was logged as an error,
and the page loaded nothing but itself; it saves a full-page screenshot to
``out/test-artifacts/report.png``. The Danish report (rendered in ``i18n.using("da")``) is
opened the same way and must read as Danish: ``lang="da"``, Danish headings and numbers,
none of the English headings.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadmodel import i18n
from leadmodel.report import write_report
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.browser

SECTION_IDS = ("headline", "tiers", "sources", "awareness", "handover", "drivers", "examples")
START_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 60.0
POLL_S = 0.1
INSTALL_TIMEOUT_S = 900
VIEWPORT_WIDTH = 1200
VIEWPORT_HEIGHT = 900
ARTIFACT = REPO_ROOT / "out" / "test-artifacts" / "report.png"
#: Leads explained for the Danish page (the texts are what it tests, not the sample).
DANISH_EXPLAIN_ROWS = 300
#: Headings of the English page, and what the Danish page says instead.
HEADINGS = {
    "Headline: how good is the score?": "Overblik: hvor god er scoren?",
    "Tiers": "Niveauer",
    "Channels: which sources bring good leads": "Kanaler: hvilke kilder giver gode leads",
    "What drives the score": "Hvad driver scoren",
    "Example leads and their reasons": "Eksempler på leads og deres årsager",
    "How to read the points": "Sådan læser du pointene",
}
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
    f"--window-size={VIEWPORT_WIDTH},{VIEWPORT_HEIGHT}",
)


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """Debian's Chromium, installed through ``make browser-deps`` when missing."""
    path = shutil.which("chromium")
    if path is None:
        subprocess.run(
            ["make", "browser-deps"], cwd=REPO_ROOT, check=True, timeout=INSTALL_TIMEOUT_S
        )
        path = shutil.which("chromium")
    assert path, "chromium is still missing after `make browser-deps`"
    return path


@pytest.fixture(scope="module")
def report_path(trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    write_report(trained.result.model, trained.result.test, out, capacity=20)
    return out


@pytest.fixture(scope="module")
def danish_report(trained, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The same report in Danish, and its ``--json`` summary (which stays English)."""
    out = tmp_path_factory.mktemp("report-da") / "rapport.html"
    with i18n.using("da"):
        summary = write_report(
            trained.result.model,
            trained.result.test,
            out,
            capacity=20,
            explain_rows=DANISH_EXPLAIN_ROWS,
        )
        return out, summary.to_json()


class DevTools:
    """A minimal Chrome DevTools Protocol client for one page target."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self._ws = websocket.create_connection(ws_url, timeout=COMMAND_TIMEOUT_S)
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events seen meanwhile are kept."""
        self._next_id += 1
        message_id = self._next_id
        self._ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, event: str, timeout: float = COMMAND_TIMEOUT_S) -> dict[str, Any]:
        """Wait until ``event`` arrives (or has arrived already)."""
        deadline = time.monotonic() + timeout
        for seen in self.events:
            if seen["method"] == event:
                return seen
        while time.monotonic() < deadline:
            message = json.loads(self._ws.recv())
            if "method" in message:
                self.events.append(message)
                if message["method"] == event:
                    return message
        raise TimeoutError(f"no {event} within {timeout} s")

    def close(self) -> None:
        self._ws.close()


@pytest.fixture
def browser(chromium_path: str, tmp_path: Path) -> Iterator[DevTools]:
    """A headless Chromium on a free port, with its first page attached."""
    profile = tmp_path / "profile"
    log = (tmp_path / "chromium.log").open("wb")
    process = subprocess.Popen(
        [chromium_path, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    client = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert process.poll() is None, (tmp_path / "chromium.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(POLL_S)
        port = int(port_file.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as response:
            targets = json.load(response)
        page = next(t for t in targets if t["type"] == "page")
        client = DevTools(page["webSocketDebuggerUrl"])
        yield client
    finally:
        if client is not None:
            client.close()
        process.terminate()
        try:
            process.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


_PAGE_STATE = """JSON.stringify({
  sections: Array.from(document.querySelectorAll('section[id]')).map(s => s.id),
  images: Array.from(document.images).map(i => ({
    alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight})),
  scripts: document.scripts.length,
  links: document.querySelectorAll('link').length,
  title: document.title,
})"""


_TEXTS = """JSON.stringify({
  lang: document.documentElement.lang,
  headings: Array.from(document.querySelectorAll('h1, h2')).map(h => h.textContent.trim()),
  text: document.body.innerText,
})"""


def _evaluate(browser: DevTools, expression: str) -> dict[str, Any]:
    found = browser.call("Runtime.evaluate", expression=expression, returnByValue=True)
    return json.loads(found["result"]["value"])


def _open(browser: DevTools, path: Path) -> dict[str, Any]:
    """Load ``path`` and return its state; asserts nothing was logged as an error and that
    the page fetched nothing but itself and data URIs."""
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.call(f"{domain}.enable")
    browser.call("Page.navigate", url=path.as_uri())
    browser.wait_for("Page.loadEventFired")
    state = _evaluate(browser, _PAGE_STATE)
    errors = [
        e["params"]
        for e in browser.events
        if (
            e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert")
        )
        or e["method"] == "Runtime.exceptionThrown"
        or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert not errors, errors
    requested = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e["method"] == "Network.requestWillBeSent"
    ]
    external = [u for u in requested if not u.startswith(("file://", "data:"))]
    assert not external, f"the report fetched {external}"
    broken = [i["alt"] for i in state["images"] if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"plots that did not render: {broken}"
    assert set(SECTION_IDS) <= set(state["sections"]), state["sections"]
    assert state["scripts"] == 0 and state["links"] == 0
    return state


def test_report_renders_in_chromium(browser: DevTools, report_path: Path, tmp_path: Path) -> None:
    state = _open(browser, report_path)
    assert state["title"].startswith("Lead quality report")
    assert len(state["images"]) >= 8
    texts = _evaluate(browser, _TEXTS)
    assert texts["lang"] == "en"
    assert set(HEADINGS) <= set(texts["headings"]), texts["headings"]

    size = browser.call("Page.getLayoutMetrics")["cssContentSize"]
    shot = browser.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
    )
    png = tmp_path / "report.png"
    png.write_bytes(base64.b64decode(shot["data"]))
    assert png.stat().st_size > 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, ARTIFACT)


def test_danish_report_renders_in_chromium_and_reads_danish(
    browser: DevTools, danish_report: tuple[Path, dict], trained
) -> None:
    path, summary = danish_report
    state = _open(browser, path)
    assert state["title"].startswith("Rapport om leadkvalitet")
    assert len(state["images"]) >= 8
    texts = _evaluate(browser, _TEXTS)
    assert texts["lang"] == "da"
    headings = texts["headings"]
    assert set(HEADINGS.values()) <= set(headings), headings
    left = [h for h in HEADINGS if h in headings or h in texts["text"]]
    assert not left, f"English headings on the Danish page: {left}"
    text = texts["text"]
    # Danish numbers: 1.234 leads, 12,5 % and a decimal comma in the ROC-AUC
    assert re.search(r"ROC-AUC 0,\d{3}", text), "no Danish ROC-AUC in the headline"
    assert re.search(r"\b\d{1,2},\d\s%", text), "no Danish percentage on the page"
    scored = i18n.number(len(trained.result.test), lang="da")  # 1.600: a group separator
    assert f"{scored} leads scoret" in text, text[:300]
    assert "Send leads med en score på" in text  # the hand-over recommendation
    # the --json summary is for machines: the same English in every language
    assert summary["recommendation"].startswith("Pass leads scoring")
