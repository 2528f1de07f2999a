"""The demo's ``report.html``: one self-contained page with relative links only, so the folder can be moved.

Per video: the side-by-side clip playing (HTML5 ``<video>`` of the H.264 mp4, autoplay, muted, looping), the same
clip as an animated GIF (``<img>``, for viewers without H.264), the token counts and the table of k, tokens per
clip, PSNR and SSIM; then the rate-distortion plot. ``render_report(result)`` returns the page text for a demo
result (the content of ``results.json``); ``write_report(result, folder)`` writes it atomically.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from videoflextok.atomic import atomic_write_text

REPORT_FILE = "report.html"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1500px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: right; }
th { background: #f2f2f2; }
.media { overflow-x: auto; }
.media video, .media img { display: block; image-rendering: pixelated; margin: 0.3em 0; }
.note { color: #666; font-size: 0.9em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(rows: list[dict[str, Any]]) -> str:
    head = "<tr><th>k (tokens per latent frame)</th><th>tokens per clip</th><th>PSNR (dB)</th><th>SSIM</th></tr>"
    body = "".join(
        f"<tr><td>{r['k']}</td><td>{r['tokens_per_clip']}</td><td>{r['psnr']:.2f}</td><td>{r['ssim']:.4f}</td></tr>"
        for r in rows
    )
    return f"<table>{head}{body}</table>"


def _video_section(video: dict[str, Any], fps: float) -> str:
    rows = video["rows"]
    width, height = video["media_size"][1], video["media_size"][0]
    counts = ", ".join(f"k={r['k']}: {r['tokens_per_clip']}" for r in rows)
    return f"""
<section class="video" id="{_e(video['name'])}">
<h2>{_e(video['name'])}</h2>
<p class="note">source: <code>{_e(video['source'])}</code>; {video['frames']} frames at
{video['resolution']}x{video['resolution']} -> {video['latent_frames']} latent frames; shown at {fps:g} fps,
upscaled x{video['scale']} (nearest).</p>
<p>Tokens per clip (k tokens x {video['latent_frames']} latent frames): {_e(counts)}.</p>
<div class="media">
<p class="note">H.264 mp4 (HTML5 video, looping):</p>
<video src="{_e(video['mp4'])}" width="{width}" height="{height}" autoplay loop muted playsinline controls>
Your browser cannot play H.264 mp4; the GIF below shows the same clip.</video>
<p class="note">The same clip as an animated GIF:</p>
<img src="{_e(video['gif'])}" width="{width}" height="{height}" alt="{_e(video['name'])}: original and reconstructions">
</div>
{_table(rows)}
<p class="note">Baseline, each frame replaced by its mean color: {video['mean_color_psnr']:.2f} dB.</p>
</section>"""


def render_report(result: dict[str, Any]) -> str:
    """The HTML page of a demo result (see :func:`videoflextok.report.demo.run_demo`)."""
    tok, settings = result["tokenizer"], result["settings"]
    sections = "".join(_video_section(v, settings["fps"]) for v in result["videos"])
    ks = ", ".join(str(k) for k in settings["ks"])
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>VideoFlexTok demo</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>VideoFlexTok demo: coarse-to-fine reconstructions</h1>
<p>Each clip is tokenized once into K = {tok['K']} ordered tokens per latent frame and decoded from only the first
k tokens of every latent frame (k = {ks}) with the rectified-flow decoder ({settings['steps']} Euler step(s),
seed {settings['seed']}). Left: the original; then one panel per k.</p>
<p class="note">tokenizer: <code>{_e(tok['folder'])}</code> ({tok['resolution']}x{tok['resolution']},
{tok['chunk_frames']}-frame chunks, {tok['params_excl_adaln']:,} parameters excluding adaLN).
Metrics per frame on [0, 1] pixels, averaged over frames.</p>
{sections}
<h2>Rate-distortion</h2>
<img id="rd-plot" src="{_e(result['plot'])}" alt="PSNR and SSIM against tokens per latent frame">
<p class="note">Files: <a href="results.json">results.json</a>{''.join(
        f', <a href="{_e(v["mp4"])}">{_e(v["mp4"])}</a>, <a href="{_e(v["gif"])}">{_e(v["gif"])}</a>'
        for v in result['videos'])}, <a href="{_e(result['plot'])}">{_e(result['plot'])}</a>.</p>
</body>
</html>
"""


def write_report(result: dict[str, Any], folder: str | Path) -> Path:
    """Write ``folder/report.html`` for ``result`` atomically; returns its path."""
    path = Path(folder) / REPORT_FILE
    atomic_write_text(path, render_report(result))
    return path
