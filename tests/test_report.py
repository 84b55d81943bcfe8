"""The HTML report is self-contained: every plot embedded, no external URL."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from radiopredict.report import Report, plot_km_by_risk_group, plot_shap_summary
from radiopredict.targets import make_survival_target


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.hrefs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        d = dict(attrs)
        if "src" in d:
            self.srcs.append(d["src"])
        if "href" in d:
            self.hrefs.append(d["href"])


def test_report_embeds_plots_and_has_no_external_url(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    risk = rng.normal(size=90)
    t = rng.exponential(np.exp(-risk))
    y = make_survival_target(rng.uniform(size=90) < 0.8, t)
    fig, p = plot_km_by_risk_group(risk, y)
    assert 0 <= p < 0.05  # the risk drives the times, so the groups separate
    shap = pd.DataFrame(rng.normal(size=(90, 3)), columns=["a", "b", "c"])
    report = (
        Report("Test <study>")
        .section("Survival")
        .text("risk groups & more")
        .figure(fig, "KM")
        .table(pd.DataFrame({"x": [1.23456], "y": ["<b>"]}))
        .section("SHAP")
        .figure(plot_shap_summary(shap, shap), "summary")
    )
    path = report.save(tmp_path / "r.html")
    text = path.read_text()
    parser = _Collect()
    parser.feed(text)
    assert len(parser.srcs) == 2 and all(
        s.startswith("data:image/png;base64,") for s in parser.srcs
    )
    assert all(h.startswith("#") for h in parser.hrefs)
    assert not re.search(r"https?://", text)
    assert "&lt;b&gt;" in text and "Test &lt;study&gt;" in text  # escaped
    assert parser.tags.count("section") == 2
