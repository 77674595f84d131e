"""Helpers of the browser and end-to-end tests: the demo as a separate server process with its log, Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Every browser test module's marks; Gradio's queue sets pandas options that pandas 3 deprecates (its warnings only)
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
_URL = re.compile(r"^\* UI:\s+(http://\S+)", re.M)
# What a clean server log never holds: a traceback, or a record logged at ERROR or CRITICAL (our format
# "ERROR name: ..." and uvicorn's "ERROR:    ...").
_PROBLEM = re.compile(r"Traceback \(most recent call last\)|^(ERROR|CRITICAL)[: ]", re.M)

LIVE: list["ServerProcess"] = []  # every server started by the tests, for the log check around each test


def ensure_chromium() -> str:
    """Debian's chromium (and CJK fonts), installed with apt-get when missing and we are root."""
    if not os.path.exists(CHROMIUM) and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run("apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk", shell=True,
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium fonts-noto-cjk)")
    return CHROMIUM


class ServerProcess:
    """A demo server in its own process on a free loopback port; stdout and stderr go to one log file.

    Args:
        args: the command after the Python interpreter (e.g. ``["demo.py", "--port", "0"]``).
        log_path: where the server's output goes.
        timeout: seconds to wait for the server to print its URL.
        env: more environment variables of the server (e.g. HYBRID_API_KEY).
    """

    def __init__(self, args: list[str], log_path: Path, timeout: float = 180.0,
                 env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
        self._log = open(log_path, "w", encoding="utf-8")
        self.process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            found = _URL.search(self.log())
            if found:
                self.url = found.group(1)
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the demo server did not start:\n{self.log()[-4000:]}")
            time.sleep(0.2)
        LIVE.append(self)

    def log(self) -> str:
        """Everything the server wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def problems(self, since: int = 0) -> list[str]:
        """Log excerpts after character ``since`` that show an exception or an error record."""
        text = self.log()[since:]
        return [text[max(m.start() - 200, 0): m.start() + 1500] for m in _PROBLEM.finditer(text)]

    def stop(self) -> None:
        """Terminate the server and close its log."""
        if self in LIVE:
            LIVE.remove(self)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


# ------------------------------------------------------------------ acting on the page as a visitor

TIMEOUT_MS = 90_000  # the first embedding of a knowledge base on a busy two-core machine


IDLE_S = 0.3  # no queue request started or ended for this long, and no join unanswered: the page is quiet
# ... and, while the session's event stream is still open, this long: an event is still running (a long one keeps
# the stream open), and the stream closes in the instant it ends; a click joined in that instant is lost (``idle``)
STREAM_IDLE_S = 2.0


class _QueueTraffic:
    """The page's Gradio queue requests: ``queue/join`` (one per event) and ``queue/data`` (the event stream,
    open while the session has an event pending) in flight, and when the last one started or ended."""

    def __init__(self, page) -> None:
        self.in_flight: dict[object, str] = {}
        self.last_change = time.monotonic()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    @staticmethod
    def _queued(request) -> bool:
        return "/queue/join" in request.url or "/queue/data" in request.url

    def _started(self, request) -> None:
        if self._queued(request):
            self.in_flight[request] = request.url
            self.last_change = time.monotonic()

    def _ended(self, request) -> None:
        if self._queued(request):
            self.in_flight.pop(request, None)
            self.last_change = time.monotonic()

    def joining(self) -> int:
        """Joins not answered yet."""
        return sum("/queue/join" in url for url in self.in_flight.values())

    def streaming(self) -> bool:
        """Whether the session's event stream (``queue/data``) is open."""
        return any("/queue/data" in url for url in self.in_flight.values())

    def quiet_for(self) -> float:
        """Seconds since a queue request last started or ended."""
        return time.monotonic() - self.last_change


def idle(page, timeout_s: float = TIMEOUT_MS / 1000) -> None:
    """Wait until the page is quiet: every event's join answered and no queue request started or ended for
    ``IDLE_S``, or for ``STREAM_IDLE_S`` while the event stream is open (a long event keeps it so).

    Gradio's page client (6.31) closes its event stream when the server says the session's last event is
    done; an event whose ``queue/join`` is answered in the instant before the client reads that "close"
    joins a stream that is going away, and its answer waits on the server until the page's next event
    re-opens the stream (its ``open_stream``/``close_stream`` do not look for events joined meanwhile; CI saw
    "apply the best alpha" pending for 90 s when clicked while the page's load events were still ending).
    It can follow any event; a person's click comes long after the previous events end, a test's within
    milliseconds, so ``open_page`` waits for this before a test's first action, and so do the helpers below
    (``search``, ``choose``, ``set_number``, ``type_knowledge_base``) and the tests' direct clicks that follow
    another event's answer (CI saw example chips, uploads and the split switch lost this way).

    The stream closes when the last event ends, which may be any moment while it is open: a search that ran
    0.3 s past its join under load let a test paste a knowledge base just as the stream closed, and the
    index line waited 90 s for the answer (CI). So while the stream is open the page counts as quiet only
    after ``STREAM_IDLE_S`` without traffic (then a long event is running, and ends far from that moment).
    """
    traffic = page.queue_traffic
    deadline = time.monotonic() + timeout_s
    page.wait_for_timeout(50)  # Playwright delivers request events only while one of its calls runs
    while traffic.joining() or traffic.quiet_for() < (STREAM_IDLE_S if traffic.streaming() else IDLE_S):
        if time.monotonic() > deadline:
            raise AssertionError(f"the page's queue traffic did not pause for {IDLE_S} s within {timeout_s:.0f} s;"
                                 f" in flight: {sorted(traffic.in_flight.values())}")
        page.wait_for_timeout(50)  # lets Playwright deliver the request events


