"""Thread selection: --threads, GANDIAG_THREADS, the defaults, and restoring the caller's count."""

from __future__ import annotations

import pytest
import torch

from gandiag import GandiagInputError
from gandiag.cli import main
from gandiag.threads import THREADS_ENV, resolve_threads, torch_threads
from helpers import tiny_config
from reference_models.trainer import DEFAULT_THREADS, train, training_threads


def test_explicit_beats_environment_beats_default(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert resolve_threads(None, default=None) is None
    assert resolve_threads(None, default=1) == 1
    monkeypatch.setenv(THREADS_ENV, "3")
    assert resolve_threads(None, default=1) == 3
    assert resolve_threads(2, default=1) == 2


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_bad_values_name_their_origin(monkeypatch, bad):
    monkeypatch.setenv(THREADS_ENV, bad)
    with pytest.raises(GandiagInputError, match=THREADS_ENV):
        resolve_threads(None)
    with pytest.raises(GandiagInputError, match="--threads"):
        resolve_threads(bad)


def test_torch_threads_restores():
    before = torch.get_num_threads()
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with torch_threads(before + 1):
            assert torch.get_num_threads() == before + 1
            raise RuntimeError
    assert torch.get_num_threads() == before


@pytest.mark.skipif("OpenMP" not in torch.__config__.parallel_info(),
                    reason="the per-thread counts described in gandiag.threads are the OpenMP backend's")
def test_a_block_in_another_thread_leaves_this_threads_count_alone():
    """The OpenMP behaviour that gandiag/threads.py documents: counts are per thread once a thread ran
    parallel work, and a new thread takes the last count set (this fails if a torch release changes that)."""
    import threading

    with torch_threads(2):
        torch.ones(256, 256) @ torch.ones(256, 256)  # this thread now has its own count
        inside, release, seen = threading.Event(), threading.Event(), {}

        def worker():
            with torch_threads(1):
                seen["worker"] = torch.get_num_threads()
                inside.set()
                release.wait(10)

        t = threading.Thread(target=worker)
        t.start()
        assert inside.wait(10)
        seen["main"] = torch.get_num_threads()  # while the worker's block is open
        fresh = threading.Thread(target=lambda: seen.__setitem__("fresh", torch.get_num_threads()))
        fresh.start()
        fresh.join()
        release.set()
        t.join()
    assert seen == {"worker": 1, "main": 2, "fresh": 1}


def test_trainer_uses_one_thread_by_default_and_respects_threads(monkeypatch, tmp_path):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    cfg = tiny_config("nsgan-ring8", steps=2, checkpoint_every=2)
    assert training_threads(cfg) == DEFAULT_THREADS["mlp"] == 1
    assert training_threads(cfg, 2) == 2
    monkeypatch.setenv(THREADS_ENV, "2")
    assert training_threads(cfg) == 2
    seen = []
    real = torch.get_num_threads
    monkeypatch.setattr(torch, "get_num_threads", lambda: seen.append(real()) or real())
    before = real()
    train(cfg, tmp_path / "a", progress=False, threads=3)
    assert 3 in seen  # recorded in the checkpoint while training
    assert real() == before


def test_cli_threads_option_sets_torch_threads_while_running(monkeypatch, capsys):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    import gandiag.cli.compare as compare_cli

    seen = []
    monkeypatch.setattr(compare_cli, "run", lambda args: seen.append(torch.get_num_threads()) or 0)
    before = torch.get_num_threads()
    assert main(["compare", "lines", "--threads", "3"]) == 0
    assert seen == [3] and torch.get_num_threads() == before
    assert main(["compare", "lines", "--threads", "0"]) == 2
    assert "--threads 0" in capsys.readouterr().err
