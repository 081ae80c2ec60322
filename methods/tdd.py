"""``tdd`` and ``tdd-text``: embedding-level distillation (Maekawa et al., ACL 2023), and its text projection.

``tdd`` learns DPC x C synthetic input-embedding sequences (fixed length L), their labels (hard, soft or
free vectors), one learning rate per unrolled step and optionally attention labels, by unrolling T SGD
steps of a BERT-architecture learner from its pretrained weights (fresh head, dropout off) and
minimising the unrolled model's loss on real training batches (``torch.func.functional_call``). The
checkpoint is chosen on the validation split carved from train, never on the test split. The result
trains only learners of the same embedding space; ``tdd-text`` maps it to the nearest vocabulary tokens
(cosine), the paper's "TDD to text" row, which trains any learner.

``precision`` (fp32, bf16, auto; ``dilm/precision.py``) sets the learner's forward passes in the unrolled steps, the
real batch and the validation runs: bf16 autocast keeps the weights, the unrolled SGD updates and the learned tensors
in fp32 and only rounds the matmuls. Its second-order gradients were checked against float64 before it was offered
(4-layer BERT, 3 unrolled steps, attention labels): every learned tensor's hypergradient has cosine >= 0.9999 with
float64's and the per-step rates' within 1% (fp32: 1e-6), so bf16 needs no TF32 fallback (``tests/test_precision.py``
keeps the check). The TDD authors' own configs run fp32 (configs/default.yaml:60-61, 66-67 of
arumaekawa/dataset-distillation-with-attention-labels); the ``paper`` preset uses bf16 as the DiLM paper's runs did
(see ``dilm/config.py``), ``precision: fp32`` restores theirs.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import ClassVar

import numpy as np
from tqdm.auto import tqdm

from benchmark.core.assets import pick_device, resolve_model
from benchmark.core.cache import artifact_root, cache_kind, load_built
from benchmark.core.classifiers import load_classifier
from benchmark.core.names import safe_name
from benchmark.tasks.base import Examples, Task
from dilm import checkpoint
from dilm.precision import PRECISIONS, autocast, resolve
from methods import METHODS
from methods.base import CostModel, DistilledSet, Method, MethodCard, check_dpc, config_constructor, resolve_preset
from methods.embedding_set import KIND, EmbeddingSet, inner_loss

log = logging.getLogger("methods.tdd")
LABEL_TYPES = ("hard", "soft", "free")
CITATION = ("Maekawa et al., Dataset Distillation with Attention Labels for Fine-tuning BERT, ACL 2023 "
            "(the embedding-level baseline of the DiLM paper)")
CACHE_FORMAT = 2  # bumped when a cached set's content or its optimisation changes: older entries are never reused
RUNTIME = {"runtime": True}  # field metadata: where and how often, never part of a cache key or cell id


@dataclass(frozen=True)
class TDDConfig:
    """All of TDD's knobs; the defaults are the ``cpu`` preset (MiniLM's space, minutes on 2 cores)."""

    # each numeric knob's range, beside the fields' types (a grid is checked against it before anything runs)
    RANGES: ClassVar[dict] = {
        **{name: "x >= 1" for name in ("seq_length", "inner_steps", "outer_steps", "real_batch_size", "eval_every",
                                       "validation_size")},
        **{name: "x > 0" for name in ("lr_embeddings", "lr_labels", "lr_lrs", "init_lr", "init_head_lr",
                                      "checkpoint_minutes")},
        "attention_weight": "x >= 0", "label_type": LABEL_TYPES}

    model: str = "minilm"  # the learner whose embedding space the set lives in
    seq_length: int = 24  # tokens of each synthetic sequence
    inner_steps: int = 1  # unrolled SGD steps of the learner on the whole set
    outer_steps: int = 150
    real_batch_size: int = 32
    label_type: str = "soft"  # hard, soft (learned logits) or free (learned vectors)
    attention_labels: bool = True
    attention_weight: float = 1.0
    lr_embeddings: float = 1e-2
    lr_labels: float = 1e-2
    lr_lrs: float = 1e-2
    init_lr: float = 1e-4  # the encoder's initial per-step rate
    init_head_lr: float = 3.0  # the fresh classifier head's (it needs a far larger step)
    eval_every: int = 50  # outer steps between validation checks (the best snapshot is kept)
    validation_size: int = 300
    precision: str = "fp32"  # the learner's forward passes: fp32, bf16 (autocast) or auto
    device: str = field(default="auto", metadata=RUNTIME)
    checkpoint_minutes: float = field(default=10.0, metadata=RUNTIME)


PRESETS = {
    "cpu": TDDConfig(),
    "paper": replace(TDDConfig(), model="bert-base-uncased", seq_length=64, outer_steps=5000, real_batch_size=64,
                     eval_every=500, validation_size=1000, precision="bf16"),
}
RUNTIME_FIELDS = tuple(f.name for f in fields(TDDConfig) if f.metadata.get("runtime"))
# Fields added after records were made: in cell ids and cache keys only when set away from their default.
LATER_FIELDS = {"precision": "fp32"}


def identity(cfg: dict) -> dict:
    """``cfg`` without runtime fields and without later fields at their default: what ids and cache keys hash."""
    return {k: v for k, v in cfg.items() if k not in RUNTIME_FIELDS and LATER_FIELDS.get(k, object()) != v}


@METHODS.register("tdd")
class TDD(Method):
    """TDD: learned input embeddings + labels + per-step learning rates (+ attention labels) for one BERT space."""

    kind = KIND
    CARD = MethodCard(
        summary="TDD (embedding-level): DPC x C input-embedding sequences, labels, per-step learning rates and "
                "attention labels learned by unrolling SGD steps of a BERT-architecture learner; trains only "
                "learners of its embedding space (others show n/a).",
        fit_cost="nothing (the optimisation depends on DPC)",
        distill_cost="outer_steps x (unrolled inner steps + a real batch, second order) + validation scoring; "
                     "cpu preset ~5 min on 2 cores at DPC 5; cached per (task, params, DPC, seed), shared with tdd-text",
        citation=CITATION)
    TEST_PARAMS = {"seq_length": 6, "outer_steps": 3, "real_batch_size": 8, "eval_every": 2, "validation_size": 16}
    MODEL_PARAMS = ("model",)
    REHEARSAL_PARAMS = {"outer_steps": 2, "eval_every": 2, "validation_size": 128}
    cost_model = CostModel(distill="tdd", evaluate_steps="inner_steps",
                           advice="lower tdd's real_batch_size or seq_length")

    PRESETS = PRESETS
    PARAM_RANGES = TDDConfig.RANGES
    __init__ = config_constructor(TDDConfig, tuple(f.name for f in fields(TDDConfig)))

    def config(self) -> dict:
        """The preset's values with every non-None hyper-parameter applied; checks the choices."""
        params = self.get_params()
        cfg = resolve_preset(PRESETS, params.pop("preset"), params, "TDD")
        if cfg.label_type not in LABEL_TYPES:
            raise ValueError(f"label_type must be one of {LABEL_TYPES}, got {cfg.label_type!r}")
        if cfg.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {cfg.precision!r}")
        return asdict(cfg)

    @classmethod
    def resolved_config(cls, params: dict, task: str | None = None) -> dict:
        return identity(cls(**params).config())

    @property
    def embedding_space(self) -> str:
        return self.config()["model"]

    def distill(self, state, dpc: int, seed: int) -> EmbeddingSet:
        task: Task = state
        check_dpc(task, dpc)
        artifact = cached_artifact(task, self.config(), dpc, seed)
        artifact.provenance = {"method": "tdd", "params": self.get_params(), "task": task.name,
                               "train_checksum": task.splits.train.checksum(), "dpc": dpc, "seed": seed,
                               **artifact.provenance}
        return artifact


