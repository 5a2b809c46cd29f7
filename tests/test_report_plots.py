"""The audit's plots (issue 17, item 7): labels with units, log axes where values span decades, the
floor as a band, gaps between image tiles, no label over a neighbouring panel, off-mode samples grey.

Built on a report made by hand (a DataFrame and sample arrays: no scoring), so each check knows
its truth: which values span decades, which samples lie beyond 3 std of every ring8 centre.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

import gandiag
from gandiag.auditing import Report
from gandiag.auditing.plots import (OFF_MODE, _mode_colors, image_grid, metrics_figure, samples_figure,
                                    shares_figure)
from gandiag.figures import axis_label, floor_band, set_value_scale

RING = gandiag.reference("ring8")


def _report() -> Report:
    """Two runs of three checkpoints; mode KL spans four decades, W1 less than one."""
    rows = []
    for run, kl, w1, collapse in (("runs/a", [2.0, 0.5, 0.0004], [1.5, 0.9, 0.6], [True, False, False]),
                                  ("runs/b", [0.01, 0.8, 2.07], [0.7, 1.2, 2.4], [False, True, True])):
        for step, k, w, c in zip((0, 500, 1000), kl, w1, collapse):
            rows.append({"source": f"{run}/step-{step:07d}.pt", "step": step, "mode_kl": k, "w1": w,
                         "mode_kl_ci_low": k - 0.01, "mode_kl_ci_high": k + 0.01,  # a low end below 0
                         "modes_captured": 8.0 if not c else 1.0, "mode_dropping": c, "mode_collapse": c,
                         "low_quality": False, "evidence": "mode_collapse: x" if c else "", "run": run, "error": ""})
    rows.append({"source": "real-vs-real", "step": None, "mode_kl": 0.002, "w1": 0.8, "modes_captured": 8.0,
                 "mode_dropping": False, "mode_collapse": False, "low_quality": False, "evidence": "", "run": "",
                 "error": ""})
    frame = pd.DataFrame(rows)
    frame["step"] = frame["step"].astype("Int64")
    rng = np.random.default_rng(0)
    samples = {s: RING.sample(200, seed=i).numpy() + rng.normal(0, 0.05, (200, 2)).astype(np.float32)
               for i, s in enumerate(frame["source"])}
    shares = pd.DataFrame(rng.dirichlet(np.ones(8), len(frame)), index=frame["source"],
                          columns=[f"mode_{k}" for k in range(8)])
    shares.insert(0, "step", frame["step"].to_numpy())
    shares.attrs["reference_shares"] = np.full(8, 1 / 8)
    return Report(frame=frame, mode_shares=shares, samples=samples, reference=RING,
                  reference_sample=RING.sample(200, seed=99).numpy(), settings={"n": 200, "seed": 0})


def test_image_grid_has_white_gaps_between_tiles():
    x = -np.ones((64, 1, 8, 8))  # black images
    grid = image_grid(x, side=8, gap=1)
    assert grid.shape == (8 * 8 + 7, 8 * 8 + 7)
    assert (grid[8, :] == 1.0).all() and (grid[:, 8] == 1.0).all()  # the gap rows and columns
    assert (grid[:8, :8] == 0.0).all()  # a tile: -1 maps to black


@pytest.mark.parametrize("values, scale", [([0.01, 0.5, 1.0], "log"), ([0.5, 2.0, 3.0], "linear"),
                                           ([0.0, 0.01, 2.0], "symlog"), ([-1.0, 0.01, 2.0], "linear")])
def test_log_axis_only_when_values_span_decades(values, scale):
    ax = Figure().subplots()
    assert set_value_scale(ax, values) == scale
    assert ax.get_yscale() == scale


def test_floor_band_follows_the_metric_direction():
    floor = pd.Series({"fid": 1.0, "fid_ci_low": 0.8, "fid_ci_high": 1.2, "precision": 0.9,
                       "intra_mode_spread": 0.97, "modes_total": 8})
    assert floor_band("fid", floor) == (-math.inf, 1.2)          # larger is worse: up to the interval's top
    assert floor_band("precision", floor) == (0.9, math.inf)     # smaller is worse
    assert floor_band("intra_mode_spread", floor) == pytest.approx((0.97, 1.03))  # distance from 1
    assert floor_band("modes_total", floor) is None               # no direction


def test_axis_labels_carry_units():
    assert axis_label("w1") == "W1 (data units)"
    assert axis_label("mode_kl") == "mode KL (nats)"  # the registered label has its unit
    assert axis_label("hq_fraction") == "high-quality fraction (fraction)"


def _rendered(fig: Figure):
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def test_metrics_figure_labels_log_axes_and_floor_band():
    fig = metrics_figure(_report())
    axes = [ax for ax in fig.axes if ax.get_visible()]
    by_title = {ax.get_title(): ax for ax in axes}
    assert set(by_title) == {"modes captured", "mode KL (nats)", "W1"}
    assert all(ax.get_ylabel() and ax.get_xlabel().startswith("training step") for ax in axes)
    assert by_title["mode KL (nats)"].get_yscale() == "log"  # values 0.0004 .. 2.07, though intervals cross 0
    assert by_title["W1"].get_yscale() == "linear"
    band = [p for p in by_title["W1"].patches if p.get_label() == "within real-vs-real noise"]
    assert len(band) == 1
    _, y0, _, height = band[0].get_bbox().bounds
    assert y0 + height == pytest.approx(0.8)  # up to the floor's W1 (larger is worse)


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("build", [metrics_figure, shares_figure])
def test_no_y_label_overlaps_the_neighbouring_panel(build):
    fig = build(_report())
    renderer = _rendered(fig)
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    for ax in axes:
        label = ax.yaxis.label.get_window_extent(renderer)
        if not ax.get_ylabel():
            continue
        for other in axes:
            if other is not ax:
                assert not _overlap(label, other.get_window_extent(renderer)), (ax.get_title(), other.get_title())


def test_mode_colours_are_never_the_off_mode_grey():
    grey = to_rgb(OFF_MODE)
    for n in (8, 25):
        colours = _mode_colors(n).colors
        assert len(colours) == n
        assert all(not (c[0] == c[1] == c[2]) and tuple(c) != grey for c in colours)


def test_samples_figure_shows_real_samples_first_and_off_mode_points_grey():
    report = _report()
    fig = samples_figure(report)
    _rendered(fig)  # colour-mapped face colours are set when drawn
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert panels[0].get_title().startswith("real")
    last = report.frame[report.frame["run"] == "runs/b"].sort_values("step")["source"].iloc[-1]
    x = report.samples[last]
    centres = RING.centres.numpy()
    far = np.sqrt(((x[:, None, :] - centres[None]) ** 2).sum(-1)).min(1) > 3 * RING.std  # off-mode, by hand
    panel = next(ax for ax in panels if ax.get_title().startswith("b, step 1000"))
    off = [c for c in panel.collections if c.get_label() == "off-mode"]
    assert len(off) == 1 and len(off[0].get_offsets()) == int(far.sum()) > 0
    assert np.allclose(off[0].get_facecolors()[:, :3], to_rgb(OFF_MODE))
    inside = next(c for c in panel.collections if c.get_label() == "in a mode")
    rgb = inside.get_facecolors()[:, :3]
    assert len(rgb) == int((~far).sum()) and not np.isclose(rgb, to_rgb(OFF_MODE)).all(axis=1).any()
