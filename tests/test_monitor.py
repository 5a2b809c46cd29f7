"""gandiag.Monitor: scores on the configured steps, alerts, and leaves training bit-identical."""

import random
import re

import numpy as np
import pandas as pd
import pytest
import torch

import gandiag
from gandiag.errors import GandiagInputError


def _nets():
    torch.manual_seed(0)
    g = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.BatchNorm1d(32), torch.nn.ReLU(),
                            torch.nn.Dropout(0.1), torch.nn.Linear(32, 2))
    d = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    return g, d


def train(steps: int, monitor=None):
    """A plain non-saturating GAN loop on ring8 that draws from the global RNGs (torch, numpy, random)."""
    g, d = _nets()
    opt_g, opt_d = torch.optim.SGD(g.parameters(), lr=0.05), torch.optim.SGD(d.parameters(), lr=0.05)
    data = gandiag.reference("ring8").sample(4096, seed=1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    np.random.seed(0)
    random.seed(0)
    for step in range(steps):
        real = data[np.random.randint(0, len(data), 64)] + 0.0 * random.random()
        fake = g(torch.randn(64, 2))
        loss_d = bce(d(real), torch.ones(64, 1)) + bce(d(fake.detach()), torch.zeros(64, 1))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = bce(d(fake), torch.ones(64, 1))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if monitor is not None:
            monitor.step(g, step, latent_dim=2)
    return g, d


def test_monitoring_leaves_training_bit_identical(tmp_path):
    plain_g, plain_d = train(41)
    mon = gandiag.Monitor("ring8", n=200, every=20, metrics="modes,js,sliced_w", out=tmp_path / "mon",
                          plots=False, echo=None)
    watched_g, watched_d = train(41, mon)
    for a, b in zip([*plain_g.state_dict().values(), *plain_d.state_dict().values()],
                    [*watched_g.state_dict().values(), *watched_d.state_dict().values()]):
        assert torch.equal(a, b)
    assert watched_g.training and all(m.training for m in watched_g.modules())  # train mode restored
    frame = pd.read_csv(tmp_path / "mon" / "report.csv")
    assert list(frame["step"].dropna().astype(int)) == [0, 20, 40]
    assert frame["source"].iloc[-1] == "real-vs-real"


def test_step_returns_the_row_on_due_steps_and_matches_score():
    net = torch.nn.Linear(2, 2)
    mon = gandiag.Monitor("ring8", n=300, every=10, metrics="modes", echo=None, floor=False)
    assert mon.step(net, 5, latent_dim=2) is None
    row = mon.step(net, 10, latent_dim=2)
    expected = gandiag.score(net, "ring8", n=300, metrics="modes", latent_dim=2)
    for col in ("modes_captured", "hq_fraction", "mode_kl", "intra_mode_spread"):
        assert row[col] == pytest.approx(expected[col], nan_ok=True)
    assert int(row["step"]) == 10


def test_alerts_and_should_stop():
    lines = []
    mon = gandiag.Monitor("ring8", n=300, every=1, metrics="modes", echo=lines.append, exit_on=["mode_collapse"],
                          confirm=2)
    good = gandiag.reference("ring8").sample(300, seed=9)
    collapsed = torch.zeros(300, 2) + gandiag.reference("ring8").centres[3]
    mon.step(good, 0)
    mon.step(collapsed, 1)
    assert not mon.should_stop
    mon.step(collapsed, 2)
    assert mon.should_stop
    assert any(line.startswith("ALERT step 2: mode_collapse confirmed") for line in lines)
    assert mon.best("mode_kl").best == ("step 0", 0)


def test_bad_every_is_refused():
    with pytest.raises(GandiagInputError, match="every"):
        gandiag.Monitor("ring8", every=0)


def test_a_generator_that_draws_from_the_global_rngs_does_not_move_them():
    def noisy(z):  # a user's callable that adds noise from the global generators
        return z + 0.01 * torch.randn_like(z) + float(np.random.rand()) * 0 + random.random() * 0

    mon = gandiag.Monitor("ring8", n=200, every=1, metrics="modes", echo=None, floor=False)
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    mon.step(noisy, 0, latent_dim=2)
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1]) and random.getstate() == before[2]


def test_the_readme_loop_runs_as_written(tmp_path, monkeypatch, capsys):
    # The README's 10-line loop, executed: it once ranked by w2, which the monitor does not score by default.
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = text.index("mon = gandiag.Monitor(")
    block = text[text.rindex("```python\n", 0, start) + len("```python\n"):text.index("```", start)]
    monkeypatch.chdir(tmp_path)  # out="monitor/" lands here
    torch.manual_seed(0)
    G = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    namespace = {"G": G, "steps": 501}
    exec(compile(block, "README.md", "exec"), namespace)
    mon = namespace["mon"]
    assert list(mon.report().frame["step"].dropna().astype(int)) == [0, 500]
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"best sliced_w: step (0|500); \d other checkpoint\(s\) not significantly worse; "
                        r"recommended: (none|step 0|step 500)", last), last
    assert (tmp_path / "monitor" / "report.md").exists()