@METHODS.register("tdd-text")
class TDDText(TDD):
    """TDD's embeddings mapped to the nearest vocabulary tokens (cosine): text that trains any learner."""

    kind = "text"
    projection_of = "tdd"
    CARD = MethodCard(
        summary="TDD to text: the tdd set's input embeddings replaced by their nearest vocabulary tokens (cosine), "
                "decoded to text; the paper's evidence that embedding-level data does not transfer.",
        fit_cost="nothing",
        distill_cost="the tdd optimisation (cached: free when the tdd cell with the same params ran) + a "
                     "nearest-token search",
        citation=CITATION)

    def distill(self, state, dpc: int, seed: int) -> DistilledSet:
        task: Task = state
        check_dpc(task, dpc)
        cfg = self.config()
        artifact = cached_artifact(task, cfg, dpc, seed)
        texts = project_to_text(artifact, cfg["model"], len(task.text_fields))
        return self.make_set(task, Examples(tuple(texts), artifact.labels.astype(np.int64)), dpc, seed)


# ---- the optimisation -------------------------------------------------------------------------------
CACHE_KIND = cache_kind("tdd", "TDD embedding-level sets", shared=True)


def cached_artifact(task: Task, cfg: dict, dpc: int, seed: int) -> EmbeddingSet:
    """The TDD set for (task, config, DPC, seed): loaded from the user cache, or distilled under a file lock."""
    ran = {**cfg, "precision": resolve(cfg["precision"], pick_device(cfg["device"]))}  # auto: what it is here
    key = {"task": task.name, "train_checksum": task.splits.train.checksum(), "dpc": dpc, "seed": seed,
           "format": CACHE_FORMAT, **identity(ran)}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    root = artifact_root() / CACHE_KIND
    final = root / f"{safe_name(task.name, 'task name')}.dpc{dpc}.s{seed}.{digest}"
    partial = root / f".{final.name}.partial"  # checkpoints of an interrupted optimisation, outside the staging
    artifact = load_built(final, EmbeddingSet.META, lambda staging: distill_embeddings(task, cfg, dpc, seed,
                                                                                       partial).save(staging),
                          EmbeddingSet.load)
    shutil.rmtree(partial, ignore_errors=True)
    return artifact


