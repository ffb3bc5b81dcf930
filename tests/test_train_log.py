"""Training logs never drop a value (issue 14, item 15)."""

import csv

from refexp_baselines.train import CsvLog


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_columns_that_appear_later_reach_the_file(tmp_path):
    path = tmp_path / "log.csv"
    log = CsvLog(path)
    log.write({"step": 500, "loss": 1.5})
    log.write({"step": 1000, "loss": 1.25, "success_ep1": 0.5, "success_ep2": 1.0})  # a periodic eval
    log.write({"step": 1500, "loss": 1.0})
    rows = _read(path)
    assert list(rows[0]) == ["step", "loss", "success_ep1", "success_ep2"]
    assert [r["step"] for r in rows] == ["500", "1000", "1500"]
    assert rows[0]["success_ep1"] == "" and rows[2]["success_ep2"] == ""
    assert rows[1]["success_ep1"] == "0.5" and rows[1]["success_ep2"] == "1.0"
    assert not (tmp_path / "log.csv.tmp").exists()


def test_a_resumed_stage_continues_the_same_file(tmp_path):
    path = tmp_path / "log.csv"
    CsvLog(path).write({"step": 100, "mse": 0.25})
    resumed = CsvLog(path)  # a new process after an interruption
    resumed.write({"step": 200, "mse": 0.125, "kl": 3.0})
    resumed.write({"step": 300, "mse": 0.0625, "kl": 2.0})
    rows = _read(path)
    assert [(r["step"], r["mse"], r["kl"]) for r in rows] == [
        ("100", "0.25", ""), ("200", "0.125", "3.0"), ("300", "0.0625", "2.0")]
