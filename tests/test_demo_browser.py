"""Slow: the demo's report.html renders in headless Chromium (Debian's ``chromium``; ``make test-slow`` installs
it), checked from the DOM over the DevTools protocol: every ``<video>`` has loaded its H.264 mp4 (readyState >= 2,
no error, the mp4's size) and is playing, every ``<img>`` (the GIFs and the rate-distortion plot) has decoded at its
file's size. And ``videoflextok demo`` with the shipped demo tokenizer finishes within the 5 minutes of
``make demo``."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from tokenizer_helpers import small_model
from videoflextok.cli.main import main
from videoflextok.shipped import demo_tokenizer_folder

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WAIT_S = 90.0  # real seconds the page gets to load its media (the machine may be busy)
# Evaluated in the page: the state of every video and image.
STATE_JS = """JSON.stringify({
  videos: Array.from(document.querySelectorAll('video'), v => ({src: v.getAttribute('src'), readyState: v.readyState,
    error: v.error ? v.error.code : null, width: v.videoWidth, height: v.videoHeight, time: v.currentTime})),
  images: Array.from(document.querySelectorAll('img'), i => ({src: i.getAttribute('src'), complete: i.complete,
    width: i.naturalWidth, height: i.naturalHeight}))})"""


def find_browser() -> str:
    """Path of a Chromium binary; fails the test (never skips) with how to install one."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is needed to check that report.html renders, but no `chromium` is installed: "
                "run `make test-slow` (it installs Debian's chromium package) or `apt-get install -y chromium`",
                pytrace=False)


class DevToolsPipe:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: commands go to the
    browser's fd 3, replies come from its fd 4, each a JSON message ending in NUL). No port, no extra package."""

    def __init__(self, profile: Path) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()

        def child_fds() -> None:  # put the pipe ends at fds 3 and 4 of the browser (via high fds: no clobbering)
            os.dup2(os.dup(cmd_r), 100)
            os.dup2(os.dup(resp_w), 101)
            os.dup2(100, 3)
            os.dup2(101, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        cmd = [find_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-extensions", "--mute-audio", f"--user-data-dir={profile}",
               "--autoplay-policy=no-user-gesture-required", "--remote-debugging-pipe", "about:blank"]
        self._log = profile.with_suffix(".log")
        with open(self._log, "w") as log:
            self.proc = subprocess.Popen(cmd, preexec_fn=child_fds, close_fds=False, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        os.close(cmd_r)
        os.close(resp_w)
        self._buf, self._id = b"", 0

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}, **({"sessionId": session} if session else {})}
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self._buf:
                ready, _, _ = select.select([self._resp_r], [], [], 60)
                chunk = os.read(self._resp_r, 1 << 16) if ready else b""
                assert chunk, f"Chromium stopped answering {method}: {self._log.read_text()[-2000:]}"
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=20)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._cmd_w)
            os.close(self._resp_r)


def _ready(state: dict) -> bool:
    return (all(v["readyState"] >= 2 and v["time"] > 0 or v["error"] is not None for v in state["videos"])
            and all(i["complete"] for i in state["images"]))


def browser_state(report: Path, tmp_path: Path) -> dict:
    """Open ``report`` in headless Chromium and return the state of its videos and images once every video has
    data and plays and every image is complete (or after WAIT_S real seconds)."""
    browser = DevToolsPipe(tmp_path / "chromium-profile")
    try:
        target = browser.send("Target.createTarget", {"url": report.resolve().as_uri()})
        session = browser.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})["sessionId"]
        deadline = time.monotonic() + WAIT_S
        while True:
            reply = browser.send("Runtime.evaluate", {"expression": STATE_JS, "returnByValue": True}, session)
            state = json.loads(reply["result"]["value"])
            if (_ready(state) and state["videos"]) or time.monotonic() > deadline:
                return state
            time.sleep(0.2)
    finally:
        browser.close()


def check_renders(out: Path, tmp_path: Path) -> None:
    result = json.loads((out / "results.json").read_text())
    state = browser_state(out / "report.html", tmp_path)
    videos = {v["src"]: v for v in state["videos"]}
    assert set(videos) == {v["mp4"] for v in result["videos"]}
    for video in result["videos"]:
        seen = videos[video["mp4"]]
        assert seen["error"] is None and seen["readyState"] >= 2, seen  # HAVE_CURRENT_DATA or better
        assert [seen["height"], seen["width"]] == video["media_size"], seen
        assert seen["time"] > 0, seen  # autoplay: it is playing
    images = {i["src"]: i for i in state["images"]}
    assert set(images) == {v["gif"] for v in result["videos"]} | {result["plot"]}
    for src, seen in images.items():
        with Image.open(out / src) as im:
            assert seen["complete"] and (seen["width"], seen["height"]) == im.size, seen


def test_report_renders_in_headless_chromium(tmp_path):
    small_model().save_pretrained(tmp_path / "tok")
    out = tmp_path / "demo_out"
    assert main(["demo", "--tokenizer", str(tmp_path / "tok"), "--out", str(out), "--no-progress"]) == 0
    check_renders(out, tmp_path)


def test_demo_with_the_shipped_tokenizer(tmp_path):
    with demo_tokenizer_folder() as folder:
        assert (folder / "config.json").is_file(), "the shipped demo tokenizer is missing"
    assert main(["demo", "--out", str(tmp_path / "demo_out"), "--no-progress"]) == 0
    result = json.loads((tmp_path / "demo_out" / "results.json").read_text())
    K = result["tokenizer"]["K"]
    for video in result["videos"]:
        assert video["rows"][-1]["k"] == K and all(0 < r["psnr"] < 100 for r in video["rows"])
    check_renders(tmp_path / "demo_out", tmp_path)
