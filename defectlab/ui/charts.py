"""Altair charts of the pages: confusion-matrix heatmaps, per-class bars, coverage curves."""

import altair as alt
import pandas as pd

from defectlab.ui.common import t

__all__ = ["confusion_frame", "confusion_heatmap", "coverage_chart", "per_class_bars", "unit_domain"]


def _shown(c):
    from defectlab.ui.common import cls_name

    return cls_name(c)


def confusion_frame(matrix, classes):
    """Long-form ``true, predicted, count, share`` (share of the true class's row); ``true`` and
    ``predicted`` are the class names as shown in the session's language."""
    rows = []
    for i, true in enumerate(classes):
        total = sum(matrix[i]) or 1
        for j, pred in enumerate(classes):
            rows.append({"true": _shown(true), "predicted": _shown(pred), "count": int(matrix[i][j]),
                         "share": matrix[i][j] / total})
    return pd.DataFrame(rows)


def confusion_heatmap(matrix, classes, title="", selectable=False, height=320):
    """A heatmap (rows: true class, columns: predicted) with the counts written in the cells."""
    df = confusion_frame(matrix, classes)
    order = [_shown(c) for c in classes]
    base = alt.Chart(df, title=title).encode(
        x=alt.X("predicted:N", sort=order, title=t("chart.predicted")),
        y=alt.Y("true:N", sort=order, title=t("chart.true")),
    )
    rect = base.mark_rect().encode(
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), legend=None),
        tooltip=[alt.Tooltip("true:N", title=t("chart.true")),
                 alt.Tooltip("predicted:N", title=t("chart.predicted")),
                 alt.Tooltip("count:Q", title=t("chart.count"))],
    )
    if selectable:
        pick = alt.selection_point(name="cell", fields=["true", "predicted"], on="click")
        rect = rect.add_params(pick).encode(
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.55)))
    text = base.mark_text(fontSize=12).encode(
        text="count:Q",
        color=alt.condition("datum.share > 0.5", alt.value("white"), alt.value("black")),
    )
    return (rect + text).properties(height=height)


def unit_domain(values):
    """The y range of a 0-1 score chart that fits the data: from a round tenth under the smallest value
    (0 when values go below 0.5) to 1, so runs at 0.96 and 0.99 do not look the same."""
    import math

    finite = [float(v) for v in values if v == v]
    if not finite or min(finite) < 0.5:
        return [0.0, 1.0]
    return [max(0.0, math.floor((min(finite) - 0.02) * 10) / 10), 1.0]


def per_class_bars(per_class_a, per_class_b, label_a, label_b, metric="f1"):
    """Grouped bars of one per-class metric for two runs."""
    rows = []
    for run, per_class in ((label_a, per_class_a), (label_b, per_class_b)):
        for cls, m in (per_class or {}).items():
            rows.append({"class": _shown(cls), "run": run, "value": float(m.get(metric) or 0.0)})
    df = pd.DataFrame(rows)
    domain = unit_domain(df["value"])
    # the bars start at the bottom of the shown range (not at 0, which may lie below it) and never leave the plot
    return alt.Chart(df).mark_bar(clip=True).encode(
        x=alt.X("class:N", title=t("common.class"), sort=None),  # the project's class order, not the names'
        xOffset="run:N",
        y=alt.Y("value:Q", title=t(f"metric.{metric}"), scale=alt.Scale(domain=domain)),
        y2=alt.datum(domain[0]),
        color=alt.Color("run:N", title=t("runs.run")),
        tooltip=["class:N", "run:N", alt.Tooltip("value:Q", format=".3f")],
    ).properties(height=280)


def coverage_chart(thresholds, coverage, accuracy, current=None):
    """Coverage and accuracy of the accepted predictions against the confidence threshold."""
    rows = []
    for th, cov, acc in zip(thresholds, coverage, accuracy, strict=True):
        rows.append({"threshold": th, "what": t("predict.coverage"), "value": cov})
        if acc is not None:
            rows.append({"threshold": th, "what": t("predict.accuracy"), "value": acc})
    df = pd.DataFrame(rows)
    chart = alt.Chart(df).mark_line().encode(
        x=alt.X("threshold:Q", title=t("predict.threshold")),
        y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title=""),
        color=alt.Color("what:N", title=""),
    )
    if current is not None:
        rule = alt.Chart(pd.DataFrame({"threshold": [current]})).mark_rule(color="red").encode(
            x="threshold:Q")
        chart = chart + rule
    return chart.properties(height=220)
