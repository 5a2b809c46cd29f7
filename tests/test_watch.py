"""gandiag watch: each checkpoint scored once when complete, alerts at the confirmed onset, --exit-on."""

import io
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import gandiag
from gandiag.auditing.live import parse_exit_on
from gandiag.auditing.store import STORE_NAME, ResultStore
from gandiag.auditing.watch import watch
from gandiag.cli import main
from gandiag.errors import GandiagInputError

from helpers import DEFECTS, DefectGenerator

N = 300
OPTS = {"n": N, "metrics": "modes", "resamples": 0, "plots": False}
NAMES = ["perfect", "perfect", "missing", "missing", "missing"]


def npy_bytes(name: str, seed: int) -> bytes:
    weights, scale, _ = DEFECTS[name]
    torch.manual_seed(seed)
    buffer = io.BytesIO()
    np.save(buffer, DefectGenerator(weights, scale)(torch.randn(2 * N, 3)).numpy())
    return buffer.getvalue()


def trainer(folder: Path, names, pause: float, slow: int | None = None) -> threading.Thread:
    """Writes one checkpoint every ``pause`` s; checkpoint ``slow`` is written in 4 pieces over ~1 s."""

    def write() -> None:
        for i, name in enumerate(names):
            data, path = npy_bytes(name, i), folder / f"step-{(i + 1) * 100:07d}.npy"
            if i == slow:
                with open(path, "wb") as fh:
                    for k in range(4):
                        fh.write(data[k * len(data) // 4:(k + 1) * len(data) // 4])
                        fh.flush()
                        time.sleep(0.25)
            else:
                path.write_bytes(data)
            time.sleep(pause)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_watch_scores_each_complete_checkpoint_once_and_matches_an_audit(tmp_path):
    run, out = tmp_path / "run", tmp_path / "out"
    run.mkdir()
    lines: list[str] = []
    writer = trainer(run, NAMES, pause=0.3, slow=1)
    outcome = watch(run, "ring8", out=out, every=0.1, settle=0.6, until_step=500, echo=lines.append, **OPTS)
    writer.join()
    assert outcome.reason == "until-step" and outcome.scored == len(NAMES)
    frame = pd.read_csv(out / "report.csv")
    checkpoints = frame[frame["source"] != "real-vs-real"]
    assert list(checkpoints["step"]) == [100, 200, 300, 400, 500]  # each once, in step order
    assert checkpoints["error"].isna().all()  # the slowly written file was never read half-written
    assert len(ResultStore(out / STORE_NAME, "")) == len(NAMES) + 1
    # the rows are those of an audit of the finished folder (same n, seed): the store serves them
    audited = gandiag.audit(run, "ring8", n=N, metrics="modes", resamples=0, progress=False,
                            store=out / STORE_NAME)
    assert audited.settings["store"]["reused"] == len(NAMES) + 1 and audited.settings["store"]["scored"] == 0
    # alerts: mode_dropping raised at 300 and 400 -> confirmed at 400, onset 300; announced once
    alerts = [line for line in lines if line.startswith("ALERT")]
    assert alerts == [alerts[0]] and alerts[0].startswith("ALERT step 400: mode_dropping confirmed")
    assert "since step 300" in alerts[0]
    assert [a.step for a in outcome.alerts] == [400]
    assert len([line for line in lines if line.startswith("step")]) == len(NAMES)


def test_exit_on_stops_at_the_confirmed_step_with_exit_status_1(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    for i, name in enumerate(NAMES):
        (run / f"step-{(i + 1) * 100:07d}.npy").write_bytes(npy_bytes(name, i))
    code = main(["watch", str(run), "--reference", "ring8", "--n", str(N), "--metrics", "modes", "--resamples", "0",
                 "--every", "0.1", "--out", str(tmp_path / "out"), "--exit-on", "mode_dropping", "--no-plots",
                 "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert "ALERT step 400: stop rule flag:mode_dropping failed" in captured.out
    frame = pd.read_csv(tmp_path / "out" / "report.csv")
    assert list(frame["step"].dropna().astype(int)) == [100, 200, 300, 400]  # stopped there: 500 never scored
    # a bound instead of a flag, confirmed once (--confirm 1): the first checkpoint under 8 modes
    code = main(["watch", str(run), "--reference", "ring8", "--n", str(N), "--metrics", "modes", "--resamples", "0",
                 "--every", "0.1", "--out", str(tmp_path / "out2"), "--exit-on", "modes_captured.min=8",
                 "--confirm", "1", "--no-plots"])
    assert code == 1 and "ALERT step 300: stop rule" in capsys.readouterr().out


def test_exit_on_rules_are_checked_like_gate_keys():
    config = parse_exit_on(["any", "fid.max=20", "coverage.min=0.5"], "ring8")
    assert set(config.flags) == {"mode_dropping", "mode_collapse", "low_quality"}
    assert {(r.metric, r.min, r.max) for r in config.metrics} == {("fid", None, 20.0), ("coverage", 0.5, None)}
    with pytest.raises(GandiagInputError, match="unknown flag 'mode_colapse'"):
        parse_exit_on(["mode_colapse"], "ring8")
    with pytest.raises(GandiagInputError, match="METRIC.max=VALUE"):
        parse_exit_on(["fid=3"], "ring8")
    with pytest.raises(GandiagInputError, match="not a number"):
        parse_exit_on(["fid.max=abc"], "ring8")


def test_watch_refuses_a_missing_folder(tmp_path):
    with pytest.raises(GandiagInputError, match="not a folder"):
        watch(tmp_path / "nope", "ring8", max_polls=1, **OPTS)


def test_watch_and_monitor_say_once_when_n_is_too_small_for_the_flags(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    ring = gandiag.reference("ring8")
    np.save(run / "step-0000100.npy", ring.sample(100, seed=5).numpy())
    lines: list[str] = []
    watch(run, "ring8", every=0.1, settle=0.2, until_step=100, echo=lines.append, **{**OPTS, "n": 40})
    caution = "caution: flags not to be trusted at n = 40: a wholly missing typical mode is within chance"
    assert lines[0].startswith(caution) and sum(line.startswith("caution") for line in lines) == 1, lines
    said: list[str] = []
    gandiag.Monitor("ring8", n=40, every=10, metrics="modes", plots=False, echo=said.append)
    assert [line[:len(caution)] for line in said] == [caution]
    gandiag.Monitor("ring8", n=100, every=10, metrics="modes", plots=False, echo=said.append)
    assert len(said) == 1  # n = 100 is enough on ring8 (51): nothing more is said
