"""A self-contained HTML report: every figure is embedded as a PNG data URI, no external URL.

Build it section by section with :class:`Report` and write it with :meth:`Report.save`; the file
opens offline in any browser.
"""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["Report", "figure_to_data_uri"]

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1.5em; color: #1d2733; line-height: 1.45; }
h1 { border-bottom: 3px solid #2d6a9f; padding-bottom: .3em; }
h2 { margin-top: 2em; border-bottom: 1px solid #c9d3dd; padding-bottom: .2em; color: #2d6a9f; }
h3 { margin-top: 1.4em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #c9d3dd; padding: .3em .6em; text-align: right; }
th { background: #eef3f8; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figcaption { font-size: .85em; color: #526070; }
img { max-width: 100%; } .note { background: #f5f8fb; border-left: 4px solid #2d6a9f; padding: .6em 1em; }
nav ul { columns: 2; } code { background: #f0f2f5; padding: 0 .2em; }
"""


def figure_to_data_uri(fig, *, dpi: int = 110) -> str:
    """Render a matplotlib figure as a ``data:image/png;base64,...`` URI and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass
class _Section:
    title: str
    anchor: str
    parts: list[str] = field(default_factory=list)


class Report:
    """Builder of a self-contained HTML report.

    Parameters
    ----------
    title
        Report title.

    Examples
    --------
    >>> r = Report("Study")
    >>> r.section("Cohort").text("100 patients").table(pd.DataFrame({"a": [1]}))  # doctest: +ELLIPSIS
    <...Report...>
    >>> "<h2" in r.to_html()
    True
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self._sections: list[_Section] = []

    def section(self, title: str) -> Report:
        """Start a new section; following calls add to it."""
        anchor = f"s{len(self._sections) + 1}"
        self._sections.append(_Section(title, anchor))
        return self

    def _current(self) -> _Section:
        if not self._sections:
            self.section("Overview")
        return self._sections[-1]

    def heading(self, text: str) -> Report:
        """A sub-heading inside the current section."""
        self._current().parts.append(f"<h3>{html.escape(text)}</h3>")
        return self

    def text(self, text: str, *, note: bool = False) -> Report:
        """A paragraph (escaped)."""
        cls = ' class="note"' if note else ""
        self._current().parts.append(f"<p{cls}>{html.escape(text)}</p>")
        return self

    def table(
        self,
        df: pd.DataFrame,
        *,
        caption: str | None = None,
        index: bool = False,
        float_format: str = "{:.3g}",
    ) -> Report:
        """A table from a DataFrame (numbers formatted with ``float_format``)."""
        formatted = df.copy()
        for col in formatted.columns:
            if pd.api.types.is_float_dtype(formatted[col]):
                formatted[col] = formatted[col].map(
                    lambda v: "" if pd.isna(v) else float_format.format(v)
                )
        body = formatted.to_html(index=index, escape=True, border=0)
        if caption:
            body = body.replace("<table", f'<table title="{html.escape(caption)}"', 1)
            body += f"<p><small>{html.escape(caption)}</small></p>"
        self._current().parts.append(body)
        return self

    def figure(self, fig, caption: str = "") -> Report:
        """A matplotlib figure, embedded as PNG."""
        uri = figure_to_data_uri(fig)
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._current().parts.append(
            f'<figure><img src="{uri}" alt="{html.escape(caption)}"/>{cap}</figure>'
        )
        return self

    def key_values(self, values: dict[str, Any]) -> Report:
        """A two-column table from a mapping."""
        return self.table(
            pd.DataFrame({"item": list(values), "value": [str(v) for v in values.values()]})
        )

    def to_html(self) -> str:
        """The whole report as one HTML string."""
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        toc = "".join(
            f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in self._sections
        )
        body = "".join(
            f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>{"".join(s.parts)}</section>'
            for s in self._sections
        )
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/>'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1><p><small>generated {stamp} by radiopredict</small></p>"
            f"<nav><ul>{toc}</ul></nav>{body}</body></html>"
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the report; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_html(), encoding="utf-8")
        os.replace(tmp, path)
        return path
