"""The dry run's time estimates: finished counterparts first, then the nearest finished DPC scaled, then the priors."""
from types import SimpleNamespace

import pytest

from benchmark.study.estimate import estimate_seconds, prior_seconds


class Records:
    """A store that holds only finished records (what ``estimate_seconds`` reads)."""

    def __init__(self, records):
        self.records = records

    def done_records(self, stage):
        return [r for r in self.records if r["stage"] == stage]


def config(method, dpc, learner=None):
    out = {"task": {"name": "rt-polarity"}, "method": {"name": method}, "dpc": dpc}
    if learner:
        out["learner"] = {"name": learner}
    return out


def record(stage, wall_s, *args):
    return {"stage": stage, "wall_s": wall_s, "config": config(*args)}


def cell(*args):
    return SimpleNamespace(config=config(*args))


STORE = Records([record("evaluate", 10.0, "random", 5, "minilm"), record("evaluate", 14.0, "random", 5, "minilm"),
                 record("evaluate", 12.0, "random", 5, "minilm"), record("evaluate", 100.0, "random", 20, "minilm"),
                 record("evaluate", 1.0, "random", 5, "tfidf-logreg"),
                 record("distill", 0.5, "random", 5), record("distill", 30.0, "dilm", 5)])


def test_a_cell_takes_the_median_of_its_kind_then_any_methods_at_its_dpc():
    assert estimate_seconds(STORE, "evaluate", [cell("random", 5, "minilm")]) == (12.0, 1, 0.0, 0, 0.0, 0)
    assert estimate_seconds(STORE, "evaluate", [cell("external", 5, "minilm")]) == (12.0, 1, 0.0, 0, 0.0, 0)


def test_an_unseen_dpc_scales_the_nearest_finished_one_in_proportion():
    # DPC 10 lies 5 from DPC 5 and 10 from DPC 20: 12 s x 10 / 5; DPC 40 scales DPC 20's 100 s
    assert estimate_seconds(STORE, "evaluate", [cell("external", 10, "minilm")]) == (24.0, 1, 0.0, 1, 0.0, 0)
    assert estimate_seconds(STORE, "evaluate", [cell("herding", 40, "minilm")]) == (200.0, 1, 0.0, 1, 0.0, 0)
    assert estimate_seconds(STORE, "distill", [cell("dilm", 20)]) == (120.0, 1, 0.0, 1, 0.0, 0)
    both = estimate_seconds(STORE, "evaluate", [cell("random", 5, "minilm"), cell("random", 10, "minilm")])
    assert both == (36.0, 2, 0.0, 1, 0.0, 0)


def test_a_method_never_borrows_another_methods_distill_time_and_a_learner_never_another_learners():
    kcenter = cell("kcenter-greedy", 5)
    prior = prior_seconds("distill", kcenter.config)
    assert estimate_seconds(STORE, "distill", [kcenter]) == (0.0, 0, prior, 0, 0.0, 0)
    bert = cell("random", 5, "bert-base-uncased")
    assert estimate_seconds(STORE, "evaluate", [bert]) == (0.0, 0, prior_seconds("evaluate", bert.config), 0, 0.0, 0)
    fit = cell("dilm", None)
    assert estimate_seconds(STORE, "fit", [fit]) == (0.0, 0, pytest.approx(43200.0), 0, 0.0, 0)


def test_a_cpu_only_grid_is_estimated_in_cpu_hours_and_says_to_budget_on_the_dry_run(tmp_path, capsys):
    """TF-IDF with Random and Full uses no GPU anywhere: every figure is CPU hours, none "GPU h"."""
    from benchmark.cli import main

    grid = tmp_path / "tfidf.yaml"
    grid.write_text("name: tfidf\ntasks: [tiny-sentiment]\ndpcs: [2]\nmethods: [full, random]\n"
                    "learners: [tfidf-logreg]\nn_sets: 2\nn_evals: 1\n")
    assert main(["run", str(tmp_path / "runs"), "--grid", str(grid), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "evaluate      3 cells,      3 to run, ~0.00 h from 0 finished counterparts + ~0.0 CPU h of prior " \
           "guesses for 3 CPU cells" in out
    assert "(CPU h: one core per cell)" in out and "budget on: this dry run" in out and "GPU h" not in out


def test_a_gpu_grid_names_the_gpu_its_priors_assume_and_says_to_budget_on_a_rehearsal(tmp_path, capsys):
    """Herding embeds with a model and MiniLM fine-tunes: GPU cells, in GPU hours of the priors' GPU; Random's
    distill cells stay CPU hours."""
    from benchmark.cli import main
    from benchmark.study.estimate import prior_gpu, priors

    assert prior_gpu() == priors()["gpu"] == "NVIDIA A100 80GB"
    grid = tmp_path / "gpu.yaml"
    grid.write_text("name: gpu\ntasks: [tiny-sentiment]\ndpcs: [2]\nmethods: [herding, random]\n"
                    "learners: [minilm]\nn_sets: 2\nn_evals: 1\n")
    assert main(["run", str(tmp_path / "runs"), "--grid", str(grid), "--dry-run"]) == 0
    out = capsys.readouterr().out
    minilm = prior_seconds("evaluate", config("random", 2, "minilm"))
    assert f"~{3 * minilm / 3600:.1f} GPU h of prior guesses for 3 GPU cells" in out  # herding 1 set, random 2
    assert "+ ~0.0 CPU h of prior guesses for 2 CPU cells" in out  # random's two distill cells
    assert "(GPU h: one NVIDIA A100 80GB per cell; CPU h: one core per cell)" in out
    assert "budget on: a rehearsal, not these prior guesses (order-of-magnitude, for one NVIDIA A100 80GB" in out
