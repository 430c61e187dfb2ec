"""The dataset card (README.md) as HTML for the summary page, safely.

The card is untrusted: raw HTML in it is escaped (markdown-it with `html` off), links keep
markdown-it's check (no `javascript:` and the like), and an image is shown only when it is
one of the folder's own plots (`plots/NAME.png`); any other image becomes its alt text, so
the page never loads anything from elsewhere.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import escape

from kgsynth.export.hub import PLOTS_DIR


def _body(card: str) -> str:
    """The card without its YAML front matter (the hub's metadata, not for reading)."""
    if card.startswith("---\n"):
        end = card.find("\n---\n", 4)
        if end >= 0:
            return card[end + 5 :]
    return card


def render_card(card: str, plots: Collection[str]) -> str:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    default_image = md.renderer.rules["image"]

    def image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        src = str(tokens[idx].attrGet("src") or "")
        folder, _, name = src.partition("/")
        if folder == PLOTS_DIR and name in plots:
            tokens[idx].attrSet("src", f"{PLOTS_DIR}/{name}")
            return default_image(tokens, idx, options, env)
        return _alt(tokens[idx])

    md.add_render_rule("image", image)
    return md.render(_body(card))


def _alt(token: Token) -> str:
    alt = "".join(c.content for c in token.children or [])
    return f'<span class="missing-image">[image: {escape(alt)}]</span>'
