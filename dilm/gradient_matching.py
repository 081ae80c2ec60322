"""Stage 2: train the generator so that its samples carry the real data's training signal.

Per generator step and class c: g_real = the learner's classifier-head gradient of the mean CE on a real
batch of class c; g_syn = the head gradient of sum_i w_i CE_i over generated samples of class c, with
w = softmax(-genloss_i / T). Loss = sum_c (1 - cos(g_real, g_syn)) / C. The learner's inputs are text,
so the gradient reaches the generator only through w (the likelihood of each sample).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from dilm import checkpoint, weight_drift
from dilm.config import DiLMConfig
from dilm.generator import Generator, seeds_for
from dilm.learner import MatchingLearner
from dilm.lm_training import autocast, lr_schedule, param_groups
from dilm.selection import kmeans_centers, kmeans_device

log = logging.getLogger("dilm.stage2")


def head_gradient(h, logits, label: int, weights):
    """Closed-form gradient of sum_i w_i CE(W h_i + b, label) w.r.t. (W, b), flattened [W | b]:
    dW = sum_i w_i (softmax(z_i) - onehot) h_i^T, db = sum_i w_i (softmax(z_i) - onehot). Exact for a
    linear head; differentiable w.r.t. ``weights`` (h and logits are constants)."""
    import torch

    err = torch.softmax(logits, -1)
    err[:, label] -= 1.0
    weighted = weights[:, None] * err
    return torch.cat([(weighted.T @ h).reshape(-1), weighted.sum(0)])


def _uniform(n: int, device):
    import torch

    return torch.full((n,), 1.0 / n, device=device)


def matching_loss(g_real, g_syn):
    import torch

    return 1.0 - torch.nn.functional.cosine_similarity(g_real, g_syn, dim=0)


def sample_weights(nll, temperature: float):
    """w = softmax(-genloss / T) over the samples of one class batch."""
    import torch

    return torch.softmax(-nll / temperature, dim=0)


def representative_coresets(embeddings: np.ndarray, labels: np.ndarray, num_classes: int, n_coresets: int,
                            size: int, seed: int) -> list[list[np.ndarray]]:
    """``n_coresets`` k-means coresets (k = ``size`` per class, nearest real example per centroid, one seed
    each): the representative teacher's real batches. [coreset][class] -> train indices."""
    out = []
    for j, s in enumerate(seeds_for(seed, n_coresets)):
        per_class = []
        for c in range(num_classes):
            members = np.flatnonzero(labels == c)
            k = min(size, len(members))
            per_class.append(members[kmeans_centers(embeddings[members], k, int(s))])
        out.append(per_class)
    return out


def diverse_clusters(states: np.ndarray, k: int, seed: int, device: str | None = "auto") -> np.ndarray:
    """Cluster id of each pooled sample: k-means (k = synthetic batch size) on the learner's [CLS] states (on the GPU
    when there is one: ``selection.kmeans_device``)."""
    k = min(k, len(states))
    device = kmeans_device(device)
    if device is not None:
        from dilm.kmeans import kmeans

        return kmeans(states, k, seed, device)[1]
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, init="k-means++", n_init=1, random_state=seed).fit(states).labels_