def open_page(browser, url: str, width: int = 1280, height: int = 900, locale: str = "zh-CN",
              ready: bool = True):
    """The demo in a fresh browser context (a separate visitor with its own session); unless ``ready`` is
    False, waits for the model to be ready, the knowledge base to be indexed and the load events to end
    (``idle``)."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    page = context.new_page()
    page.queue_traffic = _QueueTraffic(page)
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    if ready:
        page.wait_for_selector("#model-status .status.ready")
        page.wait_for_selector("#index-info:has-text('向量索引就绪'), #index-info:has-text('Vector index ready')")
        idle(page)
    return page


def search(page, query: str, enter: bool = False) -> None:
    """Type ``query`` and press the search button (or Enter), once the page is idle (``idle``)."""
    idle(page)
    page.fill("#query textarea", query)
    if enter:
        page.press("#query textarea", "Enter")
    else:
        page.click("#search-button")


def hits(page, column: str):
    """The hit cards of one result column."""
    return page.locator(f"#col-{column} .hit")


def hit_texts(page, column: str) -> list[str]:
    """The texts of one column's hits, best first."""
    return page.locator(f"#col-{column} .hit .hit-text").all_inner_texts()


def open_accordion(page, elem_id: str, inside: str) -> None:
    """Open the accordion ``#elem_id`` by clicking its label, unless ``inside`` (a selector of something in
    it) is visible already; then wait until it is."""
    if not page.locator(inside).first.is_visible():
        page.locator(f"#{elem_id} > .label-wrap, #{elem_id} .label-wrap").first.click()
    page.locator(inside).first.wait_for(state="visible")


def choose(page, elem_id: str, option: str) -> None:
    """Pick ``option`` in the dropdown ``#elem_id`` as a visitor does (once the page is idle): open it, click the
    option."""
    idle(page)
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=option, exact=True).click()


def set_number(page, elem_id: str, value: float) -> None:
    """Type ``value`` into the number box of the slider ``#elem_id`` and press Enter, once the page is idle."""
    idle(page)
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def drag_slider(page, elem_id: str, fraction: float) -> None:
    """Drag the slider ``#elem_id`` with the mouse to ``fraction`` (0 to 1) of its track."""
    track = page.locator(f"#{elem_id} input[type=range]")
    box = track.bounding_box()
    value = float(track.input_value())
    lo, hi = float(track.get_attribute("min")), float(track.get_attribute("max"))
    y = box["y"] + box["height"] / 2

    def x(at: float) -> float:  # the thumb's centre travels half a thumb inside the ends of the track
        inset = min(8.0, box["width"] / 4)
        return box["x"] + inset + (box["width"] - 2 * inset) * at

    page.mouse.move(x((value - lo) / (hi - lo)), y)
    page.mouse.down()
    page.mouse.move(x(fraction), y, steps=8)
    page.mouse.up()


def settled(page, *elem_ids: str) -> None:
    """Wait until none of ``#elem_id`` (default: the notice and the result columns) shows Gradio's
    "processing" overlay."""
    ids = list(elem_ids) or ["notice", "col-keyword", "col-semantic", "col-hybrid"]
    page.wait_for_function("""(ids) => ids.every(id => { const t = document.querySelector(
        `#${id} [data-testid=status-tracker]`); return !t || t.classList.contains('hide'); })""", arg=ids)


def type_knowledge_base(page, content: str) -> None:
    """Open the knowledge-base panel and replace its text with ``content``, as a paste does.

    Just after the panel opens, the text box may still receive its first render; text typed in that instant
    can be overwritten, which no person is fast enough to meet. The paste is repeated until it stays.
    """
    idle(page)
    open_accordion(page, "kb-panel", "#kb textarea")
    box = page.locator("#kb textarea")
    for _ in range(3):
        box.fill(content)
        page.wait_for_timeout(500)
        if box.input_value() == content:
            return
    raise AssertionError("the knowledge-base box did not keep the pasted text")


def english(page) -> None:
    """Once the page is idle (``idle``), switch it to English and wait until it has relabelled and is quiet
    again."""
    from playwright.sync_api import expect

    idle(page)
    page.get_by_label("English").check()
    expect(page.locator("#search-button")).to_have_text("Search")
    idle(page)


# The evaluation tab's summary of an upload, in either language ("已读入：3 个文件…", "Read 3 files: …")
_UPLOAD_READ = re.compile(r"^\s*(已读入：|Read \d+ files?:)")


def exported_setting(page, prefix: str, saved: Path) -> dict:
    """Click the export button ``#{prefix}-setting``, download the setting file its ``#{prefix}-file`` shows into
    ``saved``, and return the file's JSON."""
    import json

    from playwright.sync_api import expect

    page.click(f"#{prefix}-setting")
    link = page.locator(f"#{prefix}-file a[download]").first
    expect(link).to_be_visible()
    with page.expect_download() as caught:
        link.click()
    caught.value.save_as(saved)
    return json.loads(saved.read_text(encoding="utf-8"))


def upload_eval_files(page, files) -> None:
    """Hand the evaluation tab's upload box ``files`` and wait for its summary, then for the page to be idle.

    A person sees the summary before clicking "run"; a click in the instant before the upload is in runs on
    no files (CI saw the summary land in the status line after such a run).
    """
    from playwright.sync_api import expect

    idle(page)
    page.locator("#eval-files input[type=file]").set_input_files(files)
    expect(page.locator("#eval-status")).to_have_text(_UPLOAD_READ)
    idle(page)