def distill_embeddings(task: Task, cfg: dict, dpc: int, seed: int, checkpoint_dir=None,
                       schedule: checkpoint.Schedule | None = None) -> EmbeddingSet:
    """Learn the set by unrolled, second-order optimisation; keep the snapshot best on the validation split.
    With ``checkpoint_dir``, resumes from its checkpoint and writes one when ``schedule`` (default: every
    ``checkpoint_minutes``) says so."""
    device = pick_device(cfg["device"])
    rng = np.random.default_rng(seed)
    run = _Optimisation.start(task, cfg, dpc, seed, rng, device)
    validation = task.splits.validation
    val_idx = rng.permutation(len(validation))[:cfg["validation_size"]]
    val_texts, val_labels = [validation.texts[i] for i in val_idx], validation.labels[val_idx]
    best, best_acc, history, start = run.snapshot(), -1.0, [], 0
    saved = checkpoint.load_state(checkpoint_dir, device) if checkpoint_dir is not None else None
    if saved is not None:
        best, best_acc, history, start = run.restore(saved, rng)
        log.info("tdd: resuming after step %d of %d", start, cfg["outer_steps"])
    schedule = schedule or checkpoint.Schedule(cfg.get("checkpoint_minutes", 10.0))
    t0 = time.perf_counter()
    bar = tqdm(range(start, cfg["outer_steps"]), initial=start, total=cfg["outer_steps"], desc=f"tdd dpc {dpc}",
               unit="step", disable=None)
    for step in bar:
        history.append(run.outer_step(task.splits.train, rng))
        bar.set_postfix(loss=f"{history[-1]:.3f}")
        if (step + 1) % cfg["eval_every"] == 0 or step + 1 == cfg["outer_steps"]:
            candidate = run.snapshot()
            acc = validation_accuracy(candidate, cfg["model"], task.num_classes, device, val_texts, val_labels, seed,
                                      cfg["precision"])
            log.info("tdd step %d: real-batch loss %.4f, validation accuracy %.4f", step + 1, history[-1], acc)
            if acc > best_acc:
                best, best_acc = candidate, acc
        if checkpoint_dir is not None and schedule.due() and step + 1 < cfg["outer_steps"]:
            checkpoint.save_state(checkpoint_dir, {
                "step": step + 1, "learn": {k: v.detach() for k, v in run.learn.items()},
                "optimizer": run.optimizer.state_dict(), "numpy_rng": rng.bit_generator.state,
                "rng": checkpoint.rng_state(), "best": best.tensors, "best_acc": best_acc, "history": history})
            schedule.saved()
    best.provenance = {"selected_by": "validation accuracy (a slice of the validation split carved from train)",
                       "validation_accuracy": round(best_acc, 4), "outer_loss": [round(x, 4) for x in history[::10]],
                       "fit_s": round(time.perf_counter() - t0, 1), "resumed_after_step": start,
                       "checkpoints": schedule.saves, "precision_used": resolve(cfg["precision"], device)}
    return best


