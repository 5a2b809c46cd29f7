"""Fault catalogue: trainers killed, interrupted or doubled (issue 18, items 5 and 7, and signals).

Each case runs real ``gandiag train`` processes (tiny nets, one thread) and checks what is on disk
afterwards: no half-written checkpoint, no temporary file after SIGINT, after SIGKILL only
temporary files that the next run removes, a resumed run bit-identical to an uninterrupted one,
one row of ``train_log.csv`` per step, and one trainer per run folder.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from helpers import TINY, tiny_config

from gandiag.cli import main
from gandiag.errors import GandiagInputError
from reference_models import checkpoints, train

TESTS = str(Path(__file__).resolve().parent)
ENV = {**os.environ, "PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
CLI = "import sys; from gandiag.cli import main; sys.exit(main(sys.argv[1:]))"
SETTINGS = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]


def _train_argv(out: Path, steps: int, seed: int = 1, *extra: str) -> list[str]:
    return ["train", "nsgan-ring8", "--out", str(out), "--steps", str(steps), "--seed", str(seed),
            "--checkpoint-every", "1", "--threads", "1", "--quiet", *SETTINGS, *extra]


def _start_trainer(out: Path) -> subprocess.Popen:
    """A trainer that would run for hours, checkpointing every step."""
    return subprocess.Popen([sys.executable, "-c", CLI, *_train_argv(out, 10**6)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else proc.returncode
        assert time.monotonic() < deadline, "the trainer did not get there in time"
        time.sleep(0.001)


def _temporary(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def _lock_file(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a checkpoint (weights, optimiser moments, RNG streams), by its key path."""
    found: dict[str, torch.Tensor] = {}

    def walk(value, key: str) -> None:
        if isinstance(value, torch.Tensor):
            found[key] = value
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}.{k}")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{key}[{i}]")

    ckpt = torch.load(path, weights_only=True)
    for part in ("generator", "discriminator", "optimizers", "rng"):
        walk(ckpt[part], part)
    return found


def _assert_bit_identical(a: Path, b: Path) -> None:
    ta, tb = _tensors(a), _tensors(b)
    assert ta.keys() == tb.keys() and len(ta) > 10
    for key in ta:
        assert ta[key].dtype == tb[key].dtype and torch.equal(ta[key], tb[key]), key


def _log(out: Path) -> list[tuple[str, str, str]]:
    with open(out / "train_log.csv", newline="") as fh:
        return [(r["step"], r["loss_d"], r["loss_g"]) for r in csv.DictReader(fh)]


def test_second_trainer_is_refused_and_a_sigkilled_run_resumes_bit_exactly(tmp_path, capsys):
    out = tmp_path / "run"
    first = _start_trainer(out)
    try:
        _wait_for(lambda: (out / "step-0000002.pt").exists(), first)
        # a second trainer on the same folder, another seed: one line naming the folder and the holder
        assert main(_train_argv(out, 50, 2, "--resume")) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(out) in err and f"pid {first.pid}" in err, err
        assert main(_train_argv(out, 50, 2)) == 2 and f"pid {first.pid}" in capsys.readouterr().err
        # SIGKILL while a checkpoint is being written
        _wait_for(lambda: any(n.startswith(".step-") for n in _temporary(out)), first)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            first.kill()
        first.wait()
    left = _temporary(out)
    assert all(n.startswith((".step-", ".train_log.csv.")) and n.endswith(".tmp") for n in left), left
    assert {p.name for p in out.iterdir()} - set(left) == {p.name for p in checkpoints(out)} | {"train_log.csv"}
    last = max(int(p.stem.split("-")[1]) for p in checkpoints(out))
    assert all(torch.load(p, weights_only=True)["config"]["seed"] == 1 for p in checkpoints(out))  # never interleaved
    # the next run removes the temporary files and the lock, and continues bit for bit
    assert main(_train_argv(out, last + 2, 1, "--resume")) == 0
    assert _temporary(out) == [] and not _lock_file(out).exists()
    straight = tmp_path / "straight"
    train(tiny_config("nsgan-ring8", steps=last + 2, checkpoint_every=last + 2, seed=1), straight, progress=False,
          threads=1)
    name = f"step-{last + 2:07d}.pt"
    _assert_bit_identical(straight / name, out / name)
    assert [r[0] for r in _log(out)] == [str(s) for s in range(1, last + 3)]
    assert _log(out) == _log(straight)


