"""Fault catalogue: a source that never returns (issue 18, item 4).

An endless ``torch.while_loop`` in a ``.pt2`` program and endless TorchScript loops (while loading
and while sampling) become the source's one-line error (an error row of the audit, exit 2 for
``sample``/``score``) naming the source and the limit, and the other sources are still scored.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Tuple

import numpy as np
import pandas as pd
import pytest
import torch

import gandiag
from gandiag.cli import main
from gandiag.defaults import DEFAULTS
from gandiag.errors import GandiagInputError
from gandiag.timeouts import SourceTimeout, check_timeout, interruptible, probe_in_child, time_limit

LIMIT = 1.5  # seconds: the loops below never end, so any limit shows; the good sources take far less


class EndlessWhileLoop(torch.nn.Module):
    """z -> z, after a ``while_loop`` whose condition (i >= 0) never turns false."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        from torch._higher_order_ops.while_loop import while_loop

        _, x = while_loop(lambda i, x: i >= 0, lambda i, x: (i + 1, x * 1.0),
                          (torch.zeros((), dtype=torch.int64), z))
        return x


class EndlessForward(torch.nn.Module):
    """A TorchScript module whose forward loops forever (in the interpreter, never in Python)."""

    def __init__(self) -> None:
        super().__init__()
        self.latent_dim = 2

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        i = 0
        while i >= 0:
            i += 1
        return z


class EndlessLoad(torch.nn.Module):
    """A TorchScript module whose ``__setstate__`` (run by ``torch.jit.load``) loops forever."""

    def __init__(self) -> None:
        super().__init__()
        self.latent_dim = 2

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z

    @torch.jit.export
    def __getstate__(self) -> Tuple[int, bool]:
        return (self.latent_dim, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[int, bool]) -> None:
        self.latent_dim = state[0]
        self.training = state[1]
        i = 0
        while i >= 0:
            i += 1