@dataclass
class _Optimisation:
    """One TDD optimisation in progress: the learned tensors (``learn``: input embeddings, per-step log rates,
    labels, attention labels) with their Adam, the fixed parts they go with, and the learner they train."""

    cfg: dict
    model: object
    tokenizer: object
    device: str
    attention_mask: object
    classes: object
    onehot: object
    learn: dict
    optimizer: object
    recipe: dict
    label_names: tuple
    base: dict  # the pretrained parameters every outer step starts from (a fresh head each time)

    @classmethod
    def start(cls, task: Task, cfg: dict, dpc: int, seed: int, rng, device: str) -> "_Optimisation":
        """The initial set: the word embeddings of DPC random real examples per class (padded or cut to the
        sequence length), one-hot targets (learned logits or vectors unless hard), the learner's attention maps."""
        import torch

        num_classes, train = task.num_classes, task.splits.train
        tokenizer, model = load_classifier(cfg["model"], num_classes, device, seed)
        chosen = np.concatenate([rng.choice(np.flatnonzero(train.labels == c), dpc, replace=False)
                                 for c in range(num_classes)])
        enc = tokenizer(*zip(*[train.texts[i] for i in chosen]), truncation=True, max_length=cfg["seq_length"],
                        padding="max_length", return_tensors="pt").to(device)
        with torch.no_grad():
            embeds = model.get_input_embeddings()(enc["input_ids"]).clone()
        classes = torch.as_tensor(train.labels[chosen], device=device)
        learn = {"inputs_embeds": embeds.requires_grad_(True),
                 # per step: the encoder's rate and the classifier head's (a fresh head needs a far larger step)
                 "log_lrs": torch.log(torch.tensor([[cfg["init_lr"], cfg["init_head_lr"]]] * cfg["inner_steps"],
                                                   device=device)).requires_grad_(True)}
        onehot = torch.nn.functional.one_hot(classes, num_classes).float()
        if cfg["label_type"] != "hard":
            learn["labels"] = (onehot * 5.0 if cfg["label_type"] == "soft" else onehot.clone()).requires_grad_(True)
        if cfg["attention_labels"]:
            with torch.no_grad(), autocast(cfg["precision"], device):
                attn = torch.stack(model(inputs_embeds=embeds, attention_mask=enc["attention_mask"],
                                         output_attentions=True).attentions)
            learn["attention_labels"] = torch.log(attn.float() + 1e-6).requires_grad_(True)
        lrs = {"inputs_embeds": cfg["lr_embeddings"], "labels": cfg["lr_labels"], "log_lrs": cfg["lr_lrs"],
               "attention_labels": cfg["lr_embeddings"]}
        optimizer = torch.optim.Adam([{"params": [v], "lr": lrs[k]} for k, v in learn.items()])
        recipe = {"space": cfg["model"], "steps": cfg["inner_steps"], "order": "the whole set at every step",
                  "label_type": cfg["label_type"], "optimizer": "SGD with the learned per-step rates",
                  "dropout": "off", "seq_length": cfg["seq_length"], "attention_labels": cfg["attention_labels"],
                  "attention_weight": cfg["attention_weight"], "embedding_model": resolve_model(cfg["model"]),
                  "head_prefix": _head_prefix(model)}
        return cls(cfg, model, tokenizer, device, enc["attention_mask"], classes, onehot, learn, optimizer, recipe,
                   tuple(task.label_names), {k: v.detach() for k, v in model.named_parameters()})

    def targets(self):
        if self.cfg["label_type"] == "hard":
            return self.onehot
        import torch

        return torch.softmax(self.learn["labels"], -1) if self.cfg["label_type"] == "soft" else self.learn["labels"]

    def tensors_now(self) -> dict:
        out = {"inputs_embeds": self.learn["inputs_embeds"], "attention_mask": self.attention_mask,
               "targets": self.targets()}
        if "attention_labels" in self.learn:
            out["attention_labels"] = self.learn["attention_labels"]
        return out

    def snapshot(self) -> EmbeddingSet:
        tensors = {"inputs_embeds": self.learn["inputs_embeds"].detach().clone(),
                   "attention_mask": self.attention_mask.detach().clone(), "targets": self.targets().detach().clone(),
                   "lrs": self.learn["log_lrs"].detach().exp().clone(), "classes": self.classes.detach().clone().cpu()}
        if "attention_labels" in self.learn:
            tensors["attention_labels"] = self.learn["attention_labels"].detach().clone()
        return EmbeddingSet(tensors, self.recipe, self.label_names)

    def outer_step(self, train, rng) -> float:
        """Unroll the learner's steps on the set from the pretrained weights and a fresh head, score the result on
        a real batch, and take one Adam step on the learned tensors: the real batch's loss."""
        import torch
        from torch.func import functional_call

        params = dict(self.base)
        gen = torch.Generator(device="cpu").manual_seed(int(rng.integers(2**31)))
        std = getattr(self.model.config, "initializer_range", 0.02)
        for name in (n for n in self.base if n.startswith(self.recipe["head_prefix"])):
            # a fresh head per outer step: the set must train any initialisation of it
            params[name] = (torch.randn(self.base[name].shape, generator=gen) * std).to(self.device) \
                if self.base[name].ndim > 1 else torch.zeros_like(self.base[name])
        idx = rng.choice(len(train), size=min(self.cfg["real_batch_size"], len(train)), replace=False)
        real = self.tokenizer(*zip(*[train.texts[i] for i in idx]), truncation=True, max_length=64, padding=True,
                              return_tensors="pt").to(self.device)
        with autocast(self.cfg["precision"], self.device):
            params = unroll(self.model, {k: v.requires_grad_(True) for k, v in params.items()}, self.tensors_now(),
                            self.learn["log_lrs"].exp(), self.recipe)
            logits = functional_call(self.model, params, (), dict(real)).logits
        targets = torch.as_tensor(train.labels[idx], device=self.device)
        outer = torch.nn.functional.cross_entropy(logits.float(), targets)
        for tensor, grad in zip(self.learn.values(), torch.autograd.grad(outer, list(self.learn.values()))):
            tensor.grad = grad  # only the distilled data learns; the learner's start point stays fixed
        self.optimizer.step()
        return outer.item()

    def restore(self, saved: dict, rng) -> tuple:
        """Everything the loop reads, from a checkpoint: the learned tensors, Adam, the data order and the RNGs;
        returns (best snapshot, its validation accuracy, the loss history, the next step)."""
        import torch

        with torch.no_grad():
            for name, tensor in self.learn.items():
                tensor.copy_(saved["learn"][name])
        self.optimizer.load_state_dict(saved["optimizer"])
        rng.bit_generator.state = saved["numpy_rng"]
        checkpoint.set_rng_state(saved["rng"])
        best = EmbeddingSet(saved["best"], self.recipe, self.label_names)
        return best, saved["best_acc"], saved["history"], saved["step"]


