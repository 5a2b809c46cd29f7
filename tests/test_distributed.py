"""Audits on Dask distributed (gandiag/auditing/distributed.py, README "Scale out on Dask").

One embedded ``LocalCluster`` of 2 worker processes serves the whole file. The truth is the serial
audit: the distributed report must equal it cell for cell (same seed), also after a worker is
killed by its pid while tasks run. Sources are ``.npy`` sample files and the metrics ``modes,ndb``
at small n, so the tasks are tiny and the time goes to Dask itself.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gandiag
from gandiag.auditing.distributed import RETRIES, TaskItem, open_client, plan_rows, score_rows_distributed, score_task
from gandiag.auditing.runner import build_report
from gandiag.auditing.store import STORE_NAME, ResultStore, settings_key
from gandiag.cli import main
from gandiag.scoring import Scorer

pytest.importorskip("distributed")

N, METRICS = 400, "modes,ndb"
STEPS = 12


def _write_run(folder: Path, steps: int = STEPS) -> Path:
    """A run folder of sample files whose spread grows with the step (so the rows differ)."""
    folder.mkdir(parents=True)
    ref = gandiag.reference("ring8")
    for k in range(steps):
        x = np.asarray(ref.sample(N, seed=100 + k), dtype=np.float32) * np.float32(1 + 0.08 * k)
        np.save(folder / f"step-{k * 100:07d}.npy", x)
    return folder


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    return _write_run(tmp_path_factory.mktemp("dask") / "run")


@pytest.fixture(scope="module")
def serial(run_folder) -> pd.DataFrame:
    return gandiag.audit(str(run_folder), "ring8", n=N, metrics=METRICS, progress=False).frame


@pytest.fixture(scope="module")
def client():
    with open_client(workers=2, quiet=True) as c:
        c.wait_for_workers(2, timeout=120)
        yield c


def _equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True)


def test_cluster_report_equals_serial_and_store_resumes_serially(run_folder, serial, client, tmp_path):
    store = tmp_path / STORE_NAME
    report = gandiag.audit(str(run_folder), "ring8", n=N, metrics=METRICS, progress=False, client=client, store=store)
    assert len(report.frame) == STEPS + 1 and (report.frame["error"] == "").all(), list(report.frame["error"])
    _equal(report.frame, serial)
    assert report.settings["store"]["scored"] == STEPS + 1
    # the rows the workers scored were stored by the client under the serial audit's keys
    again = gandiag.audit(str(run_folder), "ring8", n=N, metrics=METRICS, progress=False, store=store)
    assert again.settings["store"]["reused"] == STEPS + 1 and again.settings["store"]["scored"] == 0
    _equal(again.frame, serial)


def test_real_vs_real_row_as_a_task_equals_the_serial_one_and_is_stored(run_folder, serial, client, tmp_path):
    scorer = Scorer("ring8", n=N, metrics=METRICS)
    load = {"latent": None, "latent_dim": None, "device": "cpu"}  # the serial audit's defaults: same store key
    with ResultStore(tmp_path / STORE_NAME, settings_key(scorer, **load)) as kept:
        rows = score_rows_distributed(scorer, plan_rows([str(run_folder)], scorer.reference, **load), kept, False,
                                      client, floor=True)
    assert str(rows[-1].series["source"]) == "real-vs-real"
    _equal(build_report(rows, scorer).frame, serial)
    again = gandiag.audit(str(run_folder), "ring8", n=N, metrics=METRICS, progress=False, store=tmp_path / STORE_NAME)
    assert again.settings["store"]["reused"] == STEPS + 1 and again.settings["store"]["scored"] == 0


def test_worker_killed_by_pid_mid_audit_still_gives_the_serial_report(run_folder, serial, client):
    pids = client.run(os.getpid)
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(report=gandiag.audit(
        str(run_folder), "ring8", n=N, metrics=METRICS, progress=False, client=client)))
    thread.start()
    keys = _kill_first_busy_worker(client, thread)
    thread.join(300)
    assert keys, "no task was seen running: the kill did not happen mid-audit"
    _equal(box["report"].frame, serial)
    client.wait_for_workers(2, timeout=120)  # the nanny restarted the killed worker
    assert set(client.run(os.getpid).values()) != set(pids.values())


def _kill_first_busy_worker(client, thread) -> list[str] | None:
    """SIGKILL (by pid) the first worker seen running a row task while ``thread`` audits; the keys of the
    row tasks it held (with Dask's queuing, the one running and at most one more sent ahead)."""
    pids = client.run(os.getpid)  # {worker address: pid}
    deadline = time.monotonic() + 120
    while thread.is_alive() and time.monotonic() < deadline:
        for worker, keys in client.processing().items():
            rows = [str(k) for k in keys if "gandiag-row" in str(k)]
            if rows:
                os.kill(pids[worker], signal.SIGKILL)
                return rows
        time.sleep(0.005)
    return None


def test_checkpoint_that_kills_its_worker_every_time_is_one_error_row(run_folder, serial, client):
    scheduler = client.cluster.scheduler  # the embedded cluster's scheduler runs in this process
    scheduler.allowed_failures = 0  # one death of its worker and Dask gives the task up, as after RETRIES + 1
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(report=gandiag.audit(
        str(run_folder), "ring8", n=N, metrics=METRICS, progress=False, client=client)))
    thread.start()
    try:
        keys = _kill_first_busy_worker(client, thread)
        thread.join(300)
    finally:
        scheduler.allowed_failures = RETRIES
    assert keys, "no task was seen running"
    frame = box["report"].frame
    seen = {int(k.split("-")[2]) for k in keys}  # gandiag-row-{row}-{tag}
    # Lost: what the worker held when the kill landed (with Dask's queuing, worker-saturation 1.1 and one
    # thread, the task running and one sent ahead) plus any task the scheduler sent it before it saw the
    # death (a race: one run lost 3 rows with the floor task queued too); never most of the run.
    lost = list(frame.index[frame["error"] != ""])
    assert seen <= set(lost) and len(lost) <= len(frame) // 2
    for i in lost:
        assert frame.loc[i, "source"] in frame.loc[i, "error"] and "killed every Dask worker" in frame.loc[i, "error"]
    kept = serial.columns.drop("error")  # the error rows lack the metric columns; every other row is the serial one
    pd.testing.assert_frame_equal(frame.drop(index=lost)[kept], serial.drop(index=lost)[kept], check_exact=True,
                                  check_dtype=False)  # a column with error rows may be float where serial's is int
    client.wait_for_workers(2, timeout=120)


