"""A report's HTML: a code-free, self-contained copy of the executed notebook."""

from __future__ import annotations

import os
import re
from pathlib import Path


def export_html(ipynb: Path, html: Path, title: str | None = None) -> Path:
    """A code-free, self-contained HTML copy: outputs and markdown only, images inline.

    The 'lab' template inlines its CSS; the MathJax and require.js script tags (CDN) are
    dropped, since reports carry no math or widgets and must read offline.
    """
    from nbconvert import HTMLExporter

    import nbformat

    nb = nbformat.read(ipynb, as_version=4)
    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        mathjax_url="",
        require_js_url="",
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title or ipynb.stem}})
    body = _strip_cdn_scripts(body)
    tmp = html.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, html)
    return html


def _strip_cdn_scripts(body: str) -> str:
    return re.sub(r'<script[^>]*src="(?:https?://[^"]*)?"[^>]*>\s*</script>', "", body)
