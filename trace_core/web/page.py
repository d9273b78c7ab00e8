"""The viewer's page: its files (`static/`), and the page made self-contained for an export
(style and script inlined, the data embedded, a CSP that allows only that script)."""

from __future__ import annotations

import base64
import hashlib
import json
import os

from ..errors import RepositoryError

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
CSS_TAG = '<link rel="stylesheet" href="static/viewer.css">'
JS_TAG = '<script src="static/viewer.js"></script>'
DATA_TAG = '<script id="trace-data" type="application/json"></script>'


def asset(name: str) -> bytes:
    """The bytes of one of the viewer's files (`viewer.html`, `viewer.js`, `viewer.css`)."""
    if name not in ("viewer.html", "viewer.js", "viewer.css"):
        raise RepositoryError(f"the viewer has no file {name!r:.40}")
    try:
        with open(os.path.join(STATIC, name), "rb") as f:
            return f.read()
    except OSError as exc:
        raise RepositoryError(f"the viewer's {name} is missing from this installation "
                              f"({exc.strerror})") from None


def page_html() -> str:
    """The page `trace web` serves (its script and style are separate files)."""
    return asset("viewer.html").decode()


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def embed_json(doc: object) -> str:
    """`doc` as JSON that is safe inside a <script> element: no `<` survives (so neither
    `</script>` nor `<!--` can end or change the element)."""
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def standalone(bundle: dict) -> str:
    """One HTML file holding the viewer and `bundle` ({"info", "docs"}), with a CSP that allows
    no network access and only its own script and style (by hash)."""
    html = page_html()
    css = asset("viewer.css").decode()
    js = asset("viewer.js").decode()
    for tag in (CSS_TAG, JS_TAG, DATA_TAG):
        if html.count(tag) != 1:
            raise RepositoryError(f"the viewer's viewer.html lacks {tag!r}")
    if "</style" in css.lower() or "</script" in js.lower() or "<!--" in js:
        raise RepositoryError("the viewer's files cannot be inlined (a closing tag inside)")
    csp = (f"default-src 'none'; script-src {_hash(js)}; style-src {_hash(css)}; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    meta = f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
    html = html.replace("<head>", "<head>\n" + meta, 1)
    html = html.replace(CSS_TAG, f"<style>{css}</style>")
    html = html.replace(JS_TAG, f"<script>{js}</script>")
    return html.replace(DATA_TAG, '<script id="trace-data" type="application/json">'
                        + embed_json(bundle) + "</script>")