def test_checkpoint_that_fails_to_load_is_one_error_row(tmp_path, client):
    run = _write_run(tmp_path / "run", steps=4)
    bad = run / "step-0000200.npy"
    bad.write_bytes(b"not a numpy file")
    serial = gandiag.audit(str(run), "ring8", n=N, metrics=METRICS, progress=False).frame
    report = gandiag.audit(str(run), "ring8", n=N, metrics=METRICS, progress=False, client=client).frame
    errors = report[report["error"] != ""]
    assert list(errors["source"]) == [str(bad)]
    assert str(bad) in errors["error"].iloc[0]
    assert report.loc[report["error"] == "", "modes_captured"].notna().sum() == 4  # 3 checkpoints + real-vs-real
    _equal(report, serial)  # the worker's error message is the serial one


def test_source_a_worker_cannot_see_names_the_path_and_the_worker(tmp_path, client):
    scorer = Scorer("ring8", n=N, metrics=METRICS)
    missing = tmp_path / "elsewhere" / "step-0000100.npy"
    status, message = client.submit(score_task, scorer, TaskItem(str(missing), "", 100, path=str(missing)),
                                    pure=False).result(timeout=120)
    assert status == "error"
    assert str(missing) in message and "worker" in message
    assert any(address in message for address in client.scheduler_info()["workers"])


def test_cli_scheduler_writes_the_serial_report(run_folder, serial, client, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["audit", str(run_folder), "--reference", "ring8", "--n", str(N), "--metrics", METRICS,
               "--scheduler", client.scheduler.address, "--out", str(out), "--quiet", "--no-plots"])
    assert rc == 0, capsys.readouterr().err
    assert len(ResultStore(out / STORE_NAME, "").sources()) == STEPS + 1
    written = pd.read_csv(out / "report.csv")
    assert list(written["source"]) == list(serial["source"])
    np.testing.assert_array_equal(written["modes_captured"].to_numpy(), serial["modes_captured"].to_numpy(float))


def test_unreachable_scheduler_is_one_line_exit_2_within_seconds(run_folder, tmp_path, capsys):
    port = _closed_port()
    start = time.monotonic()
    rc = main(["audit", str(run_folder), "--reference", "ring8", "--n", str(N), "--metrics", METRICS,
               "--scheduler", f"tcp://127.0.0.1:{port}", "--out", str(tmp_path / "out"), "--quiet"])
    took = time.monotonic() - start
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0 and f"--scheduler tcp://127.0.0.1:{port}" in err and "dask scheduler" in err
    assert took < 15  # CONNECT_TIMEOUT is 5 s; slack for a loaded machine


def _closed_port() -> int:
    """A local TCP port that nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_audit_help_needs_no_dask_and_lists_the_options():
    code = ("import sys\nsys.modules['dask'] = sys.modules['distributed'] = sys.modules['torch'] = None\n"
            "from gandiag.cli import main\nsys.exit(main(['audit', '--help']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for option in ("--workers N", "--threads-per-worker T", "--scheduler ADDRESS"):
        assert option in done.stdout


def test_workers_and_scheduler_together_is_one_line_exit_2(run_folder, tmp_path, capsys):
    rc = main(["audit", str(run_folder), "--reference", "ring8", "--n", str(N), "--metrics", METRICS,
               "--workers", "2", "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "--workers" in err and "--scheduler" in err


def _thread_settings() -> tuple:
    """On a worker: torch's intra-op threads and $GANDIAG_THREADS."""
    import torch

    return torch.get_num_threads(), os.environ.get("GANDIAG_THREADS")


def test_each_worker_stays_on_one_core(client, run_folder, monkeypatch):
    # the embedded cluster's workers: one torch thread and GANDIAG_THREADS=1 (gandiag's own threads)
    assert set(client.run(_thread_settings).values()) == {(1, "1")}
    # and a task scores on one torch thread whatever the worker process was given (dask worker --no-nanny
    # leaves torch on every core), then gives the process its setting back
    import torch

    seen: list[int] = []

    class Recording(Scorer):
        def score(self, generator_or_samples, *, source=None):
            seen.append(torch.get_num_threads())
            return super().score(generator_or_samples, source=source)

    path = str(sorted(run_folder.iterdir())[0])
    monkeypatch.delenv("GANDIAG_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        status, result = score_task(Recording("ring8", n=N, metrics=METRICS), TaskItem(path, "", 0, path=path))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert status == "ok" and seen == [1], (status, seen)
