"""Charts as inline SVG, drawn on the server: no script, nothing fetched, legible in print and in
any language (labels are text, in the page's own fonts)."""

from __future__ import annotations

from markupsafe import Markup, escape

ROW = 22  # pixels per bar
LABEL = 150  # width of the label column
WIDTH = 560
COLOURS = ("#2f6fde", "#c2410c", "#15803d", "#a16207", "#7c3aed")


def bars(title: str, items: list[tuple[str, float]], unit: str = "", maximum: float | None = None) -> Markup:
    """A horizontal bar per (label, value), each with its value written at its end."""
    values = [v for _, v in items if isinstance(v, int | float)]
    top = maximum or max(values, default=0) or 1
    span = WIDTH - LABEL - 60
    height = ROW * max(len(items), 1) + 8
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
             f'width="100%" style="max-width:{WIDTH}px" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    for i, (label, value) in enumerate(items):
        y = 4 + i * ROW
        number = value if isinstance(value, int | float) else 0
        length = max(0.0, span * number / top)
        parts.append(f'<text x="{LABEL - 6}" y="{y + 15}" text-anchor="end" font-size="12">{escape(str(label))}</text>'
                     f'<rect x="{LABEL}" y="{y + 3}" width="{length:.1f}" height="{ROW - 8}" fill="{COLOURS[0]}"/>'
                     f'<text x="{LABEL + length + 4:.1f}" y="{y + 15}" font-size="12">'
                     f'{escape(_number(value))}{escape(unit) if value != "" else ""}</text>')
    if not items:
        parts.append(f'<text x="{LABEL}" y="18" font-size="12">—</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _number(value) -> str:
    if value == "" or value is None:
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)
