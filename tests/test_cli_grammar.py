"""One grammar for the commands (#54): the runs folder is every command's first argument, `--out` is the study's own
folder for `run` and `report`, `report` writes the HTML page like `run`, `status RUNS` tells what a folder holds
without the run's flags, a study is named after what it runs (or `--name`), and `--methods` keeps the reference rows."""
import argparse
import json
import re

import pandas as pd
import pytest

from benchmark.cli import build_parser, main

TINY = ("name: tiny\ntasks: [tiny-sentiment]\ndpcs: [2, 4]\nmethods: [full, random, herding]\n"
        "learners: [tfidf-logreg]\nn_sets: 2\nn_evals: 1\n")
# the component kinds are spelled alike and scoped to what a command works on: run and status select a grid's,
# export filters the sets a runs folder holds, list lists the registry's
SCOPED, FILTERS = {"--methods", "--tasks", "--learners"}, {"export", "list"}


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def _meaning(help_text: str) -> str:
    """An option's help without its default (each command has its own) and what one command adds after a ";"."""
    return re.sub(r"\s*\(default: [^)]*\)", "", help_text or "").split("; ")[0]


def test_every_subcommand_help_gives_shared_options_one_spelling_and_one_meaning(capsys):
    seen: dict[str, dict[str, str]] = {}  # option -> {command: meaning}
    runs_commands = []
    for name, sub in _subcommands().items():
        with pytest.raises(SystemExit) as exit_:
            main([name, "--help"])
        assert exit_.value.code == 0
        text = capsys.readouterr().out
        assert "--runs-dir" not in text and "--output" not in text and "_" not in re.findall(r"--[\w-]+", text).__str__()
        for action in sub._actions:
            if action.help == argparse.SUPPRESS:
                continue
            for option in action.option_strings or (["RUNS"] if action.metavar == "RUNS" else []):
                seen.setdefault(option, {})[name] = _meaning(action.help)
        if any(a.metavar == "RUNS" for a in sub._actions):
            runs_commands.append(name)
            first = next(a for a in sub._actions if not a.option_strings)
            assert first.metavar == "RUNS" and first.nargs == "?", name  # the first positional, optional
            assert re.search(r"^usage: .*? \[RUNS\]", text, re.S), name
    assert set(runs_commands) == {"run", "status", "report", "judge", "export", "rehearse"}
    shared = {option: by for option, by in seen.items() if len(by) > 1}
    assert {"RUNS", "--out", "--no-progress", "--no-html", "--grid", "--set", "--executor", "--force"} <= set(shared)
    for option, by in shared.items():
        meanings = {text for command, text in by.items() if not (option in SCOPED and command in FILTERS)}
        assert len(meanings) == 1, f"{option} means different things: {by}"
    assert set(shared["--no-html"]) == {"run", "report"} and set(shared["--out"]) >= {"run", "report", "judge"}


