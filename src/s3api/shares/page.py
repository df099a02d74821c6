"""The share page and its refusals, rendered on the server as one self-contained document.

Everything the page shows passes through `html.escape`; its only style and script are
inline and carry the response's nonce, which the Content-Security-Policy names, so the page
loads nothing but its own images. Without JavaScript each pair shows before and after side
by side; the script turns each pair into a comparison slider (a range input over the photo,
usable by drag and by keyboard).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from html import escape
from string import Template

from fastapi.responses import HTMLResponse

from s3api.shares.palette import PaletteSummary

_STYLE = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#22211f;background:#f3f1ec}
main{max-width:960px;margin:0 auto;padding:24px 16px 48px}
h1{font-size:1.6rem;margin:0 0 4px}
h2{font-size:1.2rem;margin:32px 0 12px}
.lead{color:#6b6862;margin:0 0 24px}
.pair{margin:0 0 28px;background:#fff;border-radius:10px;padding:12px;box-shadow:0 1px 3px #0001}
.pair>figcaption{color:#6b6862;font-size:.9rem;margin:8px 2px 0}
.sides{display:grid;grid-template-columns:1fr 1fr;gap:10px}
.side{margin:0}
.side img{display:block;width:100%;height:auto;border-radius:6px;background:#e4e1da}
.side figcaption{font-size:.8rem;letter-spacing:.08em;text-transform:uppercase;color:#6b6862;margin-top:4px}
.slider[hidden],.divider[hidden]{display:none}
.compare .sides{display:block;position:relative;touch-action:pan-y}
.compare .after{position:absolute;inset:0}
.compare .after img{height:100%;object-fit:fill}
.compare .side figcaption{position:absolute;top:8px;margin:0;padding:2px 8px;border-radius:4px;background:#000a;color:#fff}
.compare .before figcaption{left:8px}
.compare .after figcaption{right:8px}
.compare .divider{position:absolute;top:0;bottom:0;width:3px;margin-left:-1px;background:#fff;box-shadow:0 0 4px #0008;pointer-events:none}
.compare .slider{position:absolute;inset:0;width:100%;height:100%;margin:0;opacity:0;cursor:ew-resize}
.compare:focus-within .sides{outline:3px solid #3d6fd6;outline-offset:3px;border-radius:6px}
.palette{list-style:none;padding:0;margin:0;background:#fff;border-radius:10px}
.palette li{display:flex;align-items:center;gap:12px;padding:10px 14px;border-top:1px solid #ece9e2}
.palette li:first-child{border-top:0}
.swatch{flex:none;width:36px;height:36px;border-radius:6px;border:1px solid #0002}
.concept{font-weight:600}
.action{color:#6b6862}
.protected{display:flex;flex-wrap:wrap;gap:8px;list-style:none;padding:0;margin:0}
.protected li{background:#fff;border:1px solid #d9d5cc;border-radius:999px;padding:4px 12px}
.none{color:#6b6862}
"""

_SCRIPT = """
document.querySelectorAll('.pair').forEach(function (pair) {
  var after = pair.querySelector('.after');
  var slider = pair.querySelector('.slider');
  var divider = pair.querySelector('.divider');
  function show() {
    after.style.clipPath = 'inset(0 0 0 ' + slider.value + '%)';
    divider.style.left = slider.value + '%';
  }
  pair.classList.add('compare');
  slider.hidden = false;
  divider.hidden = false;
  slider.addEventListener('input', show);
  show();
});
"""

_DOCUMENT = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>$title</title>
<style nonce="$nonce">$style</style>
</head>
<body>
<main>
$body
</main>
$script
</body>
</html>
""")


@dataclass(frozen=True)
class SharedPair:
    """One done photo: its number on the page and the page-relative URLs of its two images."""

    number: int
    before_url: str
    after_url: str


@dataclass(frozen=True)
class SharedJob:
    """What the page shows of a job, and nothing more."""

    title: str
    pairs: tuple[SharedPair, ...]
    palette: PaletteSummary
    link_expires_at: datetime


def _pair(pair: SharedPair) -> str:
    number = pair.number
    return f"""<figure class="pair">