def _script(module: torch.nn.Module, path: Path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(module).save(str(path))
    return str(path)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("endless")
    endless = folder / "endless.pt2"
    torch.export.save(torch.export.export(EndlessWhileLoop(), (torch.randn(4, 2),),
                                          dynamic_shapes={"z": {0: torch.export.Dim("batch")}}), endless)
    np.save(folder / "good.npy", gandiag.reference("ring8").sample(400, seed=1).numpy())
    gandiag.load_generator(endless, timeout=0)  # the first .pt2 load imports torch.export's internals (seconds)
    return {"endless": str(endless), "good": str(folder / "good.npy"),
            "ts_forward": _script(EndlessForward(), folder / "ts_forward.pt"),
            "ts_load": _script(EndlessLoad(), folder / "ts_load.pt")}


# ------------------------------------------------------------------------------ the mechanism


def test_check_timeout_reads_seconds_and_zero_means_no_limit():
    assert DEFAULTS["timeout"] == 300
    assert [check_timeout(v) for v in (None, 0, 0.0, "0", float("inf"))] == [None] * 5
    assert check_timeout(2) == 2.0 and check_timeout("2.5") == 2.5
    for bad in (-1, float("nan"), True, "soon", [3]):
        with pytest.raises(GandiagInputError, match=r"--timeout .*seconds"):
            check_timeout(bad, "--timeout")


def _spin(seconds: float) -> int:
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        n += 1
    return n


def test_a_python_loop_is_stopped_at_the_limit_and_the_alarm_is_restored():
    before = signal.getsignal(signal.SIGALRM)
    start = time.monotonic()
    with pytest.raises(SourceTimeout, match=r"^gen\.pt2: sampling did not finish within 0\.2 s; raise the limit "
                                            r"with --timeout"):
        with time_limit(0.2, "gen.pt2", "sampling"):
            try:
                _spin(30)
            except Exception:  # foreign code that catches everything cannot keep running past the limit
                pass
    assert 0.2 <= time.monotonic() - start < 5
    assert signal.getsignal(signal.SIGALRM) is before and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    with time_limit(5, "fast", "sampling"):  # a block that finishes in time is untouched
        assert _spin(0.01) > 0
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0


@pytest.mark.parametrize("outer,inner,fires", [(0.2, 30, "outer"), (30, 0.2, "inner")])
def test_nested_limits_the_earliest_deadline_fires_and_names_its_own_source(outer, inner, fires):
    with pytest.raises(SourceTimeout, match=f"^{fires}: "):
        with time_limit(outer, "outer", "loading"):
            with time_limit(inner, "inner", "sampling"):
                _spin(30)
    with time_limit(30, "outer", "loading"):  # after an inner limit ends, the outer one still holds
        with time_limit(30, "inner", "sampling"):
            pass
        with pytest.raises(SourceTimeout, match="^late: "):
            with time_limit(0.2, "late", "sampling"):
                _spin(30)


def test_off_the_main_thread_there_is_no_limit():
    done: list[object] = []

    def work() -> None:
        with time_limit(0.05, "threaded", "sampling"):
            done.append(interruptible(_spin, 0.3))

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(30)
    assert len(done) == 1 and done[0] > 0


def test_interruptible_stops_waiting_for_native_code_and_passes_results_on():
    gate = threading.Event()
    start = time.monotonic()
    with pytest.raises(SourceTimeout, match="^native: "):
        with time_limit(0.2, "native", "loading"):
            interruptible(gate.wait, 30)  # a wait that never returns to the calling thread's Python
    assert time.monotonic() - start < 5
    gate.set()
    with time_limit(5, "native", "loading"):
        assert interruptible(divmod, 7, 2) == (3, 1)
        with pytest.raises(ZeroDivisionError):
            interruptible(divmod, 1, 0)


def test_probe_in_child_kills_a_child_that_does_not_finish_in_time():
    endless = "import time\nprint('ready', flush=True)\ntime.sleep(600)\n"
    start = time.monotonic()
    with pytest.raises(SourceTimeout, match=r"^x\.pt: loading did not finish within 0\.5 s \(tried in a child"):
        probe_in_child(endless, [], 0.5, "x.pt")
    assert time.monotonic() - start < 30
    probe_in_child("import sys\nprint('ready', flush=True)\nsys.exit(3)\n", [], 30, "x.pt")  # its failure is not ours
    exits_slowly = "import time\nprint('ready', flush=True)\nprint('done', flush=True)\ntime.sleep(600)\n"
    start = time.monotonic()
    probe_in_child(exits_slowly, [], 30, "x.pt")  # done in time; the child is killed, not waited for
    assert time.monotonic() - start < 30
    probe_in_child(endless, [], None, "x.pt")  # no limit: nothing runs


# ------------------------------------------------------------------------------- the sources


def test_endless_while_loop_program_is_an_error_row_and_the_rest_is_scored(sources):
    start = time.monotonic()
    report = gandiag.audit([sources["endless"], sources["good"]], "ring8", n=200, metrics="modes",
                           timeout=LIMIT, progress=False)
    assert time.monotonic() - start < 60
    frame = report.frame.set_index("source")
    error = frame.loc[sources["endless"], "error"]
    assert error.startswith(f"{sources['endless']}: sampling (n = 1) did not finish within {LIMIT:g} s")
    assert "--timeout" in error and "\n" not in error
    assert frame.loc[sources["good"], "error"] == "" and frame.loc[sources["good"], "modes_captured"] == 8
    gen = gandiag.load_generator(sources["endless"], timeout=LIMIT)  # loading does not run the program
    with pytest.raises(SourceTimeout, match="sampling"):
        gen.sample(5)


def test_sample_and_score_of_an_endless_program_are_one_line_exit_2(sources, tmp_path, capsys):
    out = tmp_path / "s.npy"
    assert main(["sample", sources["endless"], "--out", str(out), "--timeout", str(LIMIT)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert sources["endless"] in err and f"within {LIMIT:g} s" in err and "--timeout" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert main(["score", sources["endless"], "--reference", "ring8", "--n", "200", "--metrics", "modes",
                 "--timeout", str(LIMIT), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and sources["endless"] in err and f"within {LIMIT:g} s" in err
    assert main(["sample", sources["good"], "--out", str(out), "--timeout", "-1"]) == 2
    assert "--timeout -1.0: must be a number of seconds >= 0" in capsys.readouterr().err


def test_gate_times_out_an_endless_candidate(sources, tmp_path, capsys):
    config = tmp_path / "gate.toml"
    config.write_text('[gate]\nreference = "ring8"\nn = 200\n[gate.metrics.w1]\nmax = 1.0\n')
    assert main(["gate", sources["endless"], "--config", str(config), "--timeout", str(LIMIT)]) == 2
    err = capsys.readouterr().err
    assert sources["endless"] in err and f"within {LIMIT:g} s" in err and "Traceback" not in err


def test_endless_torchscript_loops_are_error_rows_on_the_command_line(sources, tmp_path):
    """In a subprocess: the abandoned interpreter threads keep a core busy until their process ends."""
    out = tmp_path / "scores.csv"
    cli = "import sys; from gandiag.cli import main; sys.exit(main(sys.argv[1:]))"
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", cli, "score", sources["ts_forward"], sources["ts_load"], sources["good"],
                           "--reference", "ring8", "--n", "200", "--metrics", "modes", "--allow-torchscript",
                           "--timeout", str(LIMIT), "--quiet", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert time.monotonic() - start < 120
    frame = pd.read_csv(out, keep_default_na=False).set_index("source")
    assert frame.loc[sources["ts_load"], "error"].startswith(
        f"{sources['ts_load']}: loading did not finish within {LIMIT:g} s")
    assert frame.loc[sources["ts_forward"], "error"].startswith(
        f"{sources['ts_forward']}: sampling (n = 1) did not finish within {LIMIT:g} s")
    assert frame.loc[sources["good"], "error"] == "" and float(frame.loc[sources["good"], "modes_captured"]) == 8
