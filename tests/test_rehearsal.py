"""`rehearse`: stand-in tasks of the real sizes, tiny models with the real tokenizers, the rehearsal grid, the cost
model against hand computations, and a whole rehearsal through the local executor (with a memory check that fails)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.study.grid import load_grid
from benchmark.study.rehearsal import costs
from benchmark.study.rehearsal.standins import ARCHITECTURES, tiny_model_path
from benchmark.tasks.glue_standins import PROFILES, RehearsalTask

pytestmark = pytest.mark.real


def test_a_stand_in_has_the_real_tasks_shape(rt_assets):
    task = RehearsalTask(stands_for="qqp")
    splits = task.splits
    assert (task.name, task.text_fields, task.label_names, task.metric) == \
        ("qqp", ("question1", "question2"), ("not_duplicate", "duplicate"), "acc_and_f1")
    assert len(splits.test) == 40_430 and len(splits.train) + len(splits.validation) == 363_846
    shares = splits.train.class_counts(2) / len(splits.train)
    np.testing.assert_allclose(shares, PROFILES["qqp"]["shares"], atol=0.01)
    words = np.array([len(t[0].split()) for t in splits.train.texts[:20_000]])
    assert abs(np.median(words) - 10) <= 1 and words.max() <= 59  # the profile's median and maximum


@pytest.mark.parametrize("name, text, ids", [("gpt2", "Hello world", [15496, 995]),
                                             ("bert-base-uncased", "Hello world", [101, 7592, 2088, 102]),
                                             ("roberta-base", "Hello world", [0, 15500, 999, 2])])
def test_tiny_models_carry_the_real_tokenizers_and_vocabularies(name, text, ids, minilm_assets):
    from transformers import AutoConfig, AutoTokenizer

    path = tiny_model_path(name)
    assert AutoTokenizer.from_pretrained(path)(text)["input_ids"] == ids
    config = AutoConfig.from_pretrained(path)
    assert config.vocab_size >= ARCHITECTURES[name].vocab and config.num_hidden_layers == 2


def test_the_gpt2_stand_in_ends_its_samples_like_a_trained_generator(minilm_assets):
    """At every position the stand-in's EOS probability is 1 / SAMPLE_TOKENS and its <sep>'s SEP_PER_EOS times that,
    so samples end after 40 tokens on average instead of running to max_length as a random-init LM's do, and 4 in
    5 pair samples hold a <sep> (few are rejected)."""
    import torch
    from transformers import AutoModelForCausalLM

    from benchmark.study.rehearsal.standins import SAMPLE_TOKENS, SEP_PER_EOS
    from dilm.generator import Generator

    path = tiny_model_path("gpt2")
    model = AutoModelForCausalLM.from_pretrained(path)
    with torch.no_grad():
        probs = torch.softmax(model(torch.randint(0, 50257, (3, 50))).logits, -1)[..., [50256, 50257]]
    expected = torch.tensor([1 / SAMPLE_TOKENS, SEP_PER_EOS / SAMPLE_TOKENS]).expand_as(probs)
    assert torch.allclose(probs, expected, rtol=1e-3)
    generator = Generator.from_pretrained(str(path), 2, pair=True, class_token_init="bos")
    assert generator.sep_id == 50257  # DiLM's <sep>, already in the stand-in's vocabulary
    raw = generator.sample_ids(0, 40, max_length=421, top_p=0.95, seed=0, batch_size=40)
    assert sum(generator.decode(seq) is not None for seq in raw) >= 26  # 4 in 5 expected: 32 of 40
    texts, ids = generator.sample_texts(0, 16, max_length=421, top_p=0.95, seed=0, max_retries=5, batch_size=32)
    assert len(texts) == 16 and max(map(len, ids)) < 421 and 10 < np.mean([len(i) for i in ids]) < 120


def test_the_rehearsal_grid_keeps_settings_and_swaps_models_tasks_and_steps(minilm_assets):
    from benchmark.study.cells import expand
    from benchmark.study.rehearsal.plan import distill_twins, rehearsal_cells, rehearsal_grid

    full = load_grid("full")
    grid = rehearsal_grid(full)
    assert [t.kwargs for t in grid.tasks] == [{"stands_for": name} for name in ("sst2", "qqp", "mnli")]
    assert grid.dpcs == [20] and grid.n_sets == grid.n_evals == 1
    dilm = next(m.kwargs for m in grid.methods if m.name == "dilm")
    assert dilm["preset"] == "paper" and dilm["lm_steps"] == 2 and dilm["generator"].endswith("gpt2-tiny-v4")
    assert "max_length" not in dilm  # per-task lengths still come from the preset
    learners = {learner.name: learner.kwargs for learner in grid.learners}
    assert learners["bert-large-uncased"]["model"].endswith("bert-large-uncased-tiny-v4")
    assert learners["roberta-base"]["max_length"] == 512 and learners["roberta-base"]["steps"] == 2
    cells = rehearsal_cells(grid)
    assert len(cells["fit"]) == 18 and len(cells["distill"]) == 15  # dilm's distill cells are vanilla-lm's twins
    twins = distill_twins(expand(grid)["distill"])
    assert len(twins) == 3 and {c.fit_cell.method.name for c in twins.values()} == {"vanilla-lm"}
    assert all(twin.split(".")[1] == "dilm" for twin in twins)
    assert len(cells["evaluate"]) == 3 * (4 + 1)  # per task: each learner on text sets, BERT-base on TDD's


def test_cost_model_against_hand_computations():
    bert, gpt2 = ARCHITECTURES["bert-base-uncased"], ARCHITECTURES["gpt2"]
    assert bert.params == pytest.approx(109.5e6, rel=0.03) and gpt2.params == pytest.approx(124.4e6, rel=0.03)
    assert ARCHITECTURES["bert-large-uncased"].params == pytest.approx(335e6, rel=0.03)
    gpu = costs.GPU("test", bf16_flops=1e15, fp32_flops=1e14, memory_gib=80)
    step = costs.train(gpu, bert, steps=10, batch=64, seq=128, bf16=False)
    flops = 3 * 64 * 128 * (2 * 12 * (4 * 768 ** 2 + 2 * 768 * 3072) + 4 * 12 * 128 * 768)
    assert step.gpu_s == pytest.approx(10 * flops / (costs.MFU * 1e14))
    activations = 12 * 64 * 128 * 768 * (34 + 5 * 12 * 128 / 768) * 2
    assert step.gpu_bytes == pytest.approx(16 * bert.params + activations)
    tiny = costs.train(gpu, bert, steps=10, batch=1, seq=4, bf16=False)  # small steps cost their kernel launches
    assert tiny.gpu_s == pytest.approx(10 * 3 * costs.FLOOR_S * 12)
    lm = costs.train(gpu, gpt2, steps=1, batch=64, seq=421, bf16=True, lm=True)
    assert lm.largest == (64 * 421 * 50257 * 4, "LM logits (fp32)")


def test_packed_stage1_lengths_against_hand_computations():
    """``lm_packing``: a batch becomes rows x its fullest row (the tensor the step computes on, attention included),
    never more tokens than padding it."""
    from dataclasses import replace

    from benchmark.study.rehearsal import projections
    from benchmark.study.rehearsal.projections import Lengths
    from dilm.config import PRESETS

    # rows of 64 would be 2 x 60 tokens for 80 real ones: rows as wide as the longest (10) cost what padding costs
    assert Lengths(np.array([10] * 8)).packed(8, 64) == (8, 10)
    assert Lengths(np.array([64] * 8)).packed(8, 64) == (8, 64)  # full rows: nothing to gain
    assert Lengths(np.array([32] * 8)).packed(8, 64) == (8, 32)  # 8 x 32 or 4 x 64: a tie keeps the first
    mixed = Lengths(np.array([8, 56, 30, 12, 40, 20] * 50))
    rows, fill = mixed.packed(16, 64)
    assert rows < 16 and fill <= 64 and rows * fill < 0.8 * 16 * mixed.padded(16)

    class Scale:  # what projections.stage1 reads of a task at scale
        gpu = costs.GPU("test", bf16_flops=1e12, fp32_flops=1e11, memory_gib=80)  # slow enough to be past the floor

        def lengths(self, model, max_length, generator=False):
            return mixed

    cfg = replace(PRESETS["paper"], lm_steps=1000, lm_batch_size=16, max_length=64, lm_packing=False)
    padded, packed = projections.stage1(Scale(), cfg), projections.stage1(Scale(), replace(cfg, lm_packing=True))
    gpt2 = ARCHITECTURES["gpt2"]
    assert packed.gpu_s == costs.train(Scale.gpu, gpt2, 1000, rows, fill, bf16=True, lm=True).gpu_s
    assert padded.gpu_s == costs.train(Scale.gpu, gpt2, 1000, 16, mixed.padded(16), bf16=True, lm=True).gpu_s
    assert packed.gpu_s < 0.85 * padded.gpu_s and packed.gpu_bytes < padded.gpu_bytes


def small_grid(tmp_path, mem: str):
    grid = tmp_path / "grid.yaml"
    grid.write_text("name: tiny\ntasks: [sst2]\ndpcs: [5]\nmethods:\n  - random\n  - name: herding\n"
                    "    params: {encoder: bert-base-uncased}\nlearners: [bert-base-uncased]\nn_sets: 3\nn_evals: 2\n")
    profile = tmp_path / "profile.yaml"
    profile.write_text(f"defaults: {{mem: 32G}}\nstages: {{fit: {{mem: {mem}}}}}\n")
    return grid, profile


def test_rehearse_runs_every_stage_and_projects_the_grid(tmp_path, rt_assets, minilm_assets, capsys):
    grid, profile = small_grid(tmp_path, "64G")
    args = ["rehearse", "--grid", str(grid), "--runs-dir", str(tmp_path / "runs"), "--out",
            str(tmp_path / "out" / "tiny-rehearsal"), "--check-profile", str(profile), "--no-progress"]
    assert main(args) == 0
    import pandas as pd

    table = pd.read_csv(tmp_path / "out" / "tiny-rehearsal" / "rehearsal.csv")
    stages = table["stage"].tolist()
    assert stages[:5] == ["fit random", "fit herding", "distill random", "distill herding",
                          "evaluate bert-base-uncased on text sets"]
    evaluate = table.iloc[4]
    assert evaluate["cells in grid"] == 3 * 2 + 2  # random: 3 sets x 2 runs; herding (deterministic): 1 set x 2
    assert evaluate["GPU h per cell"] > 0 and evaluate["peak RSS here (MiB)"] > 0
    assert (table["check"] == "ok").all()
    assert evaluate["runs per stack"] == 16  # run's default --stack-runs: 16 BERT-base copies fit an H200
    assert evaluate["host memory (GiB)"] > 2 * 16 * 4 * ARCHITECTURES["bert-base-uncased"].params / 2 ** 30
    assert "Projected total" in (tmp_path / "out" / "tiny-rehearsal" / "rehearsal.md").read_text()
    meta = json.loads((tmp_path / "out" / "tiny-rehearsal" / "rehearsal.json").read_text())
    per_cell_h = sum(c["seconds"] * c["cells"] for c in meta["costs"]) / 3600  # what `run --dry-run` reads
    assert per_cell_h == pytest.approx(table["GPU h, all cells"].sum() + table["node CPU h, all cells"].sum(), abs=0.1)
    assert {c["method"] for c in meta["costs"]} == {"random", "herding"} and meta["stack_runs"] == 16
    # what the cells built (herding's embeddings) stays in the rehearsal's own folder, never in the user cache,
    # so a later `--force` rehearsal measures a cold build again
    assert list((tmp_path / "runs" / "rehearsal-tiny" / "_artifacts" / "embeddings").glob("sst2.*.npy"))
    assert "DILM_BENCH_ARTIFACTS" not in os.environ

    grid, profile = small_grid(tmp_path, "100M")  # the embedding pass cannot fit in 100 MiB of host memory
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "FAILED sst2 fit herding: host memory" in err and "stages.fit.mem" in err

    profile.write_text("defaults: {mem: 32G}\nstages: {fit: {time: '0:01'}}\n")  # one second: herding's fit takes ~10
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "FAILED sst2 fit herding: time:" in err and "stages.fit.time or max_requeues" in err
    table = pd.read_csv(tmp_path / "out" / "tiny-rehearsal" / "rehearsal.csv")
    assert table.set_index("stage").loc["fit herding", "requeues"] == "never finishes (no checkpoints)"


def test_a_plugin_method_is_rehearsed_and_its_rows_say_not_modelled(tmp_path, rt_assets, minilm_assets):
    """The example plugin, installed through its entry point only, runs in the rehearsal; having no cost model, its
    fit and distill rows say "not modelled" (no failure), and its sets' evaluation is projected as any text set's."""
    import pandas as pd

    grid = tmp_path / "grid.yaml"
    grid.write_text("name: plug\ntasks: [sst2]\ndpcs: [5]\nmethods: [tfidf-prototypes]\n"
                    "learners: [bert-base-uncased]\nn_sets: 1\nn_evals: 1\n")
    assert main(["rehearse", str(tmp_path / "runs"), "--grid", str(grid), "--out", str(tmp_path / "out"),
                 "--check-profile", "gpu-cluster", "--no-progress"]) == 0
    table = pd.read_csv(tmp_path / "out" / "rehearsal.csv")
    stages = table["stage"].tolist()
    not_modelled = " (not modelled: tfidf-prototypes has no cost_model)"
    assert stages[:3] == ["fit tfidf-prototypes" + not_modelled, "distill tfidf-prototypes" + not_modelled,
                          "evaluate bert-base-uncased on text sets"]
    assert (table["check"] == "ok").all() and table.iloc[2]["GPU h per cell"] > 0
    markdown = (tmp_path / "out" / "rehearsal.md").read_text()
    assert "Not modelled (no `cost_model` on their method classes: their fit and distill cells count as nothing in " \
        "the totals): tfidf-prototypes." in markdown


def test_the_selection_probe_times_the_init_and_the_iterations_apart():
    """Both rates are measured (the old difference of two whole k-means runs could come out at zero)."""
    from benchmark.study.rehearsal.plan import selection_probe

    probe = selection_probe(width=32, rows=3000, k=50, dpc=5)
    assert probe["kmeans_s_per_flop"] > 0 and probe["kmeans_init_s_per_flop"] > 0 and probe["herding_s_per_flop"] > 0
    assert probe["kmeans_peak_rss_mib"] > 0 and probe["rows"] == 3000


def test_a_fresh_process_finds_the_stand_in_task():
    """A Slurm job unpickles rehearsal cells in a new interpreter: the `rehearsal` task must be in the registry there
    without anything of `rehearse` imported first (it was not, and every job of a Slurm rehearsal died)."""
    import subprocess
    import sys

    code = "from benchmark.tasks import TASKS; print(TASKS.get('rehearsal').__module__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "benchmark.tasks.glue_standins"


def test_cells_that_never_ran_fail_the_rehearsal_with_a_message(tmp_path, rt_assets, monkeypatch, capsys):
    """Jobs that die before their cell runs leave no record: the rehearsal says so and where the job logs are."""
    from benchmark.study.executors import EXECUTORS

    monkeypatch.setitem(EXECUTORS, "local", lambda cells, store, **options: {})
    grid, _ = small_grid(tmp_path, "64G")
    assert main(["rehearse", "--grid", str(grid), "--runs-dir", str(tmp_path / "runs"), "--out",
                 str(tmp_path / "out" / "tiny-rehearsal"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "did not finish" in err and "its job ended before the cell ran" in err and "_submitit" in err
    assert not (tmp_path / "out" / "tiny-rehearsal").exists()
