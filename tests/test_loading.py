"""gandiag.load_generator: every source kind (docs/contract.md section 3), and every bad input,
through the Python API and the command line."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import LinearGenerator, export_program

import gandiag
from gandiag import SourceError
from gandiag.cli import main
from gandiag.generators import NetworkGenerator
from gandiag.loading import Run


class Identity(torch.nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * 1.0


class Scripted(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.latent_dim = 3
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.lin(z)


class NoLatent(torch.nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * 2.0


def _script(module: torch.nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():  # torch.jit.script is deprecated; users still hold such archives
        warnings.simplefilter("ignore")
        torch.jit.script(module).save(str(path))
    return path


class Evil:
    """Unpickling this runs a shell command: the attack weights_only=True exists to stop."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# ----------------------------------------------------------------------------- every source kind


def test_checkpoint(tiny_run):
    gen = gandiag.load_generator(tiny_run / "step-0000004.pt")
    assert isinstance(gen, NetworkGenerator) and gen.step == 4 and gen.latent == gandiag.LatentSpec(2, "normal")
    x = gen.sample(500, seed=1)
    assert x.shape == (500, 2) and x.dtype == torch.float32
    assert torch.equal(x, gen.sample(500, seed=1)) and not torch.equal(x, gen.sample(500, seed=2))


def test_same_seed_same_samples_whatever_the_batch_size(tiny_run):
    gen = gandiag.load_generator(tiny_run / "step-0000004.pt")
    full = gen.sample(1000, seed=3)
    for n in (1, 7, 255, 256, 257, 600):
        assert torch.equal(gen.sample(n, seed=3), full[:n]), n
    # and whatever the chunk the network runs on: the same generator with another chunk size
    other = NetworkGenerator(gen.fn, gen.latent, chunk=256)
    assert torch.equal(other.sample(300, seed=3), full[:300])