def diverse_batch(clusters: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random member of every cluster: a synthetic mini-batch that covers the pool's modes."""
    return np.asarray([rng.choice(np.flatnonzero(clusters == c)) for c in np.unique(clusters)])


class GradientMatching:
    """The stage-2 loop: outer loops reset the learner; each inner step updates the generator once and
    then trains the learner on real batches. Checkpointed at outer-loop boundaries; resumable."""

    def __init__(self, generator: Generator, learner: MatchingLearner, texts, labels, cfg: DiLMConfig, seed: int,
                 teacher_embeddings: np.ndarray | None = None):
        self.generator = generator
        self.learner = learner
        self.texts = list(texts)
        self.labels = np.asarray(labels)
        self.cfg = cfg
        self.seed = seed
        self.num_classes = generator.num_classes
        self.teacher_embeddings = teacher_embeddings
        self.timings = {"pool_generation_s": 0.0, "generator_steps_s": 0.0, "learner_steps_s": 0.0}

    # ---- real and synthetic batches ---------------------------------------------------------------
    def _reset_learner(self, outer: int) -> None:
        cfg = self.cfg
        self.learner.reset(seeds_for((self.seed, outer), 1)[0], cfg.learner_lr, cfg.learner_schedule,
                           cfg.learner_warmup_ratio, cfg.inner_loops * cfg.learner_steps)

    def _teacher(self) -> list[list[np.ndarray]] | None:
        if not self.cfg.representative_teacher:
            return None
        embeddings = self.teacher_embeddings
        if embeddings is None:  # the pretrained learner's [CLS] states, before any update
            self.learner.reset(self.seed, self.cfg.learner_lr)
            embeddings = self.learner.cls_states(self.texts)
        return representative_coresets(embeddings, self.labels, self.num_classes, self.cfg.n_coresets,
                                       self.cfg.coreset_size, self.seed)

    def _real_batch(self, c: int, step: int, teacher, rng) -> list[list]:
        """``real_grad_accum`` real batches of class ``c`` (``real_batch_size`` each), from the coreset of this
        generator step (the teacher's coresets take turns step by step) or from the whole class."""
        pool = teacher[step % len(teacher)][c] if teacher else np.flatnonzero(self.labels == c)
        size = min(self.cfg.real_batch_size * self.cfg.real_grad_accum, len(pool))
        chosen = rng.choice(pool, size=size, replace=False)
        return [[self.texts[i] for i in part] for part in np.array_split(chosen, self.cfg.real_grad_accum) if len(part)]

    def _new_pool(self, step: int) -> dict:
        """``pool_size`` fresh samples per class from the current generator, clustered on the current learner."""
        t0 = time.perf_counter()
        pool = {"texts": [], "ids": [], "clusters": []}
        for c, s in enumerate(seeds_for((self.seed, step), self.num_classes)):
            texts, ids = self.generator.sample_texts(c, self.cfg.pool_size, self.cfg.max_length, self.cfg.top_p,
                                                     int(s), self.cfg.max_retries, self.cfg.sample_batch_size)
            clusters = (diverse_clusters(self.learner.cls_states(texts), self.cfg.syn_batch_size, int(s))
                        if self.cfg.diverse_sampling else None)
            pool["texts"].append(texts)
            pool["ids"].append(ids)
            pool["clusters"].append(clusters)
        self.timings["pool_generation_s"] += time.perf_counter() - t0
        return pool

    def _syn_batch(self, pool: dict, c: int, rng) -> np.ndarray:
        if self.cfg.diverse_sampling:
            return diverse_batch(pool["clusters"][c], rng)
        n = len(pool["texts"][c])
        return rng.choice(n, size=min(self.cfg.syn_batch_size, n), replace=False)

    # ---- one generator step -----------------------------------------------------------------------
    def generator_step(self, real: list[list[list]], syn_texts: list[list], syn_ids: list[list]) -> float:
        """Accumulate the matching loss's gradient into the generator, class by class; returns the loss.
        ``real[c]`` holds class c's real batches, whose head gradients are averaged (gradient accumulation)."""
        import torch

        total = 0.0
        for c in range(self.num_classes):
            self.generator.model.train(self.cfg.generator_dropout)  # the paper computes likelihoods with dropout on
            with autocast(self.generator.device, self.cfg.amp):
                packed_width = self.cfg.max_length if self.cfg.nll_packing else None
                nll = self.generator.sequence_nll(syn_ids[c], packed_width)
            weights = sample_weights(nll.float(), self.cfg.temperature)
            if self.cfg.classifier_only:
                g_real = torch.stack([head_gradient(*self.learner.head_inputs(part)[:2], c, _uniform(len(part), self.learner.device))
                                      for part in real[c]]).mean(0)  # accumulated over the real batches
                h, logits, _ = self.learner.head_inputs(syn_texts[c])
                loss = matching_loss(g_real, head_gradient(h, logits, c, weights)) / self.num_classes
                loss.backward()
            else:  # all learner parameters: d loss / d w by double backward, then into the generator
                g_real = torch.stack([self.learner.full_gradient(part, c, _uniform(len(part), self.learner.device),
                                                                 create_graph=False).detach() for part in real[c]]).mean(0)
                w_leaf = weights.detach().requires_grad_(True)
                g_syn = self.learner.full_gradient(syn_texts[c], c, w_leaf, create_graph=True)
                loss = matching_loss(g_real, g_syn) / self.num_classes
                (grad_w,) = torch.autograd.grad(loss, w_leaf)
                self.learner.model.zero_grad(set_to_none=True)
                (weights * grad_w).sum().backward()
            total += loss.item()
        return total

    # ---- the loop ---------------------------------------------------------------------------------
    def run(self, checkpoint_dir: Path, schedule: checkpoint.Schedule | None = None) -> dict:
        """The outer loops from the last checkpoint in ``checkpoint_dir``, saved at outer-loop ends when
        ``schedule`` (default: every ``cfg.checkpoint_minutes``) says so, and after the last."""
        import torch

        cfg = self.cfg
        model = self.generator.model
        total = cfg.outer_loops * cfg.inner_loops
        optimizer = torch.optim.AdamW(param_groups(model, 0.01), lr=cfg.generator_lr)
        scheduler = lr_schedule(optimizer, cfg.generator_schedule, cfg.generator_warmup_ratio, total)
        initial = weight_drift.snapshot(model)  # before a checkpoint loads: the stage-1 weights either way
        done_outer, extra = checkpoint.load(checkpoint_dir, model, optimizer, scheduler)
        schedule = schedule or checkpoint.Schedule(cfg.checkpoint_minutes)
        if done_outer:
            log.info("stage 2: resuming after outer loop %d of %d", done_outer, cfg.outer_loops)
        history: list[float] = extra.get("history", [])
        pool = extra.get("pool")
        teacher = self._teacher()
        bar = tqdm(total=total, initial=done_outer * cfg.inner_loops, desc="dilm stage 2 (matching)", unit="step",
                   disable=None)
        for outer in range(done_outer, cfg.outer_loops):
            rng = np.random.default_rng([self.seed, outer])
            self._reset_learner(outer)
            if pool is None:  # a fresh run's first pool (later pools are made before the reset that follows them)
                pool = self._new_pool(outer * cfg.inner_loops)
            losses = []
            for inner in range(cfg.inner_loops):
                step = outer * cfg.inner_loops + inner
                if inner and step % cfg.pool_interval == 0:
                    pool = self._new_pool(step)
                t0 = time.perf_counter()
                picks = [self._syn_batch(pool, c, rng) for c in range(self.num_classes)]
                real = [self._real_batch(c, step, teacher, rng) for c in range(self.num_classes)]
                loss = self.generator_step(real, [[pool["texts"][c][i] for i in picks[c]] for c in range(self.num_classes)],
                                           [[pool["ids"][c][i] for i in picks[c]] for c in range(self.num_classes)])
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                self.timings["generator_steps_s"] += time.perf_counter() - t0
                losses.append(loss)
                t0 = time.perf_counter()
                if inner + 1 < cfg.inner_loops:  # the learner is reset before the next outer loop uses it
                    for _ in range(cfg.learner_steps):
                        idx = rng.choice(len(self.texts), size=min(cfg.learner_batch_size, len(self.texts)),
                                         replace=False)
                        self.learner.train_step([self.texts[i] for i in idx], self.labels[idx].tolist())
                self.timings["learner_steps_s"] += time.perf_counter() - t0
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
            history.append(float(np.mean(losses)))
            log.info("stage 2: outer loop %d/%d, mean matching loss %.4f", outer + 1, cfg.outer_loops, history[-1])
            next_step = (outer + 1) * cfg.inner_loops
            if outer + 1 < cfg.outer_loops and next_step % cfg.pool_interval == 0:
                pool = self._new_pool(next_step)  # clustered on the learner as this outer loop left it
            if schedule.due() or outer + 1 == cfg.outer_loops:
                checkpoint.save(checkpoint_dir, outer + 1, model, optimizer, scheduler,
                                {"history": history, "pool": pool})
                schedule.saved()
        bar.close()
        return {"outer_loops": cfg.outer_loops, "generator_steps": total, "resumed_after_outer": done_outer,
                "learner_precision": self.learner.precision,
                "checkpoints": schedule.saves,
                "matching_loss_per_outer": [round(x, 5) for x in history],
                "weight_drift": weight_drift.drift(initial, weight_drift.parameters(model)),
                **{k: round(v, 1) for k, v in self.timings.items()}}
