"""The rehearsal's model without running a rehearsal: methods' cost-model hooks (shared builds, plugin projections,
"not modelled"), the stacked evaluation path's widths from measured lengths, the precision a config names, Slurm time
limits and requeues, and the one estimate `run --dry-run` and Slurm's bundling share with the committed rehearsal."""
from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest

from benchmark.learners import stacked
from benchmark.study.grid import Component, load_grid
from benchmark.study.rehearsal import costs, projections
from benchmark.study.rehearsal.plan import (_built_before, _requeues, profile_time_s, project_cell,
                                            real_method_config, requeues_needed)
from benchmark.study.rehearsal.projections import Lengths
from benchmark.study.rehearsal.standins import ARCHITECTURES

H200 = costs.GPUS["h200"]


class Scale:
    """What the projections read of a task at scale: its lengths, sizes and the GPU."""

    gpu = H200
    n_train = 1000
    task = SimpleNamespace(name="sst2", num_classes=3, splits=SimpleNamespace(test=[None] * 9815))

    def __init__(self, lengths):
        self._lengths = Lengths(np.asarray(lengths))

    def lengths(self, model, max_length, generator=False):
        return self._lengths


def mnli_like(n=4000, seed=0):
    """Pair lengths like MNLI's under BERT's tokenizer: mean ~40 tokens, a long tail, cut at 512."""
    return np.minimum(np.random.default_rng(seed).lognormal(3.6, 0.45, n).astype(int) + 3, 512)


RECIPE = {"model": "bert-large-uncased", "max_length": 512, "batch_size": 32, "steps": 200, "eval_batch_size": 128,
          "precision": "fp32"}


def test_methods_say_what_they_share_and_the_first_in_the_grid_builds_it():
    """dilm's stage 1 is vanilla-lm's (listed first); kmeans-centers' embedding pass is herding's (same space)."""
    grid = load_grid("full")
    method = {m.name: m for m in grid.methods}

    def built(name, label, projection):
        config = real_method_config(method[name], "sst2")
        return _built_before(grid, method[name], label, projection, config, "sst2")

    assert built("dilm", "stage 1", "stage1") and not built("vanilla-lm", "stage 1", "stage1")
    assert not built("dilm", "stage 2", "stage2")
    assert built("kmeans-centers", "embedding", "embed_train_split")
    assert not built("herding", "embedding", "embed_train_split")


def test_a_plugin_method_is_projected_by_its_own_hook_or_not_modelled(tmp_path, monkeypatch):
    """The example plugin (installed through its entry point only) has no cost model: None, "not modelled"; given one
    whose projections are callables of its own, the rehearsal projects it without anything of ``study/`` knowing it."""
    from dilm_bench_tfidf_prototypes.method import TfidfPrototypes
    from methods import METHODS
    from methods.base import CostModel

    assert METHODS.get("tfidf-prototypes") is TfidfPrototypes and TfidfPrototypes.cost_model is None
    spec = tmp_path / "grid.yaml"
    spec.write_text("name: p\ntasks: [sst2]\ndpcs: [5]\nmethods: [tfidf-prototypes]\nlearners: [bert-base-uncased]\n")
    grid = load_grid(str(spec))
    plugin = Component("tfidf-prototypes")
    scale = Scale(mnli_like())
    assert project_cell(("fit", plugin, None, None), scale, grid, 16) is None
    assert project_cell(("distill", plugin, None, 5), scale, grid, 16) is None

    def scoring(scale, config, dpc):
        return costs.Cost(cpu_s=scale.n_train * 1e-3 * config["ngram_max"])

    def ranking(scale, config, dpc):
        return costs.Cost(cpu_s=dpc * scale.task.num_classes)

    monkeypatch.setattr(TfidfPrototypes, "cost_model", CostModel(fit=(("scores", scoring),), distill=ranking))
    fit = project_cell(("fit", plugin, None, None), scale, grid, 16)
    assert fit.cpu_s == pytest.approx(1.0) and fit.parts == {"scores": 1.0}
    assert project_cell(("distill", plugin, None, 5), scale, grid, 16).cpu_s == 15


def test_a_packed_step_is_its_longest_batch_in_rows_of_its_longest_sequence():
    # the 32 longest: one of 300 tokens and 31 of 10, in rows of 300: [300], [10 x 30], [10]
    assert stacked.step_slots([10] * 40 + [300], 32) == 3 * 300
    assert stacked.step_slots([20] * 64, 32) == stacked.TRAIN_ROW * 6  # 6 of 20 tokens per 128-token row: 32 in 6
    assert stacked.step_slots([200] * 4, 32) == 4 * 200