def test_conditional_dcgan_checkpoint(tiny_digits_run):
    gen = gandiag.load_generator(tiny_digits_run / "step-0000002.pt", reference="digits")
    assert gen.n_classes == 10 and gen.latent.dim == 32
    x = gen.sample(40, seed=0)
    assert x.shape == (40, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    assert not torch.equal(gen.sample(40, seed=0, labels=3), gen.sample(40, seed=0, labels=4))


def test_folder_is_a_run_ordered_by_step(tiny_run, tmp_path):
    run = gandiag.load_generator(tiny_run)
    assert isinstance(run, Run) and run.steps == [0, 2, 4]
    assert [g.step for g in run] == [0, 2, 4]
    # sample files named by step form a run too; order is numeric, not lexicographic
    for step in (100, 20, 3):
        np.save(tmp_path / f"step-{step}.npy", np.full((10, 2), step, dtype=np.float32))
    run = gandiag.load_generator(tmp_path)
    assert run.steps == [3, 20, 100] and float(run.load(2).sample(1)[0, 0]) == 100.0


def test_export_program(tmp_path):
    path = export_program(LinearGenerator(latent_dim=4, out_dim=2), tmp_path / "g.pt2", latent_dim=4)
    gen = gandiag.load_generator(path, reference="ring8")
    assert gen.latent.dim == 4
    x = gen.sample(300, seed=0)
    assert x.shape == (300, 2) and torch.equal(x[:5], gen.sample(5, seed=0))


def test_export_program_with_static_batch(tmp_path):
    path = export_program(LinearGenerator(latent_dim=2), tmp_path / "g.pt2", latent_dim=2, static_batch=32)
    gen = gandiag.load_generator(path)
    assert gen.chunk == 32 and gen.sample(70, seed=0).shape == (70, 2)


def test_torchscript_archive_only_with_the_opt_in(tmp_path, capsys):
    path = _script(Scripted(), tmp_path / "ts.pt")
    with pytest.raises(SourceError, match="TorchScript archive: loading one runs code") as info:
        gandiag.load_generator(path)
    assert str(path) in str(info.value) and "--allow-torchscript" in str(info.value)
    assert main(["sample", str(path), "--out", str(tmp_path / "o.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ts.pt" in err and "allow-torchscript" in err
    assert not (tmp_path / "o.npy").exists()
    gen = gandiag.load_generator(path, allow_torchscript=True)
    assert gen.latent.dim == 3 and gen.sample(20, seed=0).shape == (20, 2)


def test_torchscript_without_latent_dim_needs_the_option(tmp_path, capsys):
    path = _script(NoLatent(), tmp_path / "nolatent.pt")
    with pytest.raises(SourceError, match="no int attribute latent_dim"):
        gandiag.load_generator(path, allow_torchscript=True)
    assert gandiag.load_generator(path, latent_dim=5, allow_torchscript=True).sample(4).shape == (4, 5)
    assert main(["sample", str(path), "--allow-torchscript", "--out", str(tmp_path / "o.npy")]) == 2
    assert "nolatent.pt" in capsys.readouterr().err
    assert main(["sample", str(path), "--allow-torchscript", "--latent-dim", "5", "--n", "4",
                 "--out", str(tmp_path / "o.npy")]) == 0
    assert np.load(tmp_path / "o.npy").shape == (4, 5)


def test_sample_files(tmp_path):
    arr = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    np.save(tmp_path / "s.npy", arr)
    np.savez(tmp_path / "s.npz", samples=arr)
    for name in ("s.npy", "s.npz"):
        gen = gandiag.load_generator(tmp_path / name)
        x = gen.sample(60, seed=4)
        assert x.shape == (60, 3) and torch.equal(x, gen.sample(60, seed=4))
        assert len({tuple(r) for r in x.numpy().tolist()}) == 60  # a subset, no repeats
        assert np.isin(x.numpy()[:, 0], arr[:, 0]).all()
        with pytest.raises(SourceError, match="holds 100 samples, 101 were asked for"):
            gen.sample(101)


def test_latent_options(tmp_path):
    path = export_program(Identity(), tmp_path / "id.pt2", latent_dim=3)
    normal = gandiag.load_generator(path).sample(20000, seed=0).numpy()
    uniform = gandiag.load_generator(path, latent="uniform").sample(20000, seed=0).numpy()
    assert abs(normal.std() - 1) < 0.02 and np.abs(normal).max() > 3
    assert np.abs(uniform).max() <= 1 and abs(uniform.var() - 1 / 3) < 0.01  # U[-1, 1] has variance 1/3
    assert main(["sample", str(path), "--latent", "uniform", "--n", "500", "--out", str(tmp_path / "u.npy")]) == 0
    assert np.abs(np.load(tmp_path / "u.npy")).max() <= 1


def test_sample_cli_writes_npy(tiny_run, tmp_path):
    out = tmp_path / "x.npy"
    assert main(["sample", str(tiny_run / "step-0000002.pt"), "--n", "50", "--seed", "2", "--out", str(out)]) == 0
    gen = gandiag.load_generator(tiny_run / "step-0000002.pt")
    np.testing.assert_array_equal(np.load(out), gen.sample(50, seed=2).numpy())


def test_console_script_is_installed(tiny_run, tmp_path):
    exe = Path(sys.executable).with_name("gandiag")
    res = subprocess.run([str(exe), "sample", str(tiny_run), "--n", "10", "--out", str(tmp_path / "x.npy")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "step-0000004.pt" in res.stdout  # a folder samples its last checkpoint
    res = subprocess.run([str(exe), "sample", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "y.npy")],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "missing.pt: no such file" in res.stderr and len(res.stderr.splitlines()) == 1


# ----------------------------------------------------------------------------- bad inputs


def _truncate(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _bad_inputs(tmp_path: Path, tiny_run: Path) -> dict[str, tuple[Path, str, dict]]:
    ckpt = tiny_run / "step-0000004.pt"
    cases: dict[str, tuple[Path, str, dict]] = {}
    cases["truncated checkpoint"] = (_truncate(ckpt, tmp_path / "trunc.pt"), "truncated or not a torch file", {})
    program = export_program(LinearGenerator(), tmp_path / "ok.pt2", latent_dim=2)
    cases["truncated program"] = (_truncate(program, tmp_path / "trunc.pt2"), "not a readable torch.export program", {})
    np.save(tmp_path / "ok.npy", np.zeros((64, 2), np.float32))
    cases["truncated npy"] = (_truncate(tmp_path / "ok.npy", tmp_path / "trunc.npy"), "not a readable .npy", {})
    rnd = np.random.default_rng(0).bytes(4096)
    for suffix in (".pt", ".pt2", ".npy"):
        (tmp_path / f"random{suffix}").write_bytes(rnd)
        cases[f"random bytes {suffix}"] = (tmp_path / f"random{suffix}", "random" + suffix, {})
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump({"gandiag_format": 1, "payload": Evil(marker)}, fh)
    cases["code pickle"] = (tmp_path / "evil.pt", "could run code", {})
    torch.save({"gandiag_format": 1, "payload": Evil(marker)}, tmp_path / "evil_zip.pt")
    cases["code pickle in zip"] = (tmp_path / "evil_zip.pt", "could run code", {})
    data = torch.load(ckpt, weights_only=True)
    data["architecture"]["name"] = "no-such-architecture"
    torch.save(data, tmp_path / "unregistered.pt")
    cases["unregistered architecture"] = (tmp_path / "unregistered.pt", "'no-such-architecture' is not registered", {})
    torch.save({"weights": torch.zeros(3)}, tmp_path / "plain.pt")
    cases["not a gandiag checkpoint"] = (tmp_path / "plain.pt", "not a gandiag checkpoint", {})
    np.save(tmp_path / "rank1.npy", np.zeros(10, np.float32))
    cases["npy rank 1"] = (tmp_path / "rank1.npy", r"shape \(10,\); samples must be", {})
    np.save(tmp_path / "rank3.npy", np.zeros((10, 3, 3), np.float32))
    cases["npy rank 3"] = (tmp_path / "rank3.npy", r"shape \(10, 3, 3\); samples must be", {})
    wide = export_program(LinearGenerator(latent_dim=2, out_dim=3), tmp_path / "wide.pt2", latent_dim=2)
    cases["program output shape"] = (wide, r"shape \(3,\) but reference 'ring8' expects \(2,\)", {"reference": "ring8"})
    (tmp_path / "notes.txt").write_text("hello")
    cases["unknown suffix"] = (tmp_path / "notes.txt", "unknown file type '.txt'", {})
    cases["missing"] = (tmp_path / "nothing.pt", "no such file", {})
    return cases


BAD = ["truncated checkpoint", "truncated program", "truncated npy", "random bytes .pt", "random bytes .pt2",
       "random bytes .npy", "code pickle", "code pickle in zip", "unregistered architecture",
       "not a gandiag checkpoint", "npy rank 1", "npy rank 3", "program output shape", "unknown suffix", "missing"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_python_api(case, tmp_path, tiny_run):
    path, message, kwargs = _bad_inputs(tmp_path, tiny_run)[case]
    with pytest.raises(SourceError, match=message) as info:
        gandiag.load_generator(path, **kwargs)
    text = str(info.value)
    assert text.startswith(str(path)) and "\n" not in text
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("case", BAD)
def test_bad_input_cli(case, tmp_path, tiny_run, capsys):
    path, message, kwargs = _bad_inputs(tmp_path, tiny_run)[case]
    argv = ["sample", str(path), "--out", str(tmp_path / "out.npy")]
    if "reference" in kwargs:
        argv += ["--reference", kwargs["reference"]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(path) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.npy").exists() and not (tmp_path / "pwned").exists()


def test_unregistered_architecture_can_be_registered(tmp_path, tiny_run):
    data = torch.load(tiny_run / "step-0000004.pt", weights_only=True)
    data["architecture"]["name"] = "my-mlp"
    torch.save(data, tmp_path / "mine.pt")
    from reference_models.nets import MLPGenerator

    gandiag.register_architecture("my-mlp", MLPGenerator)
    reference = gandiag.load_generator(tiny_run / "step-0000004.pt").sample(10)
    assert torch.equal(gandiag.load_generator(tmp_path / "mine.pt").sample(10), reference)
