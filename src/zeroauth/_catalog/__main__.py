"""``python -m zeroauth._catalog [PATH]``: write the catalogue as Markdown (stdout without PATH)."""

from __future__ import annotations

import sys
from pathlib import Path

from zeroauth._catalog import render_markdown

if len(sys.argv) > 1:
    Path(sys.argv[1]).write_text(render_markdown(), encoding="utf-8")
else:
    sys.stdout.write(render_markdown())
