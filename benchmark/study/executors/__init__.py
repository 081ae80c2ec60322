"""Executors run a grid's cells stage by stage (fit, then distill, then evaluate) into one store."""
from benchmark.study.executors.local import run_local
from benchmark.study.executors.slurm import run_slurm

EXECUTORS = {"local": run_local, "slurm": run_slurm}