def test_sigint_during_training_is_exit_130_and_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "run"
    proc = _start_trainer(out)
    try:
        _wait_for(lambda: (out / "step-0000002.pt").exists(), proc)
        _wait_for(lambda: any(n.startswith(".step-") for n in _temporary(out)), proc)  # mid-write
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "gandiag train: interrupted", err
    assert "Traceback" not in err
    assert _temporary(out) == [] and not _lock_file(out).exists()
    for path in checkpoints(out):  # every checkpoint on disk is complete
        assert torch.load(path, weights_only=True)["step"] == int(path.stem.split("-")[1])


KILLER = textwrap.dedent("""
    import os, signal, sys
    import reference_models.trainer as trainer
    from helpers import tiny_config

    real, moment = trainer.write_checkpoint, sys.argv[2]

    def write(path, payload):  # SIGKILL just before or just after checkpoint 3 is renamed into place
        if payload["step"] == 3 and moment == "before-rename":
            os.kill(os.getpid(), signal.SIGKILL)
        real(path, payload)
        if payload["step"] == 3 and moment == "after-rename":
            os.kill(os.getpid(), signal.SIGKILL)

    trainer.write_checkpoint = write
    trainer.train(tiny_config("nsgan-ring8", steps=6, checkpoint_every=3), sys.argv[1], progress=False, threads=1)
""")


@pytest.mark.parametrize("moment", ["before-rename", "after-rename"])
def test_train_log_has_one_row_per_step_after_a_kill_and_resume(moment, tmp_path):
    out, straight = tmp_path / "run", tmp_path / "straight"
    done = subprocess.run([sys.executable, "-c", KILLER, str(out), moment], env=ENV, capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert [p.name for p in checkpoints(out)] == ["step-0000000.pt"] + (["step-0000003.pt"] if moment == "after-rename"
                                                                        else [])
    assert [r[0] for r in _log(out)] == ["1", "2", "3"]  # the log was written before the checkpoint's rename
    train(tiny_config("nsgan-ring8", steps=6, checkpoint_every=3), out, resume=True, progress=False, threads=1)
    train(tiny_config("nsgan-ring8", steps=6, checkpoint_every=3), straight, progress=False, threads=1)
    assert [r[0] for r in _log(out)] == ["1", "2", "3", "4", "5", "6"]
    assert _log(out) == _log(straight)
    _assert_bit_identical(straight / "step-0000006.pt", out / "step-0000006.pt")


def test_resume_of_a_folder_holding_two_runs_is_refused(tmp_path, capsys):
    for name, seed in (("a", 1), ("b", 2)):
        train(tiny_config("nsgan-ring8", steps=2, checkpoint_every=1, seed=seed), tmp_path / name, progress=False)
    hybrid = tmp_path / "hybrid"  # what two interleaved trainers left before the lock
    shutil.copytree(tmp_path / "a", hybrid)
    shutil.copy(tmp_path / "b" / "step-0000002.pt", hybrid / "step-0000002.pt")
    with pytest.raises(GandiagInputError, match=r"come from different runs \(step-0000000.pt and step-0000002.pt "
                                                r"differ: seed 1 vs 2\)"):
        train(tiny_config("nsgan-ring8", steps=4, seed=2), hybrid, resume=True, progress=False)
    assert main(_train_argv(hybrid, 4, 2, "--resume")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(hybrid) in err and "different runs" in err
    assert [p.name for p in checkpoints(hybrid)][-1] == "step-0000002.pt"  # nothing was written
