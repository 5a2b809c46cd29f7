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


# ===================================================================================================
# Fault catalogue, part 2 (issue 18, items 3, 8, 9, 11): every bad source is one line naming it (exit
# 2), or an error row in an audit while the other sources are scored; sizes that files and options ask
# for are refused before allocating; no traceback reaches the user; nothing half-written stays.
# ===================================================================================================

import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

import pandas as pd  # noqa: E402

from gandiag._arrays import check_samples  # noqa: E402
from gandiag.errors import GandiagInputError  # noqa: E402


def _one_line_error(capsys, *names: object) -> str:
    """stderr of the last main() call: exactly one line, no traceback, naming each of ``names``."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for name in names:
        assert str(name) in err, (name, err)
    return err


def _edited_checkpoint(src: Path, dst: Path, edit: Callable[[dict], None]) -> Path:
    ckpt = torch.load(src, weights_only=True)
    edit(ckpt)
    torch.save(ckpt, dst)
    return dst


def _forged_npy(shape: tuple[int, ...]) -> bytes:
    """A .npy whose header declares ``shape`` over the data of a (2, 2) float32 array."""
    buf = io.BytesIO()
    np.save(buf, np.zeros((2, 2), np.float32))
    return buf.getvalue().replace(b"(2, 2)", repr(shape).encode())


def _bad_sources(tmp_path: Path, tiny_run: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, words of its one-line error): the sources of issue 18, item 3."""
    ckpt = tiny_run / "step-0000004.pt"
    cases: dict[str, tuple[Path, str]] = {}

    def edited(name: str, edit: Callable[[dict], None], words: str) -> None:
        cases[name] = (_edited_checkpoint(ckpt, tmp_path / f"{name}.pt", edit), words)

    (tmp_path / "empty.pt").write_bytes(b"")
    cases["empty .pt"] = (tmp_path / "empty.pt", "truncated or not a torch file")
    np.savez(tmp_path / "objects.npz", samples=np.array([{"a": 1}] * 5, dtype=object))
    cases["object .npz"] = (tmp_path / "objects.npz", "holds Python objects")
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as zf:
        zf.writestr("samples.npy", _forged_npy((10**10, 2)))
    cases["huge-shape .npz"] = (tmp_path / "huge.npz", r"declares shape \(10000000000, 2\)")
    (tmp_path / "huge.npy").write_bytes(_forged_npy((10**10, 2)))
    cases["huge-shape .npy"] = (tmp_path / "huge.npy", r"declares shape \(10000000000, 2\)")
    edited("kwargs-list", lambda c: c["architecture"].__setitem__("kwargs", [1, 2]), "architecture.kwargs is")
    edited("kwargs-unknown", lambda c: c["architecture"].__setitem__("kwargs", {"bogus": 1}), "unexpected keyword")
    edited("name-list", lambda c: c["architecture"].__setitem__("name", ["x"]), "architecture.name is")
    edited("latent-int", lambda c: c.__setitem__("latent", 5), "latent is 5")
    edited("latent-dim-str", lambda c: c["latent"].__setitem__("dim", "x"), "latent.dim is 'x'")
    edited("latent-dim-0", lambda c: c["latent"].__setitem__("dim", 0), "latent.dim is 0")
    edited("step-str", lambda c: c.__setitem__("step", "abc"), "step is 'abc'")
    edited("step-none", lambda c: c.__setitem__("step", None), "step is None")
    edited("generator-int", lambda c: c.__setitem__("generator", 5), "generator is 5")
    edited("width-64", lambda c: c["architecture"]["kwargs"].__setitem__("width", 64), "in the file but")
    return cases


@pytest.mark.parametrize("case", ["empty .pt", "object .npz", "huge-shape .npz", "huge-shape .npy", "kwargs-list",
                                  "kwargs-unknown", "name-list", "latent-int", "latent-dim-str", "latent-dim-0",
                                  "step-str", "step-none", "generator-int", "width-64"])