def test_status_of_a_folder_made_with_flags_needs_no_flags(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["run", str(runs), "--tasks", "tiny-sentiment", "--methods", "random", "--learners", "tfidf-logreg",
                 "--dpcs", "2", "--no-progress"]) == 0
    assert main(["run", str(runs), "--tasks", "tiny-sentiment", "--methods", "herding", "--learners",
                 "tfidf-logreg", "--dpcs", "2", "4", "--no-progress", "--no-reference"]) == 0
    capsys.readouterr()
    assert main(["status", str(runs)]) == 0
    out = capsys.readouterr().out
    first = "grid 'tiny-sentiment-random-tfidf-logreg-dpc2' (preset 'demo' with --tasks tiny-sentiment --methods random"
    assert first in out and "grid 'tiny-sentiment-herding-tfidf-logreg-dpc2-4-no-reference'" in out
    # the first grid kept demo's reference row Full beside Random: 2 fits, 2 sets (random) + 1 (full), 3 runs
    blocks = out.split("grid '")[1:]
    assert "fit      done 2  running 0  failed 0  pending 0" in blocks[0]
    assert "evaluate done 3  running 0  failed 0  pending 0" in blocks[0]
    assert "fit      done 1  running 0  failed 0  pending 0" in blocks[1]  # herding alone
    assert "evaluate done 2  running 0  failed 0  pending 0" in blocks[1]  # deterministic: one set per DPC
    assert "no recorded grid" not in out
    # a cell that failed shows under its grid, with its error
    victim = next(p for p in (runs / "evaluate").iterdir() if ".herding." in p.name)
    (victim / "done").unlink()
    (victim / "error.json").write_text(json.dumps({"error": "ValueError: broken\nmore"}))
    assert main(["status", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "evaluate done 1  running 0  failed 1  pending 0" in out.split("grid '")[2]
    assert f"FAILED evaluate {victim.name}: ValueError: broken" in out
    # a folder of cells whose grid was never recorded (made before plans were kept) still tells what it holds
    for plan in (runs / "grids").iterdir():
        plan.unlink()
    assert main(["status", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "cells of no recorded grid" in out and "evaluate done 4  running 0  failed 1  unfinished 0" in out
    assert main(["status", str(tmp_path / "nowhere")]) == 2
    assert "no runs folder" in capsys.readouterr().err


def test_name_is_the_folder_and_title_and_out_is_the_study_folder(tmp_path, capsys):
    grid = tmp_path / "tiny.yaml"
    grid.write_text(TINY)
    runs = tmp_path / "runs"
    assert main(["run", str(runs), "--grid", str(grid), "--methods", "random", "--name", "my-study",
                 "--no-progress"]) == 0
    board = runs / "leaderboards" / "my-study"
    assert (board / "leaderboard.md").exists() and "<title>Leaderboard: my-study</title>" in (board / "index.html").read_text()
    assert [p.name for p in (runs / "leaderboards").iterdir()] == ["my-study"]
    assert main(["status", str(runs)]) == 0 and "grid 'my-study'" in capsys.readouterr().out
    # --out is the study's own folder, for run and report alike; report writes the HTML page by default
    assert main(["run", str(runs), "--grid", str(grid), "--methods", "random", "--out", str(tmp_path / "res" / "a"),
                 "--no-progress"]) == 0
    assert (tmp_path / "res" / "a" / "leaderboard.md").exists() and (tmp_path / "res" / "a" / "index.html").exists()
    assert main(["report", str(runs), "--out", str(tmp_path / "res" / "b")]) == 0
    assert (tmp_path / "res" / "b" / "leaderboard.md").exists() and (tmp_path / "res" / "b" / "index.html").exists()
    assert main(["report", str(runs), "--out", str(tmp_path / "c"), "--no-html"]) == 0
    assert not (tmp_path / "c" / "index.html").exists()
    assert main(["report", str(runs), "--out", str(tmp_path / "d"), "--html"]) == 0  # the old flag, a no-op
    assert main(["report", str(runs)]) == 0 and (runs / "leaderboards" / "all" / "index.html").exists()
    # the old meaning (--out PARENT) would write into a folder of studies: refused, naming the fix
    capsys.readouterr()
    assert main(["report", str(runs), "--out", str(tmp_path / "res")]) == 2
    assert f"pass --out {tmp_path / 'res' / 'all'}" in capsys.readouterr().err
    assert not (tmp_path / "res" / "leaderboard.md").exists()
    # a name that cannot be a folder (or holds a space: names become file names, docs/safety.md)
    for bad in ("a/b", "my study"):
        assert main(["run", str(runs), "--grid", str(grid), "--name", bad, "--dry-run"]) == 2
        assert "study name" in (err := capsys.readouterr().err) and "is not a safe name" in err
    # the deprecated --runs-dir still works, and disagreeing with RUNS is an error
    assert main(["status", "--runs-dir", str(runs)]) == 0 and "deprecated" in capsys.readouterr().err
    assert main(["status", str(runs), "--runs-dir", str(tmp_path / "x")]) == 2


def test_methods_override_keeps_the_reference_rows_unless_told(tmp_path):
    from benchmark import api

    grid = tmp_path / "tiny.yaml"
    grid.write_text(TINY)
    kept = api.open_grid(str(grid), overrides={"methods": ["herding"]}, load_data=False)
    assert [m.name for m in kept.methods] == ["full", "random", "herding"] and kept.name == "tiny-sentiment-herding"
    alone = api.open_grid(str(grid), overrides={"methods": ["herding"]}, load_data=False, reference=False)
    assert [m.name for m in alone.methods] == ["herding"] and alone.name != kept.name
    named = api.open_grid(str(grid), overrides={"methods": ["random", "herding"]}, load_data=False)
    assert [m.name for m in named.methods] == ["full", "random", "herding"]  # Random named once, in its place
    demo = api.open_grid("demo", overrides={"tasks": ["trec6"], "methods": ["random", "herding", "kmeans-centers"]},
                         load_data=False)
    assert demo.name == "trec6-random-herding-kmeans-centers"
    assert [m.name for m in demo.methods] == ["full", "random", "herding", "kmeans-centers"]
    assert api.open_grid("demo", ["name=as-given"], load_data=False).name == "as-given"  # --set name=: no hash
    assert api.open_grid("demo", load_data=False).name == "demo"
    runs = tmp_path / "runs"
    assert main(["run", str(runs), "--grid", str(grid), "--methods", "herding", "--no-progress"]) == 0
    table = pd.read_csv(runs / "leaderboards" / "tiny-sentiment-herding" / "leaderboard.csv")
    assert {"full", "random", "herding"} <= set(table["method"])
