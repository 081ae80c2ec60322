"""How far a training stage moved a model's weights: the check that it changed the generator at all.

Adam moves each weight by at most about its learning rate per step, so a short stage at a small rate can leave the
generator almost where it started; stage 1 and stage 2 record their drift in their reports. From the shell,
``python -m dilm.weight_drift REFERENCE MODEL`` compares two saved models (folders holding model.safetensors).
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def snapshot(model) -> dict:
    """A CPU copy of ``model``'s parameters, by name: the reference a later :func:`drift` is measured from."""
    return {name: p.detach().to("cpu", copy=True) for name, p in model.named_parameters()}


def parameters(model) -> dict:
    """``model``'s parameters by name, without a copy."""
    return {name: p.detach() for name, p in model.named_parameters()}


def drift(reference: dict, current: dict) -> dict:
    """``relative_l2`` = ||current - reference|| / ||reference|| over the tensors both hold with one shape, and the
    largest single change (``max_abs``); ``tensors`` says how many tensors were compared."""
    common = [name for name, ref in reference.items()
              if name in current and tuple(current[name].shape) == tuple(ref.shape)]
    if not common:
        raise ValueError("the two models share no parameter of the same name and shape: they are not one model "
                         "before and after training")
    ref_sq = diff_sq = max_abs = 0.0
    for name in common:
        ref = reference[name].double().cpu()
        diff = current[name].double().cpu() - ref
        ref_sq += float(ref.pow(2).sum())
        diff_sq += float(diff.pow(2).sum())
        if diff.numel():
            max_abs = max(max_abs, float(diff.abs().max()))
    return {"relative_l2": math.sqrt(diff_sq / ref_sq) if ref_sq else float("inf"), "max_abs": max_abs,
            "tensors": len(common)}


def _load(folder: Path) -> dict:
    from safetensors.torch import load_file

    path = folder / "model.safetensors"
    if not path.is_file():
        raise SystemExit(f"error: {path} does not exist; pass a folder holding a saved model (model.safetensors)")
    return load_file(str(path))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dilm.weight_drift", description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="the model before training (a folder with model.safetensors)")
    parser.add_argument("model", type=Path, help="the model after training")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(drift(_load(args.reference), _load(args.model))))
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
