"""The PacGAN table-1 reproduction (issue 19): the metrics by hand, and the command on a tiny budget."""

from __future__ import annotations

import csv
import math

import numpy as np
import torch

import gandiag
from reference_models.literature import CSV_COLUMNS, PUBLISHED, main, pacgan_metrics


def test_pacgan_metrics_by_hand():
    ring = gandiag.reference("ring8")
    centres = torch.as_tensor(ring.centres, dtype=torch.float32)
    # 30 samples on mode 0, 10 on mode 3 (within 3 std), 10 nearest mode 5 but 20 std away from it.
    x = torch.cat([centres[0].repeat(30, 1), centres[3].repeat(10, 1) + 0.02, 1.2 * centres[5].repeat(10, 1)])
    m = pacgan_metrics(x, ring)
    assert m["modes"] == 2 and m["hq_percent"] == 80.0
    # KL(p || uniform) of the high-quality histogram (0.75, 0.25), as MetricLogger: log 8 - H(p).
    p = np.array([0.75, 0.25])
    assert math.isclose(m["reverse_kl"], float(np.sum(p * np.log(8 * p))), rel_tol=1e-12)
    assert math.isclose(m["reverse_kl"], math.log(8) + float(np.sum(p * np.log(p))), rel_tol=1e-12)
    # gandiag's mode_kl counts every sample at its nearest mode: (0.6, 0.2, 0.2).
    q = np.array([0.6, 0.2, 0.2])
    assert math.isclose(m["gandiag_mode_kl"], float(np.sum(q * np.log(8 * q))), rel_tol=1e-12)


def test_literature_command_writes_the_table_and_resumes(tmp_path, capsys):
    out, runs = tmp_path / "reports", tmp_path / "runs"
    args = ["--out", str(out), "--runs", str(runs), "--trials", "2", "--data", "ring8", "--quiet"]
    assert main(args + ["--steps", "2"]) == 0
    md = (out / "literature.md").read_text()
    for column in ("modes (published)", "high-quality % (published)", "reverse KL (published)", "real vs real (floor)"):
        assert column in md
    assert "| ring8 | GAN | `pacgan1-ring8` |" in md and "6.3 ± 0.5" in md and "| 7.9 |" in md and "0.07" in md
    assert "Trials per row: **2**" in md and "training seeds 0..1" in md
    with open(out / "literature.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [(r["recipe"], r["trial"]) for r in rows[:4]] == [("pacgan1-ring8", "0"), ("pacgan1-ring8", "1"),
                                                             ("pacgan2-ring8", "0"), ("pacgan2-ring8", "1")]
    floor = [r for r in rows if r["method"] == "real data"]
    assert len(floor) == 2 and all(r["modes"] == "8.0" and 97 < float(r["hq_percent"]) < 100 for r in floor)
    # Resumable: a longer budget continues each run from its last checkpoint instead of restarting.
    first = (runs / "pacgan2-ring8" / "seed-1" / "step-0000000.pt").stat().st_mtime_ns
    assert main(args + ["--steps", "3"]) == 0
    assert (runs / "pacgan2-ring8" / "seed-1" / "step-0000003.pt").exists()
    assert (runs / "pacgan2-ring8" / "seed-1" / "step-0000000.pt").stat().st_mtime_ns == first
    assert {p["recipe"] for p in PUBLISHED} <= set(gandiag_recipes())


def gandiag_recipes():
    from reference_models.recipes import RECIPES

    return RECIPES