def test_bad_source_is_one_line_naming_it(case, tmp_path, tiny_run, capsys):
    path, words = _bad_sources(tmp_path, tiny_run)[case]
    with pytest.raises(SourceError, match=words) as info:
        gandiag.load_generator(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
    out = tmp_path / "out.npy"
    assert main(["sample", str(path), "--out", str(out)]) == 2
    _one_line_error(capsys, path)
    assert not out.exists() and not list(tmp_path.glob(".out.npy.*"))


def _junk_run(tmp_path: Path, tiny_run: Path) -> tuple[Path, dict[str, str]]:
    """A copy of ``tiny_run`` with entries named like checkpoints that are not: name -> words of the error."""
    run = tmp_path / "junk-run"
    shutil.copytree(tiny_run, run)
    (run / "step-0000006.pt").mkdir()  # an empty folder
    os.symlink(tiny_run, run / "step-0000008.pt")  # a link to a whole run folder
    os.symlink(run / "missing.pt", run / "step-0000010.pt")  # dangling
    os.symlink("step-0000012.npy", run / "step-0000012.npy")  # a loop
    (run / "step-0000014.pt").write_bytes(b"")  # empty
    os.mkfifo(run / "step-0000016.npy")  # reading it would block for ever
    return run, {"step-0000006.pt": "a folder inside a run folder", "step-0000008.pt": "a folder inside a run folder",
                 "step-0000010.pt": "leads nowhere", "step-0000012.npy": "leads nowhere",
                 "step-0000014.pt": "truncated or not a torch file", "step-0000016.npy": "not a regular file"}


def test_audit_turns_every_bad_source_into_an_error_row(tmp_path, tiny_run, capsys):
    (tmp_path / "files").mkdir()
    bad = _bad_sources(tmp_path / "files", tiny_run)
    run, junk = _junk_run(tmp_path, tiny_run)
    empty, loop = tmp_path / "empty-run", tmp_path / "loop-run"
    empty.mkdir()
    os.symlink(loop, loop)
    sources = [str(p) for p, _ in bad.values()] + [str(run), str(empty), str(loop)]
    out = tmp_path / "report"
    assert main(["audit", *sources, "--reference", "ring8", "--n", "100", "--metrics", "modes", "--no-floor",
                 "--no-plots", "--quiet", "--out", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    frame = pd.read_csv(out / "report.csv", keep_default_na=False).set_index("source")
    expected = {str(p): words for p, words in bad.values()}
    expected.update({str(run / name): words for name, words in junk.items()})
    expected.update({str(empty): "holds no checkpoints", str(loop): "leads nowhere"})
    for source, words in expected.items():
        error = frame.loc[source, "error"]
        assert error.startswith(source) and "\n" not in error, (source, error)
        assert re.search(words, error), (source, words, error)
    for step in (0, 2, 4):  # the run's real checkpoints are scored
        row = frame.loc[str(run / f"step-{step:07d}.pt")]
        assert row["error"] == "" and row["modes_captured"] != ""


def test_a_run_of_only_bad_sources_is_exit_2_naming_it(tmp_path, capsys):
    empty, loop = tmp_path / "empty-run", tmp_path / "loop-run"
    empty.mkdir()
    os.symlink(loop, loop)
    for source in (empty, loop):
        out = tmp_path / f"report-{source.name}"
        assert main(["audit", str(source), "--reference", "ring8", "--n", "100", "--out", str(out)]) == 2
        _one_line_error(capsys, source)
        assert not out.exists()


def test_latent_dim_zero_names_the_option_or_the_file(tmp_path, tiny_run, capsys):
    ckpt = tiny_run / "step-0000004.pt"
    assert main(["sample", str(ckpt), "--latent-dim", "0", "--out", str(tmp_path / "o.npy")]) == 2
    _one_line_error(capsys, "--latent-dim")
    with pytest.raises(SourceError, match="latent dimension must be a positive integer") as info:
        gandiag.load_generator(ckpt, latent_dim=0)
    assert str(info.value).startswith(str(ckpt))
    assert not (tmp_path / "o.npy").exists()


# ----------------------------------------------------------------- sizes refused before allocating


@pytest.fixture
def address_space_limit():
    """Cap this process's address space at its current size + 1 GiB while the test body runs, so that
    a multi-GiB allocation fails outright instead of succeeding (Linux only)."""
    try:
        vm = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmSize:"))
    except OSError:
        pytest.skip("needs /proc/self/status (Linux)")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vm + 2**30, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.parametrize("kwargs, words", [({"width": 30000}, "refused before allocating"),
                                           ({"width": 10**9}, "refused before allocating"),
                                           ({"depth": 10**7}, r"more than \d+ parameter and buffer tensors")])
def test_absurd_architecture_kwargs_are_refused_before_allocating(kwargs, words, tmp_path, tiny_run, capsys,
                                                                   address_space_limit):
    """Issue 18, item 8: width=30000 allocated 7.5 GB, width=10**9 8 GB, depth=10**8 built layers for
    minutes. The net is built on the meta device first, counted as it registers tensors, and compared
    with the stored weights; within a 1 GiB address-space cap, a real allocation would fail instead."""
    path = _edited_checkpoint(tiny_run / "step-0000004.pt", tmp_path / "absurd.pt",
                              lambda c: c["architecture"]["kwargs"].update(kwargs))
    start = time.perf_counter()
    with pytest.raises(SourceError, match=words) as info:
        gandiag.load_generator(path)
    assert time.perf_counter() - start < 20 and "\n" not in str(info.value)
    assert main(["sample", str(path), "--out", str(tmp_path / "o.npy")]) == 2
    _one_line_error(capsys, path, "refused before allocating")


def test_npz_beyond_the_memory_budget_is_refused_from_its_header(tmp_path, monkeypatch, capsys):
    """A small compressed .npz may declare a huge array: the header is checked against the budget first."""
    np.savez_compressed(tmp_path / "zeros.npz", samples=np.zeros((300_000, 2), np.float32))  # 2.4 MB as floats
    assert (tmp_path / "zeros.npz").stat().st_size < 100_000
    monkeypatch.setenv("GANDIAG_MEMORY_BUDGET", "1M")
    with pytest.raises(SourceError, match=r"would take 2\.3 MiB, more than gandiag's memory budget of 1\.0 MiB"):
        gandiag.load_generator(tmp_path / "zeros.npz")
    assert main(["sample", str(tmp_path / "zeros.npz"), "--n", "10", "--out", str(tmp_path / "o.npy")]) == 2
    _one_line_error(capsys, tmp_path / "zeros.npz", "GANDIAG_MEMORY_BUDGET")
    monkeypatch.setenv("GANDIAG_MEMORY_BUDGET", "lots")
    assert main(["sample", str(tmp_path / "zeros.npz"), "--n", "10", "--out", str(tmp_path / "o.npy")]) == 2
    _one_line_error(capsys, "GANDIAG_MEMORY_BUDGET='lots'")
    monkeypatch.delenv("GANDIAG_MEMORY_BUDGET")
    assert gandiag.load_generator(tmp_path / "zeros.npz").sample(10).shape == (10, 2)
    assert not (tmp_path / "o.npy").exists()


# ------------------------------------------------------------------- command-line arguments (item 9)


def _mount_tmpfs(folder: Path, options: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody may write into: a read-only tmpfs as root, mode 0555 otherwise."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() == 0:
        _mount_tmpfs(folder, "ro,size=64k")
        try:
            yield folder
        finally:
            subprocess.run(["umount", str(folder)], check=False)
    else:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs (root only; skipped otherwise, with the reason)."""
    folder = tmp_path / "full"
    folder.mkdir()
    _mount_tmpfs(folder, "size=64k")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_out_in_a_read_only_folder_is_refused_before_any_work(read_only_folder, tiny_run, tmp_path, capsys):
    ckpt = str(tiny_run / "step-0000004.pt")
    (tmp_path / "gate.toml").write_text('[gate]\nreference = "ring8"\nn = 100\n[gate.metrics.w1]\nmax = 10\n')
    scoring = ["--reference", "ring8", "--n", "100", "--metrics", "modes", "--quiet"]
    for argv in (["sample", ckpt, "--out", str(read_only_folder / "x.npy")],
                 ["score", ckpt, *scoring, "--out", str(read_only_folder / "x.csv")],
                 ["audit", ckpt, *scoring, "--out", str(read_only_folder / "report")],
                 ["train", "nsgan-ring8", "--steps", "2", "--quiet", "--out", str(read_only_folder / "run")],
                 ["gate", ckpt, "--config", str(tmp_path / "gate.toml"), "--junit", str(read_only_folder / "j.xml")]):
        assert main(argv) == 2
        _one_line_error(capsys, "--junit" if "--junit" in argv else "--out", read_only_folder)
    assert list(read_only_folder.iterdir()) == []


def test_full_disk_is_one_line_and_leaves_no_temporary_file(full_disk, tiny_run, capsys):
    out = full_disk / "x.npy"
    assert main(["sample", str(tiny_run / "step-0000004.pt"), "--n", "10", "--out", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert main(["sample", str(tiny_run / "step-0000004.pt"), "--n", "20000", "--out", str(out)]) == 2
    err = _one_line_error(capsys, f"--out {out}: cannot write it")
    assert "No space left on device" in err or "the file system is full" in err
    assert list(full_disk.iterdir()) == [out] and out.read_bytes() == before  # the previous file, intact


def test_out_naming_a_folder_is_refused(tmp_path, tiny_run, capsys):
    ckpt = str(tiny_run / "step-0000004.pt")
    for name, argv in (("s.npy", ["sample", ckpt]),
                       ("s.csv", ["score", ckpt, "--reference", "ring8", "--n", "100", "--metrics", "modes"])):
        folder = tmp_path / name
        folder.mkdir()
        assert main([*argv, "--out", str(folder)]) == 2
        _one_line_error(capsys, f"--out {folder}: is a folder")
        assert list(folder.iterdir()) == [] and not list(tmp_path.glob(f".{name}.*"))


@pytest.fixture
def every_source_kind(tmp_path, tiny_run) -> dict[str, list[str]]:
    """One source of each kind, with the options it needs: checkpoint, .pt2, TorchScript, samples."""
    np.save(tmp_path / "s.npy", np.zeros((50, 2), np.float32))
    program = export_program(LinearGenerator(latent_dim=2), tmp_path / "g.pt2", latent_dim=2)
    script = _script(LinearGenerator(latent_dim=2), tmp_path / "ts.pt")
    return {"checkpoint": [str(tiny_run / "step-0000004.pt")], "program": [str(program)],
            "torchscript": [str(script), "--allow-torchscript"], "samples": [str(tmp_path / "s.npy")]}


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_one_line_for_every_source_kind(every_source_kind, tmp_path, capsys):
    out = tmp_path / "o.npy"
    for kind, source in every_source_kind.items():
        assert main(["sample", *source, "--device", "cuda", "--out", str(out)]) == 2, kind
        _one_line_error(capsys, "--device cuda: CUDA is not available")
        assert main(["score", *source, "--reference", "ring8", "--n", "20", "--metrics", "modes", "--device", "cuda"]) == 2
        _one_line_error(capsys, "--device cuda")
        with pytest.raises(GandiagInputError, match="device cuda: CUDA is not available"):
            gandiag.load_generator(source[0], device="cuda", allow_torchscript=True)
    assert not out.exists()


def test_unknown_device_is_one_line(tmp_path, tiny_run, capsys):
    for device in ("nosuch", "cuda:99", "meta"):
        assert main(["sample", str(tiny_run), "--device", device, "--out", str(tmp_path / "o.npy")]) == 2
        _one_line_error(capsys, "--device")
    assert main(["train", "nsgan-ring8", "--out", str(tmp_path / "run"), "--device", "nosuch"]) == 2
    _one_line_error(capsys, "--device 'nosuch'")
    assert not (tmp_path / "o.npy").exists() and not (tmp_path / "run").exists()


def test_seed_and_n_out_of_range_are_one_line_naming_the_option(tmp_path, tiny_run, capsys):
    ckpt = str(tiny_run / "step-0000004.pt")
    score = ["score", ckpt, "--reference", "ring8", "--metrics", "modes", "--quiet"]
    cases = [(["sample", ckpt, "--seed", str(2**70), "--out", str(tmp_path / "o.npy")], "--seed"),
             ([*score, "--n", "100", "--seed", str(2**70)], "--seed"),
             (["sample", ckpt, "--seed", "-1", "--out", str(tmp_path / "o.npy")], "--seed"),
             (["sample", ckpt, "--n", str(10**12), "--out", str(tmp_path / "o.npy")], "--n 1000000000000"),
             ([*score, "--n", str(10**12)], "--n 1000000000000"),
             (["sample", ckpt, "--n", "0", "--out", str(tmp_path / "o.npy")], "--n")]
    start = time.perf_counter()
    for argv, option in cases:
        assert main(argv) == 2, argv
        _one_line_error(capsys, option)
    assert time.perf_counter() - start < 30 and not (tmp_path / "o.npy").exists()
    gen = gandiag.load_generator(ckpt)  # the Python API: the same checks, naming the argument
    with pytest.raises(GandiagInputError, match="seed must be an integer"):
        gen.sample(5, seed=2**70)
    with pytest.raises(GandiagInputError, match=r"n = 1000000000000 samples of shape \(2,\) would take"):
        gen.sample(10**12)


def test_corrupt_png_in_a_reference_folder_is_one_line_naming_it(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    np.save(tmp_path / "g.npy", np.zeros((10, 1, 8, 8), np.float32))
    with pytest.raises(GandiagInputError, match="broken.png: not a readable image"):
        gandiag.reference(folder)
    assert main(["score", str(tmp_path / "g.npy"), "--reference", str(folder), "--n", "2", "--metrics", "ndb"]) == 2
    _one_line_error(capsys, folder / "broken.png")


@pytest.mark.parametrize("setting, words", [("lr_g=nan", "--set lr_g=nan: must be a finite number > 0"),
                                            ("lr_d=inf", "--set lr_d=inf"), ("beta2=1", "--set beta2=1.0"),
                                            ("gp_lambda=-1", "--set gp_lambda=-1.0"),
                                            ("width=1000000", "memory budget"),
                                            ("depth=100000000", "--set depth=100000000")])
def test_train_set_values_are_checked(setting, words, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "nsgan-ring8", "--out", str(out), "--steps", "2", "--quiet", "--set", setting]) == 2
    _one_line_error(capsys, words)
    assert not out.exists()


def test_debug_shows_the_traceback(tmp_path, capsys):
    argv = ["sample", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "o.npy")]
    assert main(argv) == 2
    assert "rerun" not in _one_line_error(capsys, "missing.pt: no such file")
    for debug in (["--debug", *argv], [*argv, "--debug"]):
        with pytest.raises(SourceError, match="no such file"):
            main(debug)


# ----------------------------------------------------------------- generated samples (item 11)


class NaNGenerator(torch.nn.Module):
    """z -> NaN where z_0 > 0, +inf elsewhere: a generator that diverged."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.lin(z) * 0
        return torch.where(z[:, :1] > 0, x + float("nan"), x + float("inf"))


def _nan_checkpoint(path: Path) -> Path:
    gandiag.register_architecture("test-faults-nan", NaNGenerator)
    torch.save({"gandiag_format": 1, "architecture": {"name": "test-faults-nan", "kwargs": {}},
                "latent": {"dim": 2, "distribution": "normal"}, "generator": NaNGenerator().state_dict(), "step": 7},
               path)
    return path


def test_sample_of_a_nan_generator_writes_nothing_and_counts_the_bad_values(tmp_path, capsys):
    path = _nan_checkpoint(tmp_path / "nan.pt")
    out = tmp_path / "x.npy"
    assert main(["sample", str(path), "--n", "100", "--out", str(out)]) == 2
    err = _one_line_error(capsys, path, "200 of 200 sample values are NaN or infinite")
    nan = int(re.search(r"\((\d+) NaN, (\d+) infinite\)", err).group(1))
    assert 60 < nan < 140 and nan % 2 == 0 and not out.exists() and not list(tmp_path.glob(".x.npy.*"))
    assert main(["score", str(path), "--reference", "ring8", "--n", "100", "--metrics", "modes"]) == 2
    _one_line_error(capsys, path, "NaN or infinite")


def _digits_as_pixels() -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().images[:300, None] * (255 / 16)).astype(np.float32)  # 0..255, not [-1, 1]


def _refused_and_an_error_row(tmp_path: Path, capsys, bad: np.ndarray, reference: str, metrics: str,
                              words: str) -> pd.DataFrame:
    """``bad`` samples: exit 2 naming the file from `gandiag score`, an error row beside a good source in an audit."""
    np.save(tmp_path / "bad.npy", bad)
    np.save(tmp_path / "good.npy", gandiag.reference(reference).sample(400, seed=3).numpy())
    with pytest.raises(SourceError, match=words):
        gandiag.load_generator(tmp_path / "bad.npy")
    assert main(["score", str(tmp_path / "bad.npy"), "--reference", reference, "--n", "100", "--metrics", metrics]) == 2
    _one_line_error(capsys, tmp_path / "bad.npy")
    report = gandiag.audit([tmp_path / "bad.npy", tmp_path / "good.npy"], reference, n=100, metrics=metrics,
                           floor=False, progress=False)
    frame = report.frame.set_index("source")
    assert re.search(words, frame.loc[str(tmp_path / "bad.npy"), "error"])
    assert frame.loc[str(tmp_path / "good.npy"), "error"] == ""
    return frame


def test_images_outside_minus_one_one_are_refused_with_the_observed_range(tmp_path, capsys):
    _refused_and_an_error_row(tmp_path, capsys, _digits_as_pixels(), "digits", "ndb",
                              r"image samples range from 0 to 255; images must be scaled to \[-1, 1\]")


def test_samples_near_float32_max_are_refused_not_scored_as_nan(tmp_path, capsys):
    big = np.random.default_rng(0).uniform(-3e38, 3e38, (400, 2)).astype(np.float32)
    frame = _refused_and_an_error_row(tmp_path, capsys, big, "ring8", "modes,w1", "in magnitude")
    assert np.isfinite(frame.loc[str(tmp_path / "good.npy"), ["w1", "hq_fraction"]].astype(float)).all()


@pytest.mark.parametrize("x, words", [
    (np.ones((5, 2), np.int64), "dtype int64; samples must be floating point"),
    (np.ones((5, 2), bool), "dtype bool"),
    (np.zeros((0, 2), np.float32), "no samples"),
    (np.zeros((5, 0), np.float32), r"shape \(5, 0\)"),
    (np.zeros((5, 2, 2), np.float32), r"shape \(5, 2, 2\)"),
    (np.array([[0.0, np.nan], [np.inf, -np.inf]], np.float32), r"3 of 4 sample values .* \(1 NaN, 2 infinite\)"),
    (np.full((3, 2), 1e13, np.float32), "1e\\+13 in magnitude"),
    (np.full((3, 1, 2, 2), 1.5, np.float32), "image samples range from 1.5 to 1.5"),
    (torch.full((3, 1, 2, 2), -2.0), "from -2 to -2"),
])
def test_check_samples_is_the_one_validation_of_samples(x, words):
    with pytest.raises(SourceError, match=words) as info:
        check_samples(x, "gen.pt2")
    assert str(info.value).startswith("gen.pt2: ") and "\n" not in str(info.value)


def test_check_samples_passes_usable_samples_unchanged():
    for x in (np.zeros((1, 3), np.float64), torch.rand(4, 1, 8, 8) * 2 - 1, np.full((2, 1, 1, 1), 1.005, np.float32)):
        assert check_samples(x, "s") is x
    with pytest.raises(SourceError, match=r"shape \(3,\) but the reference expects \(2,\)"):
        check_samples(torch.zeros(4, 3), "s", reference_shape=(2,))


def test_sample_files_of_integers_or_no_rows_are_refused(tmp_path):
    for name, arr, words in (("ints.npy", np.ones((10, 2), np.int32), "dtype int32"),
                             ("empty.npy", np.zeros((0, 2), np.float32), "no samples"),
                             ("nan.npz", np.array([[np.nan, 1.0]] * 4, np.float32), "4 of 8 sample values")):
        (np.savez if name.endswith(".npz") else np.save)(tmp_path / name, arr)
        with pytest.raises(SourceError, match=words) as info:
            gandiag.load_generator(tmp_path / name)
        assert str(info.value).startswith(str(tmp_path / name))