<div class="sides">
<figure class="side before"><img src="{escape(pair.before_url)}" alt="Photo {number}, before" loading="lazy"><figcaption>Before</figcaption></figure>
<figure class="side after"><img src="{escape(pair.after_url)}" alt="Photo {number}, after" loading="lazy"><figcaption>After</figcaption></figure>
<span class="divider" hidden></span>
<input class="slider" type="range" min="0" max="100" value="50" step="1" aria-label="Photo {number}: slide between before and after" hidden>
</div>
<figcaption>Photo {number}</figcaption>
</figure>"""


def _palette(summary: PaletteSummary) -> tuple[str, str]:
    """The palette's HTML and the CSS rules of its swatches (one class each)."""
    if not summary.edits:
        edits_html = '<p class="none">No edits were recorded for this set.</p>'
    else:
        rows = [
            f'<li><span class="swatch sw-{index}" aria-hidden="true"></span>'
            f'<span class="concept">{escape(entry.concept)}</span>'
            f'<span class="action">{escape(entry.action)}</span>'
            f'<span class="value">{escape(entry.value)}</span></li>'
            for index, entry in enumerate(summary.edits)
        ]
        edits_html = '<ul class="palette">' + "".join(rows) + "</ul>"
    rules = "".join(
        f".sw-{index}{{background:{entry.swatch_css}}}" for index, entry in enumerate(summary.edits)
    )
    if summary.protected:
        names = "".join(f"<li>{escape(name)}</li>" for name in summary.protected)
        protected_html = f'<ul class="protected">{names}</ul>'
    else:
        protected_html = '<p class="none">Nothing was protected.</p>'
    html = (
        f'<section aria-labelledby="palette-title"><h2 id="palette-title">Palette used</h2>'
        f"{edits_html}</section>"
        f'<section aria-labelledby="protected-title"><h2 id="protected-title">Kept as it was</h2>'
        f"{protected_html}</section>"
    )
    return html, rules


SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "no-store",
}
"""Headers of every answer under `/share/`: nothing cached, framed, indexed or referred."""


def _policy(nonce: str) -> str:
    return (
        f"default-src 'none'; img-src 'self'; style-src 'nonce-{nonce}'; "
        f"script-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def _document(
    title: str, body: str, *, extra_style: str = "", script: bool = False, status_code: int = 200
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _DOCUMENT.substitute(
        title=escape(title),
        nonce=nonce,
        style=_STYLE + extra_style,
        body=body,
        script=f'<script nonce="{nonce}">{_SCRIPT}</script>' if script else "",
    )
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": _policy(nonce)}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def share_page(job: SharedJob) -> HTMLResponse:
    """The page of a live link."""
    count = len(job.pairs)
    photos = "1 photo" if count == 1 else f"{count} photos"
    until = job.link_expires_at.strftime("%Y-%m-%d %H:%M UTC")
    palette_html, swatch_rules = _palette(job.palette)
    body = (
        f"<header><h1>{escape(job.title)}</h1>"
        f'<p class="lead">{photos}, before and after. This link works until {until}.</p></header>'
        + "\n".join(_pair(pair) for pair in job.pairs)
        + palette_html
    )
    return _document(job.title, body, extra_style=swatch_rules, script=True)


_REFUSALS = {
    410: ("This link has expired", "Ask the sender for a new link."),
    429: ("Too many requests", "Wait a moment, then reload the page."),
    503: ("This page is unavailable", "Try again in a few minutes."),
}
_NOT_AVAILABLE = ("This link is not available", "It may have been withdrawn by its sender.")


def refusal_page(status_code: int, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """404 for a link that does not exist (never issued, revoked, or its job deleted); 410
    for one that expired, or whose photos retention removed; 429 over `SHARE_VIEW_RATE`
    (with its `Retry-After` in `headers`); 503 when the budget store is down."""
    title, text = _REFUSALS.get(status_code, _NOT_AVAILABLE)
    page = _document(title, f'<h1>{title}</h1><p class="lead">{text}</p>', status_code=status_code)
    page.headers.update(headers or {})
    return page
