"""Projected cost of a grid's cells on real models and a real GPU, from token counts measured on stand-in data.

The model, stated once (and printed under the rehearsal's table):
- Compute: a forward pass costs 2 x (layer parameters) FLOPs per token + 4 x layers x context x width (attention)
  + 2 x width x vocabulary for a language model's logits; a training step is 3 forward passes. Matmuls run at
  ``MFU`` of the GPU's dense peak in the precision each stage's resolved config names (a learner's, DiLM's or
  TDD's ``precision``: bf16 for "bf16" or "auto" on these GPUs, else fp32); where a config has no such field, bf16
  where the code autocasts (DiLM's generator) and fp32 where it does not (PyTorch keeps fp32 matmuls in fp32).
- Evaluation: the stacked path of ``run --stack-runs N`` (``learners/stacked.py``): as many copies as its memory
  model fits in three quarters of the GPU, each step's sequences packed in rows (lengths measured on the task),
  kernel launches paid once per stack; architectures without a stacked path train one run at a time, padded.
- Latency floors: a step is never faster than its kernel launches: ``FLOOR_S`` per layer per forward pass (x3 for
  a training step), and a sampled token never faster than ``DECODE_FLOOR_S`` per layer (Hugging Face ``generate``).
- GPU memory: weights + gradients + AdamW (16 bytes a trained parameter, 4 a frozen one) + activations
  (Korthikanti et al. 2022: b x s x h x (34 + 5 a s / h) bytes per layer in 16-bit, twice that in fp32) + logits.
- CPU work on the node (k-means, greedy selection): measured here at the real width, projected at ``KMEANS_ITERATIONS``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from benchmark.study.rehearsal.standins import Architecture

MFU = 0.35
FLOOR_S = 0.15e-3
DECODE_FLOOR_S = 0.35e-3
KMEANS_ITERATIONS = 100
GIB = 2 ** 30


@dataclass(frozen=True)
class GPU:
    name: str
    bf16_flops: float  # dense peak, FLOP/s
    fp32_flops: float
    memory_gib: float


GPUS = {
    "h200": GPU("NVIDIA H200 SXM", 989e12, 67e12, 141),
    "h100": GPU("NVIDIA H100 SXM", 989e12, 67e12, 80),
    "a100": GPU("NVIDIA A100 80GB", 312e12, 19.5e12, 80),
}


@dataclass
class Cost:
    """One cell's projection: GPU seconds, CPU seconds on the node, peak GPU bytes, largest tensor (bytes, what)."""

    gpu_s: float = 0.0
    cpu_s: float = 0.0
    gpu_bytes: float = 0.0
    largest: tuple[float, str] = (0.0, "")
    parts: dict = field(default_factory=dict)
    width: int = 1  # copies trained at once (an evaluate cell's stack)
    runs_per_task: int = 1  # cells one Slurm array task runs (a stack's cells, in chunks of ``width``)

    def add(self, part: str, other: "Cost") -> "Cost":
        self.gpu_s += other.gpu_s
        self.cpu_s += other.cpu_s
        self.gpu_bytes = max(self.gpu_bytes, other.gpu_bytes)
        self.largest = max(self.largest, other.largest)
        self.parts[part] = round(other.gpu_s + other.cpu_s, 1)
        return self


def forward_flops(arch: Architecture, tokens: float, context: float, logits: bool = False) -> float:
    per_token = 2 * arch.layers * arch.layer_params + 4 * arch.layers * context * arch.hidden
    return tokens * (per_token + (2 * arch.hidden * arch.vocab if logits else 0))


def activation_bytes(arch: Architecture, batch: float, seq: float, bf16: bool) -> float:
    per_layer = batch * seq * arch.hidden * (34 + 5 * arch.heads * seq / arch.hidden)
    return arch.layers * per_layer * (1 if bf16 else 2)


def train(gpu: GPU, arch: Architecture, steps: float, batch: float, seq: float, bf16: bool, lm: bool = False) -> Cost:
    """``steps`` AdamW steps on ``batch`` sequences padded to ``seq`` tokens."""
    flops = 3 * forward_flops(arch, batch * seq, seq / 2 if lm else seq, logits=lm)
    seconds = steps * max(flops / (MFU * (gpu.bf16_flops if bf16 else gpu.fp32_flops)), 3 * FLOOR_S * arch.layers)
    logits = batch * seq * arch.vocab * ((2 + 4 + 4) if bf16 else 12) if lm else 0.0
    memory = 16 * arch.params + activation_bytes(arch, batch, seq, bf16) + logits
    largest = max((batch * seq * arch.vocab * 4, "LM logits (fp32)") if lm else (0.0, ""),
                  (batch * arch.heads * seq * seq * 4, "attention scores"), (arch.vocab * arch.hidden * 4, "embedding table"))
    return Cost(gpu_s=seconds, gpu_bytes=memory, largest=largest)


def forward(gpu: GPU, arch: Architecture, rows: float, mean_len: float, batch: int, bf16: bool,
            kept: bool = False) -> Cost:
    """Inference over ``rows`` sequences of ``mean_len`` tokens (length-sorted batches: little padding); ``kept``:
    their pooled states are kept on the host (an embedding pass)."""
    flops = forward_flops(arch, rows * mean_len, mean_len)
    seconds = max(flops / (MFU * (gpu.bf16_flops if bf16 else gpu.fp32_flops)), -(-rows // batch) * FLOOR_S * arch.layers)
    memory = 4 * arch.params + batch * mean_len * arch.hidden * 16 + batch * arch.heads * mean_len ** 2 * 4
    largest = ((rows * arch.hidden * 4, "embeddings of the rows (host)") if kept
               else (batch * arch.heads * mean_len ** 2 * 4, "attention scores"))
    return Cost(gpu_s=seconds, gpu_bytes=memory, largest=largest)


def generate(gpu: GPU, arch: Architecture, samples: float, mean_len: float, max_len: float, batch: int,
             bf16: bool) -> Cost:
    """Nucleus sampling of ``samples`` sequences, ``batch`` at a time, each batch running until its longest ends."""
    batches = -(-samples // batch)
    flops = forward_flops(arch, samples * mean_len, mean_len / 2, logits=True)
    decode_steps = batches * min(max_len, 3 * mean_len)
    seconds = max(flops / (MFU * (gpu.bf16_flops if bf16 else gpu.fp32_flops)), decode_steps * DECODE_FLOOR_S * arch.layers)
    kv = 2 * arch.layers * batch * max_len * arch.hidden * (2 if bf16 else 4)
    memory = 4 * arch.params + kv + batch * arch.vocab * 4 * 3
    return Cost(gpu_s=seconds, gpu_bytes=memory, largest=(kv / arch.layers / 2, "KV cache per layer"))


def cpu(seconds: float, largest_bytes: float = 0.0, what: str = "") -> Cost:
    return Cost(cpu_s=seconds, largest=(largest_bytes, what))
