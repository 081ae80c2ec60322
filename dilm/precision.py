"""The precision a model's matmuls run in: ``fp32``, ``bf16`` or ``auto`` (bf16 where the device multiplies bfloat16
natively, else fp32: emulated bf16 is slower than fp32). One rule for the harness's learners, DiLM's stage-2 learner,
the embedders and TDD; records keep the resolved value, since ``auto`` differs from machine to machine."""
from __future__ import annotations

import contextlib

PRECISIONS = ("fp32", "bf16", "auto")


def resolve(precision: str, device) -> str:
    """``precision`` on ``device`` (a name such as ``cuda:0`` or a ``torch.device``): ``fp32`` or ``bf16``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    return "bf16" if native_bf16(str(device)) else "fp32"


def native_bf16(device: str) -> bool:
    """Whether ``device`` multiplies bfloat16 in hardware: a CUDA GPU that supports it, or a CPU with AVX-512 BF16
    or AMX (torch's own probes)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return any(getattr(torch.cpu, probe, lambda: False)()
               for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def autocast(precision: str, device):
    """bf16 autocast on ``device`` when ``precision`` resolves to bf16 there (matmuls in bfloat16 on the fp32
    weights; softmax, norms and losses kept in fp32 by torch's autocast lists), else nothing."""
    import torch

    if resolve(precision, device) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
