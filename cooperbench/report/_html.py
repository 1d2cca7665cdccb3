"""``report.html``: one file holding the page, its data, and Vega-Embed, so it opens from ``file://`` offline.

The index data is embedded as JSON; each attempt's detail (steps, patches, test output) as
gzip + base64, unpacked in the browser only when its page is opened, which keeps a report
of thousands of attempts small and quick to open. The JavaScript bundle of Vega, Vega-Lite
and Vega-Embed comes from ``vl-convert-python`` (no CDN) and is cached on disk per version.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import html
import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from cooperbench.io import write_text_atomic

__all__ = ["cache_dir", "pack_detail", "render_html", "vega_bundle"]

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# What the bundle exposes to the page's own script.
_BUNDLE_SNIPPET = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"
# Level 3 packs a typical attempt 15% larger than level 6, in half the time.
_GZIP_LEVEL = 3


def _asset(name: str) -> str:
    return resources.files("cooperbench.report").joinpath("assets", name).read_text(encoding="utf-8")


def cache_dir() -> Path:
    """Where the report keeps what it can reuse (the Vega bundle, chart specifications)."""
    # The same cache root as the local backend's templates.
    return Path(os.environ.get("COOPERBENCH_CACHE_DIR") or "~/.cache/cooperbench").expanduser() / "report"


def vega_bundle() -> str:
    """The Vega + Vega-Lite + Vega-Embed JavaScript bundle (``vegaEmbed`` global), cached per vl-convert version."""
    from importlib import metadata

    import vl_convert

    digest = hashlib.sha256(_BUNDLE_SNIPPET.encode()).hexdigest()[:8]
    path = cache_dir() / f"vega-bundle-{metadata.version('vl-convert-python')}-{digest}.js"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    bundle: str = vl_convert.javascript_bundle(_BUNDLE_SNIPPET)
    with contextlib.suppress(OSError):  # a read-only cache only costs the next report the bundling time
        write_text_atomic(path, bundle)
    return bundle


def _json_for_script(value: Any) -> str:
    # "<" never appears outside a JSON string, so escaping it everywhere keeps "</script>" in a
    # patch or a message from ending the element.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).replace("<", "\\u003c")


def _script(code: str) -> str:
    return code.replace("</script", "<\\/script")


def pack_detail(detail: dict[str, Any]) -> str:
    """One attempt's detail as base64 of gzip of JSON (what the page's ``DecompressionStream`` unpacks)."""
    raw = json.dumps(detail, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=_GZIP_LEVEL, mtime=0)).decode("ascii")


def render_html(title: str, data: dict[str, Any], packed_details: dict[str, str]) -> str:
    """The whole page."""
    parts = {
        "title": html.escape(title),
        "css": _asset("report.css"),
        "data": _json_for_script(data),
        "pairs": _json_for_script(packed_details),
        "vega": _script(vega_bundle()),
        "app": _script(_asset("report.js")),
    }
    # One pass over the template: text substituted in is never scanned for placeholders again.
    return _PLACEHOLDER.sub(lambda m: parts[m.group(1)], _asset("page.html"))
