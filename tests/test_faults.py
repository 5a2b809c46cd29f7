"""Fault catalogue, part 1: no file runs code (issue 18, items 1-2).

Each hostile file below is checked twice where torch allows: plain torch runs its payload (so the
fixture really is hostile on this torch), and gandiag refuses the file, in Python and on the
command line (one line, exit 2, the file named), without the payload ever running.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Tuple

import numpy as np
import pytest
import torch
from helpers import LinearGenerator, export_program

import gandiag
from gandiag.cli import main
from gandiag.errors import SourceError
from gandiag.generators import chunk_generator
from gandiag.program_archive import DENIED_OPERATORS, UnsafeProgram, check_expression


class Evil:
    """Unpickling this creates ``marker``: the attack weights_only=True exists to stop."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _pickled(marker: Path) -> bytes:
    buf = io.BytesIO()
    torch.save(Evil(marker), buf)
    return buf.getvalue()


def rewrite_archive(src: Path, dst: Path, edit: Callable[[str, bytes], bytes | None],
                    extra: dict[str, bytes] | None = None) -> Path:
    """Copy the zip ``src`` to ``dst`` with ``edit(record, data)`` applied (None drops a record)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        root = zin.namelist()[0].split("/")[0]
        for info in zin.infolist():
            data = edit(info.filename.split("/", 1)[1], zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            zout.writestr(f"{root}/{name}", data)
    return dst


def _edit_program(edit_json: Callable[[dict], None]) -> Callable[[str, bytes], bytes]:
    def edit(name: str, data: bytes) -> bytes:
        if name == "models/model.json":
            program = json.loads(data)
            edit_json(program)
            return json.dumps(program).encode()
        return data
    return edit


def _hostile_programs(tmp_path: Path) -> dict[str, tuple[Path, Path, str]]:
    """name -> (archive, marker it would create, words of gandiag's refusal)."""
    good = export_program(LinearGenerator(latent_dim=2), tmp_path / "good.pt2", latent_dim=2)
    cases = {}

    def case(name: str, edit, words: str, extra: dict[str, bytes] | None = None) -> None:
        marker = tmp_path / f"marker-{name}"
        cases[name] = (rewrite_archive(good, tmp_path / f"{name}.pt2", edit(marker), extra and extra(marker)),
                       marker, words)

    def pickled_weight(marker):
        def edit(name, data):
            if name.endswith("_weights_config.json"):
                config = json.loads(data)
                first = next(iter(config["config"].values()))
                first["use_pickle"] = True
                return json.dumps(config).encode()
            if name == "data/weights/weight_0":
                return _pickled(marker)
            return data
        return edit

    def pickled_inputs(marker):
        return lambda name, data: _pickled(marker) if name.startswith("data/sample_inputs/") else data

    def guards(marker):
        return _edit_program(lambda p: p.__setitem__(
            "guards_code", [f"__import__('os').system('touch {marker}') == 0"]))

    def expression(marker):
        def edit(program):
            values = program["graph_module"]["graph"]["tensor_values"]
            sizes = values[next(iter(values))]["sizes"]
            sizes[0] = {"as_expr": {"expr_str": f"__import__('os').system('touch {marker}') + {sizes[0].get('as_int', 2)}",
                                    "hint": {"as_int": sizes[0].get("as_int", 2)}}}
        return _edit_program(edit)

    def os_system_node(marker):
        def edit(program):
            node = program["graph_module"]["graph"]["nodes"][0]
            node["target"] = "torch.os.system"
        return _edit_program(edit)

    def enum_import(marker):
        def edit(program):
            signature = program["graph_module"]["module_call_graph"][0]["signature"]
            spec = json.loads(signature["in_spec"])
            spec[1]["context"] = json.dumps({"__enum__": True, "fqn": "antigravity:x", "name": "y"})
            signature["in_spec"] = json.dumps(spec)
        return _edit_program(edit)

    case("pickled-weight", pickled_weight, "marks .* as pickled")
    case("pickled-sample-inputs", pickled_inputs, "sample inputs hold pickled Python objects")
    case("legacy-pickled-weights", lambda m: (lambda n, d: d), "record 'data/weights/model.pt'",
         extra=lambda m: {"data/weights/model.pt": _pickled(m)})
    case("sympy-eval", expression, "shape expression")
    case("os-system-node", os_system_node, "calls 'torch.os.system'")
    case("enum-import", enum_import, "names a Python enum")
    static = export_program(LinearGenerator(latent_dim=2), tmp_path / "static.pt2", latent_dim=2, static_batch=16)
    cases["guards-exec"] = (rewrite_archive(static, tmp_path / "guards-exec.pt2", guards(tmp_path / "marker-guards")),
                            tmp_path / "marker-guards", "")
    return cases


REFUSED = ["pickled-weight", "pickled-sample-inputs", "legacy-pickled-weights", "sympy-eval", "os-system-node",
           "enum-import"]


@pytest.mark.parametrize("name", REFUSED)
def test_hostile_program_is_refused_and_runs_nothing(name, tmp_path, capsys):
    path, marker, words = _hostile_programs(tmp_path)[name]
    with pytest.raises(SourceError, match=words) as info:
        gandiag.load_generator(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert main(["sample", str(path), "--out", str(tmp_path / "s.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "s.npy").exists()


def test_guards_code_of_an_archive_is_never_executed(tmp_path):
    path, marker, _ = _hostile_programs(tmp_path)["guards-exec"]
    gen = gandiag.load_generator(path)  # the program itself is fine; its guards are dropped, never run
    assert gen.sample(40, seed=0).shape == (40, 2)
    assert not marker.exists()


CONTROLS = ["pickled-weight", "pickled-sample-inputs", "sympy-eval", "guards-exec"]


@pytest.fixture(scope="module")
def plain_torch_markers(tmp_path_factory):
    """Positive control: load (and call) every hostile program with plain torch, in one subprocess."""
    tmp = tmp_path_factory.mktemp("plain_torch")
    cases = _hostile_programs(tmp)
    paths = [str(cases[name][0]) for name in CONTROLS]
    code = textwrap.dedent(f"""
        import logging, torch
        logging.disable(logging.CRITICAL)
        for path in {paths!r}:
            try:
                torch.export.load(path).module()(torch.zeros(16, 2))
            except Exception:
                pass
    """)
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300)
    return {name: cases[name][1] for name in CONTROLS}


@pytest.mark.parametrize("name", CONTROLS)
def test_the_hostile_programs_do_run_code_in_plain_torch(name, plain_torch_markers):
    """torch.export.load (and calling .module()) run these payloads on this torch."""
    if not plain_torch_markers[name].exists():
        pytest.skip(f"torch {torch.__version__} no longer runs this payload; gandiag's refusal stays tested above")
    assert plain_torch_markers[name].exists()


def test_program_that_reads_a_file_through_aten_from_file_is_refused(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(bytes([7, 9, 11, 13]))
    path = tmp_path / "reader.pt2"
    build = textwrap.dedent(f"""
        import torch
        @torch.library.register_fake("aten::from_file")
        def _(filename, shared=None, size=0, *, dtype=None, layout=None, device=None, pin_memory=None):
            return torch.empty(size, dtype=dtype or torch.float32)
        class Reader(torch.nn.Module):
            def forward(self, z):
                t = torch.from_file({str(secret)!r}, shared=False, size=4, dtype=torch.uint8)
                return z + t[:2].float()
        torch.export.save(torch.export.export(Reader(), (torch.zeros(4, 2),)), {str(path)!r})
        print(torch.export.load({str(path)!r}).module()(torch.zeros(4, 2))[0].tolist())
    """)
    done = subprocess.run([sys.executable, "-c", build], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("[7.0, 9.0]")  # plain torch hands the file's bytes to the program
    with pytest.raises(UnsafeProgram, match="aten.from_file"):
        gandiag.load_generator(path)


def test_every_aten_operator_with_a_file_argument_is_denied():
    """A torch upgrade that adds an ATen operator taking a file name must be looked at."""
    with_files = {s.name for s in torch._C._jit_get_all_schemas() if s.name.startswith("aten::")
                  and any(str(a.type) in ("str", "Optional[str]") and any(k in a.name for k in ("file", "path", "dir"))
                          for a in s.arguments)}
    assert with_files and with_files <= DENIED_OPERATORS


@pytest.mark.parametrize("expr", ["Symbol('s0', positive=True, integer=True)", "Max(s0, 2)*Integer(4) // 3",
                                  "Add(Mod(Symbol('s68', positive=True, integer=True), Integer(3)), Integer(5))",
                                  "Float('1.5e3', precision=53)*u1"])
def test_shape_expressions_that_torch_writes_pass(expr):
    check_expression("p.pt2", expr)


@pytest.mark.parametrize("expr", ["eval(s0)", "s0.__class__", "Symbol('os').system", "Symbol('s0\\')', a=1)",
                                  "chr(95)+s0", "getattr(s0, s1)", "s0; s1", "[s0]", "lambda: 1"])
def test_shape_expressions_that_could_run_code_are_refused(expr):
    with pytest.raises(UnsafeProgram):
        check_expression("p.pt2", expr)


def test_dynamic_batch_conv_program_still_loads(tmp_path):
    class Deconv(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.lin = torch.nn.Linear(3, 2 * 4 * 4)
            self.up = torch.nn.ConvTranspose2d(2, 1, 4, 2, 1)

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.up(self.lin(z).view(z.shape[0], 2, 4, 4)))

    path = export_program(Deconv(), tmp_path / "deconv.pt2", latent_dim=3)
    gen = gandiag.load_generator(path)
    x = gen.sample(300, seed=2)
    assert x.shape == (300, 1, 8, 8)
    z = torch.cat([gen.latent.draw(256, chunk_generator(2, c)) for c in range(2)])[:300]
    with torch.no_grad():
        assert torch.allclose(x, Deconv()(z), atol=1e-6)


# ----------------------------------------------------------------------------------- TorchScript


class OnLoad(torch.nn.Module):
    """Scripted, its ``__setstate__`` (which ``torch.jit.load`` runs) calls ``on_load``."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.latent_dim = 2
        self.stolen = torch.zeros(2, dtype=torch.uint8)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * 0 + self.stolen[:2].float()

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, int, bool]:
        return (self.path, self.latent_dim, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, int, bool]) -> None:
        self.path = state[0]
        self.latent_dim = state[1]
        self.training = state[2]
        self.stolen = torch.zeros(2, dtype=torch.uint8)
        self.on_load()

    @torch.jit.export
    def on_load(self) -> None:
        pass


class FileWriter(OnLoad):
    """Loading it writes a file at ``path``."""

    @torch.jit.export
    def on_load(self) -> None:
        torch.save(torch.zeros(1), self.path)


class FileReader(OnLoad):
    """Loading it reads the file at ``path`` into the samples."""

    @torch.jit.export
    def on_load(self) -> None:
        self.stolen = torch.from_file(self.path, shared=False, size=2, dtype=torch.uint8)


def _script(module: torch.nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(module).save(str(path))
    return path


def test_torchscript_that_writes_a_file_is_refused_without_the_opt_in(tmp_path, capsys):
    written = tmp_path / "written.pt"
    path = _script(FileWriter(str(written)), tmp_path / "writer.pt")
    assert not written.exists()
    with pytest.raises(SourceError, match="TorchScript archive: loading one runs code"):
        gandiag.load_generator(path)
    assert not written.exists()
    np.save(tmp_path / "ok.npy", np.zeros((600, 2), np.float32))
    for argv in (["sample", str(path), "--out", str(tmp_path / "s.npy")],
                 ["score", str(path), "--reference", "ring8", "--n", "200", "--metrics", "modes"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "writer.pt" in err and "--allow-torchscript" in err
    assert not written.exists()
    report = gandiag.audit([path, tmp_path / "ok.npy"], "ring8", n=200, metrics="modes", floor=False, progress=False)
    error = report.frame.set_index("source").loc[str(path), "error"]
    assert "TorchScript" in error and not written.exists()
    # positive control: the opt-in loads it, and loading really writes the file
    gandiag.load_generator(path, allow_torchscript=True)
    assert written.exists()


def test_torchscript_that_reads_a_file_is_refused_without_the_opt_in(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(bytes([5, 6]))
    path = _script(FileReader(str(secret)), tmp_path / "reader.pt")
    with pytest.raises(SourceError, match="TorchScript"):
        gandiag.load_generator(path)
    x = gandiag.load_generator(path, allow_torchscript=True).sample(3)
    assert x.tolist() == [[5.0, 6.0]] * 3  # what the opt-in means: the file read /etc/passwd as easily


def test_gate_refuses_hostile_sources_and_baselines(tmp_path, capsys):
    hostile = _hostile_programs(tmp_path)
    path, marker, _ = hostile["pickled-weight"]
    written = tmp_path / "written.pt"
    script = _script(FileWriter(str(written)), tmp_path / "writer.pt")
    np.save(tmp_path / "ok.npy", np.zeros((600, 2), np.float32))
    config = tmp_path / "gate.toml"
    config.write_text('[gate]\nreference = "ring8"\nn = 200\n[gate.metrics.w1]\nmax = 10\nmargin = 1\n')
    for argv in (["gate", str(path), "--config", str(config)],
                 ["gate", str(tmp_path / "ok.npy"), "--config", str(config), "--baseline", str(path)],
                 ["gate", str(tmp_path / "ok.npy"), "--config", str(config), "--baseline", str(script)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ("refused" in err or "TorchScript" in err)
    assert not marker.exists() and not written.exists()
