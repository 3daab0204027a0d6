"""Paper Fig. 5: relative noise robustness of standard vs robust models."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from .style import apply_style, color_for


def seed_summary(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean, min and max over seeds of ``column`` per model and noise std."""
    return table.groupby(["objective", "label", "noise_std"])[column].agg(["mean", "min", "max"]).reset_index()


def plot_noise_robustness(table: pd.DataFrame):
    """(a) signal / distractor change ratio vs noise std, with a reference line at 1;
    (b) the two raw curves. Lines are means over seeds, bands their min-max."""
    apply_style()
    table = table[table["noise_std"] > 0]  # the log axis cannot show std 0 (change 0 there)
    fig, (ax_ratio, ax_raw) = plt.subplots(1, 2, figsize=(8.0, 3.2), constrained_layout=True)

    ratio = seed_summary(table, "ratio")
    for (objective, label), g in ratio.groupby(["objective", "label"]):
        ax_ratio.plot(g["noise_std"], g["mean"], color=color_for(objective), label=label)
        ax_ratio.fill_between(g["noise_std"], g["min"], g["max"], color=color_for(objective), alpha=0.2, lw=0)
    for (objective, label), g in table.groupby(["objective", "label"]):
        if (g["status"] == "diverged").all():  # no curve to draw: say so in the legend
            ax_ratio.plot([], [], color=color_for(objective), marker="x", ls="none", label=f"{label}: diverged")
    ax_ratio.axhline(1.0, color="black", lw=0.8, ls=":")
    ax_ratio.set(
        xscale="log",
        xlabel="noise std",
        ylabel="change(signal) / change(distractor)",
        title="(a) relative noise robustness",
    )
    ax_ratio.legend(frameon=False)

    for region, style in (("signal", "-"), ("distractor", "--")):
        curves = seed_summary(table, f"{region}_change")
        for (objective, _label), g in curves.groupby(["objective", "label"]):
            ax_raw.plot(g["noise_std"], g["mean"], ls=style, color=color_for(objective))
            ax_raw.fill_between(g["noise_std"], g["min"], g["max"], color=color_for(objective), alpha=0.15, lw=0)
    ax_raw.plot([], [], "k-", label="noise on signal")
    ax_raw.plot([], [], "k--", label="noise on distractor")
    ax_raw.set(xscale="log", xlabel="noise std", ylabel="softmax L1 change", title="(b) raw change")
    ax_raw.legend(frameon=False)
    return fig