def test_stack_width_from_measured_lengths_on_the_target_gpu():
    """BERT-large at DPC 20 on MNLI-like pairs: half of max_length per sequence allowed a few copies; the measured
    lengths fit more, as many as the memory model puts in three quarters of the H200, and no more."""
    scale = Scale(mnli_like())
    stack = projections.stack_for(scale, RECIPE, n_set=60, cap=16)
    bert_large = ARCHITECTURES["bert-large-uncased"]
    shape = projections._config_of(bert_large)
    trained = stacked.trained_parameters(bert_large.params, bert_large.vocab, bert_large.hidden)
    budget = 0.75 * H200.memory_gib * costs.GIB
    half_rule = stacked.widest(shape, 512 * (32 * 512 // 2 // 512), trained, bert_large.params, budget, 16)
    assert stack.packed and stack.width > half_rule
    assert stack.gpu_bytes <= budget
    assert stack.width == 16 or stacked.stack_peak_bytes(shape, stack.width + 1, stack.gpu_bytes, trained,
                                                         bert_large.params) > budget
    assert projections.stack_for(scale, RECIPE, n_set=60, cap=16, alone=True).width == 1  # Full data: alone
    assert stacked.TRAIN_ROW <= stack.row <= 512 and 1 <= stack.rows <= 32
    # XLNet has no stacked path: one run at a time, padded
    assert projections.stack_for(scale, {**RECIPE, "model": "xlnet-base-cased"}, 60, 16) == projections.Stack(1, False)


def test_a_stack_shares_its_kernel_launches_and_costs_each_copy_its_packed_rows():
    scale = Scale(mnli_like())
    alone = projections.evaluate(scale, RECIPE, 60)
    stack = projections.stack_for(scale, RECIPE, 60, 16)
    shared = projections.evaluate(scale, RECIPE, 60, stack)
    bert_large = ARCHITECTURES["bert-large-uncased"]
    fine_tune = costs.train(H200, bert_large, 200, stack.width * stack.rows, stack.row, bf16=False)
    assert shared.parts["fine-tune"] == pytest.approx(fine_tune.gpu_s / stack.width, abs=0.1)
    assert shared.gpu_s < alone.gpu_s and shared.gpu_bytes == stack.gpu_bytes


def test_the_precision_a_config_names_is_the_one_projected():
    assert projections.bf16({"precision": "bf16"}) and projections.bf16({"precision": "auto"})
    assert not projections.bf16({"precision": "fp32"}, default=True)
    assert projections.bf16({}, default=True) and not projections.bf16(SimpleNamespace(lm_steps=1))
    scale = Scale(mnli_like())
    recipe = {**RECIPE, "model": "bert-base-uncased"}
    bert = ARCHITECTURES["bert-base-uncased"]
    for precision, half in (("fp32", False), ("bf16", True), ("auto", True)):
        cost = projections.evaluate(scale, {**recipe, "precision": precision}, 60)
        lengths = scale.lengths(None, 512)
        expected = (costs.train(H200, bert, 200, 32, lengths.padded(32), bf16=half).gpu_s
                    + costs.forward(H200, bert, 9815, lengths.mean(), 128, bf16=half).gpu_s)
        assert cost.gpu_s == pytest.approx(expected)
    fp32 = projections.evaluate(scale, recipe, 60).gpu_s
    assert projections.evaluate(scale, {**recipe, "precision": "bf16"}, 60).gpu_s < fp32 / 5


def test_slurm_time_limits_and_the_requeues_a_task_needs():
    from benchmark.study.executors.slurm import SlurmProfile

    profile = SlurmProfile({"time": 60}, {"fit": {"time": "1-00:00:00"}, "distill": {"time": "2:30:00"},
                                          "evaluate": {"time": "90:30"}}, max_requeues=1)
    assert [profile_time_s(profile, s) for s in ("fit", "distill", "evaluate")] == [86400, 9000, 5430]
    # MNLI's DiLM fit at 38.9 h against 24 h, checkpoints every 10 minutes: one requeue (the second job loses <= 10 min)
    assert requeues_needed(38.9 * 3600, 86400, 600) == 1
    assert requeues_needed(47.9 * 3600, 86400, 600) == 2
    assert requeues_needed(3000, 3600, None) == 0 and requeues_needed(4000, 3600, None) == float("inf")
    dilm = {("fit", None, None, None): costs.Cost(gpu_s=47.9 * 3600)}
    shown, failure = _requeues(dilm, "fit", SimpleNamespace(checkpoint_minutes=10.0), profile)
    assert shown == "2 of 1" and "stages.fit.time or max_requeues" in failure and "47.9 h" in failure
    assert _requeues(dilm, "fit", SimpleNamespace(checkpoint_minutes=10.0),
                     SlurmProfile(profile.defaults, profile.stages, max_requeues=2)) == ("2 of 2", "")
    # an evaluate array task runs a whole stack of cells: its time is theirs together
    stack = {("evaluate", None, None, 20): costs.Cost(gpu_s=400.0, runs_per_task=16)}
    assert _requeues(stack, "evaluate", {}, profile)[0] == "1 of 1"  # 6,400 s against 5,430 s
    coreset = {("fit", None, None, None): costs.Cost(gpu_s=5000.0)}  # no checkpoints: a requeue starts over
    assert "never finishes" in _requeues(coreset, "fit", {"encoder": "x"}, SlurmProfile({"time": 60}))[0]


def test_a_profile_names_its_requeue_limit(tmp_path):
    from benchmark.core.errors import UsageError
    from benchmark.study.executors.slurm import load_profile

    path = tmp_path / "p.yaml"
    path.write_text("max_requeues: 5\ndefaults: {time: 60}\n")
    assert load_profile(str(path)).max_requeues == 5
    assert load_profile("gpu-cluster").max_requeues == 3  # submitit's own default
    path.write_text("max_requeue: 5\n")
    with pytest.raises(UsageError, match="max_requeues"):
        load_profile(str(path))


def _table_total_h(folder) -> float:
    with open(folder / "rehearsal.csv", encoding="utf-8") as table:
        return sum(float(r["GPU h, all cells"]) + float(r["node CPU h, all cells"]) for r in csv.DictReader(table))


def test_the_dry_run_of_the_full_grid_agrees_with_its_committed_rehearsal(tmp_path):
    """`run --grid full --dry-run` estimates from results/full-rehearsal/ (the same per-cell projections the
    rehearsal's table adds up) and agrees with the table's total within 1.25x; every cell is estimated from it."""
    from benchmark import api
    from benchmark.study.estimate import REHEARSALS, committed_rehearsal

    grid = api.open_grid("full", [], load_data=False)
    stages = api.plan(grid, tmp_path / "runs")
    assert all(s.rehearsed == len(s.pending) and s.prior_seconds == 0 for s in stages)
    assert stages[0].rehearsal.startswith("results/full-rehearsal/rehearsal.")
    dry_run_h = sum(s.seconds + s.rehearsed_seconds + s.prior_seconds for s in stages) / 3600
    rehearsal_h = _table_total_h(REHEARSALS / "full-rehearsal")
    assert 1 / 1.25 <= dry_run_h / rehearsal_h <= 1.25
    assert committed_rehearsal("full-rehearsal") is None and committed_rehearsal("demo") is None


def test_the_rehearsal_json_gives_each_cell_kind_its_seconds_and_slurm_bundles_by_them(tmp_path):
    from benchmark.study.cells import expand
    from benchmark.study.estimate import committed_rehearsal
    from benchmark.study.executors.slurm import unit_seconds
    from benchmark.study.stacks import Unit
    from benchmark.study.store import Store

    folder = tmp_path / "results" / "full-rehearsal"
    folder.mkdir(parents=True)
    entries = [{"stage": "distill", "task": "sst2", "method": "random", "learner": None, "dpc": 5, "cells": 20,
                "seconds": 0.5},
               {"stage": "evaluate", "task": "sst2", "method": "random", "learner": "bert-base-uncased", "dpc": 5,
                "cells": 100, "seconds": 30.0}]
    (folder / "rehearsal.json").write_text(json.dumps({"grid": "full", "gpu": {"name": "H"}, "costs": entries}))
    rehearsal = committed_rehearsal("full", tmp_path / "results")
    assert rehearsal.source == "results/full-rehearsal/rehearsal.json" and rehearsal.gpu == "H"
    cells = expand(load_grid("full"))
    evaluate = next(c for c in cells["evaluate"] if c.config["dpc"] == 5 and c.config["method"]["name"] == "random"
                    and c.config["learner"]["name"] == "bert-base-uncased" and c.config["task"]["name"] == "sst2")
    other_dpc = next(c for c in cells["evaluate"] if c.config["dpc"] == 10)
    assert rehearsal.cell_seconds("evaluate", evaluate.config) == 30.0
    assert rehearsal.cell_seconds("evaluate", other_dpc.config) is None  # not in the file: the priors answer
    store = Store(tmp_path / "runs")
    assert unit_seconds(store, "evaluate", Unit([evaluate] * 16, True), rehearsal) == 16 * 30.0
    (folder / "rehearsal.json").write_text(json.dumps({"grid": "other", "gpu": {"name": "H"}, "costs": entries}))
    assert committed_rehearsal("full", tmp_path / "results") is None  # a folder of another grid's rehearsal
