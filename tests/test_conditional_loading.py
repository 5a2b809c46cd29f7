"""Loading conditional generators (issue 13, item 1): two-input programs, TorchScript with n_classes,
labelled .npz files; bad input is a one-line error (exit 2 on the command line)."""

from __future__ import annotations

import contextlib
import math
import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conditional_helpers import ToyConditional

import gandiag
from gandiag.cli import main
from gandiag.conditional_loading import LabelledSampleGenerator, sample_labelled
from gandiag.errors import GandiagInputError, SourceError


def _export(module: torch.nn.Module, path, y_dtype=torch.long, n_classes: int | None = 8):
    batch = torch.export.Dim("batch")
    example = (torch.randn(4, 3), torch.zeros(4, dtype=y_dtype))
    program = torch.export.export(module, example, dynamic_shapes={"z": {0: batch}, "y": {0: batch}})
    extra = {"n_classes": str(n_classes)} if n_classes else None
    torch.export.save(program, str(path), extra_files=extra)
    return path


class FloatLabels(torch.nn.Module):
    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return z[:, :2] + y[:, None]


def _cli(*args: str, quiet: bool = True) -> SimpleNamespace:
    """``gandiag ARGS [--quiet]`` in this process: its exit status and what it wrote to stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main([*args, "--quiet"] if quiet else list(args))
    return SimpleNamespace(returncode=status, stderr=err.getvalue())


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    return _export(ToyConditional("ring8", "perfect"), tmp_path_factory.mktemp("cond") / "cond.pt2")


def test_a_two_input_program_is_class_conditional(program):
    gen = gandiag.load_generator(program)
    assert gen.n_classes == 8 and gen.latent.dim == 3
    modes, hq = gandiag.reference("ring8").assign_modes(gen.sample(50, seed=0, labels=6))
    assert (modes == 6).all() and hq.all()
    x, y = sample_labelled(gen, 80, seed=2)
    assert (gandiag.reference("ring8").assign_modes(x)[0] == y).all()
    row = gandiag.score(gen, "ring8", n=400, metrics="modes")
    assert row["label_accuracy"] == 1.0 and not row["condition_ignored"]


def test_without_n_classes_the_reference_gives_the_classes(tmp_path):
    path = _export(ToyConditional("ring8", "shifted"), tmp_path / "shifted.pt2", n_classes=None)
    gen = gandiag.load_generator(path)
    assert gen.n_classes is None and gen.needs_classes
    row = gandiag.score(gen, "ring8", n=400, metrics="modes")
    assert row["label_accuracy"] == 0.0 and row["label_mi"] > 2.0 and not row["condition_ignored"]
    np.save(tmp_path / "plain.npy", gandiag.reference("ring8").sample(500).numpy())
    with pytest.raises(SourceError, match="without n_classes"):
        gandiag.score(gandiag.load_generator(path), str(tmp_path / "plain.npy"), n=100, metrics="modes")


def test_a_float_label_input_is_refused_in_one_line(tmp_path):
    path = _export(FloatLabels(), tmp_path / "float.pt2", y_dtype=torch.float32)
    with pytest.raises(SourceError, match="second input y has dtype float32"):
        gandiag.load_generator(path)
    done = _cli("score", str(path), "--reference", "ring8", "--n", "100")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "float32" in done.stderr


def test_labels_out_of_range_are_one_line_errors(program):
    gen = gandiag.load_generator(program)
    with pytest.raises(GandiagInputError, match=r"labels=8 is not a class of this generator \(classes 0 to 7\)"):
        gen.sample(10, labels=8)
    unconditional = gandiag.generators.as_generator(torch.nn.Linear(2, 2), latent_dim=2)
    with pytest.raises(GandiagInputError, match="not class-conditional"):
        unconditional.sample(10, labels=0)


def test_torchscript_with_n_classes(tmp_path):
    class Scripted(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.latent_dim, self.n_classes = 3, 8
            self.register_buffer("centres", gandiag.reference("ring8").centres.clone())

        def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return self.centres[y] + 0.02 * z[:, 1:3]

    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(Scripted()), str(path))
    gen = gandiag.load_generator(path, allow_torchscript=True)
    assert gen.n_classes == 8
    assert (gandiag.reference("ring8").assign_modes(gen.sample(20, labels=4))[0] == 4).all()


def test_a_labelled_npz_is_a_conditional_sample_file(tmp_path):
    x, y = gandiag.reference("ring8").draw(1000, torch.Generator().manual_seed(0))
    path = tmp_path / "labelled.npz"
    np.savez(path, samples=x.numpy(), labels=y.numpy())
    gen = gandiag.load_generator(path)
    assert isinstance(gen, LabelledSampleGenerator) and gen.n_classes == 8
    row = gandiag.score(gen, "ring8", n=400, metrics="modes")
    assert row["label_accuracy"] == 1.0 and row["label_mi_pvalue"] < 0.01
    bad = tmp_path / "bad.npz"
    np.savez(bad, samples=x.numpy(), labels=y.numpy().astype(np.float32))
    with pytest.raises(SourceError, match="integer class indices"):
        gandiag.load_generator(bad)
    done = _cli("score", str(bad), "--reference", "ring8", "--n", "100")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


def test_the_command_line_scores_a_conditional_program(program, tmp_path):
    out = tmp_path / "row.csv"
    done = _cli("score", str(program), "--reference", "ring8", "--n", "400", "--metrics", "modes", "--out", str(out))
    assert done.returncode == 0, done.stderr
    import pandas as pd

    frame = pd.read_csv(out)
    row = frame[frame["source"] == str(program)].iloc[0]
    assert row["label_accuracy"] == 1.0 and not row["condition_ignored"]


class Rotate(torch.nn.Module):
    def __init__(self, angle: float) -> None:
        super().__init__()
        c, s = math.cos(angle), math.sin(angle)
        self.register_buffer("m", torch.tensor([[c, -s], [s, c]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.m.T


def test_the_command_line_scores_a_translation_program(tmp_path):
    batch = torch.export.Dim("batch")
    for name, angle in (("g.pt2", math.pi / 16), ("f.pt2", -math.pi / 16)):
        program = torch.export.export(Rotate(angle), (torch.randn(4, 2),), dynamic_shapes={"x": {0: batch}})
        torch.export.save(program, str(tmp_path / name))
    target = gandiag.reference("ring8").sample(2000, seed=9) @ Rotate(math.pi / 16).m.T
    np.save(tmp_path / "target.npy", target.numpy())
    out = tmp_path / "row.csv"
    done = _cli("score", str(tmp_path / "g.pt2"), "--reference", str(tmp_path / "target.npy"), "--n", "400",
                "--metrics", "modes", "--source", "ring8", "--inverse", str(tmp_path / "f.pt2"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    import pandas as pd

    row = pd.read_csv(out).iloc[0]
    assert row["input_dependence"] == pytest.approx(1.0, abs=1e-6) and row["cycle_error"] < 1e-5
    assert not row["condition_ignored"] and abs(row["output_diversity"] - 1) < 0.15
    done = _cli("score", str(tmp_path / "g.pt2"), "--reference", str(tmp_path / "target.npy"), "--n", "400",
                "--inverse", str(tmp_path / "f.pt2"))
    assert done.returncode == 2 and "--source" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_gandiag_sample_draws_one_class(program, tmp_path):
    out = tmp_path / "three.npy"
    done = _cli("sample", str(program), "--n", "50", "--labels", "3", "--out", str(out), quiet=False)
    assert done.returncode == 0, done.stderr
    assert (gandiag.reference("ring8").assign_modes(np.load(out))[0] == 3).all()
    done = _cli("sample", str(program), "--n", "50", "--labels", "8", "--out", str(out), quiet=False)
    assert done.returncode == 2 and "classes 0 to 7" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_conditional_thresholds_on_the_command_line(program, tmp_path):
    out = tmp_path / "row.csv"
    base = ("score", str(program), "--reference", "ring8", "--n", "400", "--metrics", "modes", "--out", str(out))
    # a min_spread above every class's spread: every class reads as collapsed
    assert _cli(*base, "--threshold", "conditional.min_spread=2").returncode == 0
    import pandas as pd

    row = pd.read_csv(out).iloc[0]
    assert row["class_collapse"] and "class 0" in row["evidence"]
    done = _cli(*base, "--threshold", "conditional.min_sprad=2")
    assert done.returncode == 2 and "conditional.min_spread" in done.stderr