def unroll(model, params: dict, tensors: dict, lrs, recipe: dict, create_graph: bool = True) -> dict:
    """len(lrs) SGD steps on the distilled data from ``params`` (step t: rate lrs[t, 0] for the encoder,
    lrs[t, 1] for the classifier head), as a differentiable function of the data, the labels and the rates
    (``create_graph``): the parameters after the steps."""
    import torch

    head = recipe["head_prefix"]
    for encoder_lr, head_lr in lrs:
        loss = inner_loss(model, tensors, recipe, params)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=create_graph, allow_unused=True)
        params = {name: p if g is None else p - (head_lr if name.startswith(head) else encoder_lr) * g
                  for (name, p), g in zip(params.items(), grads)}
    return params


def _head_prefix(model) -> str:
    from dilm.learner import final_linear

    head = final_linear(model, model.config.num_labels)
    return next(name for name, module in model.named_modules() if module is head)


def validation_accuracy(artifact: EmbeddingSet, model_name: str, num_classes: int, device: str, texts, labels,
                        seed: int, precision: str = "fp32") -> float:
    """Train a fresh model of the space on the artifact with its recipe; accuracy on the given validation texts
    (both in ``precision``)."""
    import torch

    tokenizer, model = load_classifier(model_name, num_classes, device, seed + 1)
    with autocast(precision, device):
        artifact.train(model)
    with torch.inference_mode(), autocast(precision, device):
        enc = tokenizer(*zip(*texts), truncation=True, max_length=64, padding=True, return_tensors="pt").to(device)
        predictions = model(**enc).logits.argmax(-1).cpu().numpy()
    return float((predictions == labels).mean())


def project_to_text(artifact: EmbeddingSet, model_name: str, n_fields: int) -> list[tuple[str, ...]]:
    """Each position's nearest vocabulary token by cosine similarity of input embeddings, decoded; padding
    positions (attention mask 0) are dropped. Pair sets are split at the first [SEP] when there is one."""
    import torch

    tokenizer, model = load_classifier(model_name, 2, "cpu", 0)
    vocab = torch.nn.functional.normalize(model.get_input_embeddings().weight.detach(), dim=-1)
    texts = []
    for embeds, mask in zip(artifact.tensors["inputs_embeds"].cpu(), artifact.tensors["attention_mask"].cpu()):
        ids = (torch.nn.functional.normalize(embeds[mask.bool()], dim=-1) @ vocab.T).argmax(-1).tolist()
        pieces = tokenizer.decode(ids, skip_special_tokens=False)
        for special in (tokenizer.cls_token, tokenizer.pad_token):
            pieces = pieces.replace(special or "\0", " ")
        parts = [p.strip() for p in pieces.split(tokenizer.sep_token or "\0") if p.strip()] or ["[empty]"]
        fields = parts[:n_fields] + [parts[-1]] * (n_fields - len(parts[:n_fields]))
        texts.append(tuple(" ".join(f.split()) or "[empty]" for f in fields))
    return texts
