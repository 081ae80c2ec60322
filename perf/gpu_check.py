"""A GPU check of the paper grid's stages: a few steps of each, on REAL-SIZE random-init models, as ``run --grid full``
runs them; prints the measured seconds per step and the peak GPU memory per stage, and writes them to ``--out``
(``gpu-check.csv`` + ``gpu-check.md``).

    python perf/gpu_check.py --device cuda --out results/gpu-check     # one H100/H200: about 5 minutes
    python perf/gpu_check.py --tiny --device cpu --out /tmp/check      # tiny widths, 1 step (tests/test_gpu_check.py)

Needs only torch, transformers (and its tokenizers), numpy, scikit-learn, pandas, PyYAML and this repository: no
hub, no offline asset. Models are built from configs in code (GPT-2 124M, BERT-base, RoBERTa-base, BERT-large,
XLNet-base; random weights run at the speed of trained ones). Texts are token ids of real lengths: the words per field
of the GLUE stand-ins' profiles (``benchmark/tasks/glue_standins.py``: the DiLM authors' sets), at
``TOKENS_PER_WORD`` tokens a word, in a word-level tokenizer made here whose words are the ids. The stages run the
project's own code (DiLM's generator, packing, decoding and learner; TDD's outer step; the stacked and the
one-at-a-time fine-tuning paths; the torch k-means) in bf16 autocast as the ``paper`` presets run them on a GPU (TDD
too: its second-order gradients were checked against float64, ``tests/test_precision.py``).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: the repository's code

from benchmark.study.rehearsal.standins import ARCHITECTURES as ARCH  # noqa: E402 (after the path is set)

TOKENS_PER_WORD = 1.3  # WordPiece / byte-level BPE tokens per English word (about 1.3 on GLUE text)
VOCAB = 30_000  # the ids the texts use: within every model's vocabulary
TASK = "mnli"  # the longest task of the grid: pairs, 3 classes, the generator's 421 tokens
DPC = 20  # the grid's largest DPC: each evaluation run trains on DPC x classes examples

# (name, transformers config class, its arguments): the real sizes, and the tiny ones of --tiny
REAL = {
    "gpt2": ("GPT2Config", {"bos_token_id": 3, "eos_token_id": 3}),  # the id tokenizer's EOS
    "bert-base-uncased": ("BertConfig", {}),
    "roberta-base": ("RobertaConfig", {"vocab_size": 50265, "max_position_embeddings": 514, "type_vocab_size": 1,
                                       "pad_token_id": 0}),
    "bert-large-uncased": ("BertConfig", {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                                          "intermediate_size": 4096}),
    "xlnet-base-cased": ("XLNetConfig", {"vocab_size": 32000, "pad_token_id": 0}),
}
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64, "n_embd": 32,
        "n_layer": 2, "n_head": 2, "d_model": 32, "d_inner": 64}
SIZES = {  # per stage: the paper's shapes (mnli), and --tiny's
    "real": {"lm_batch": 64, "max_length": 421, "learner_length": 512, "syn": 64, "real": 100, "accum": 2,
             "learner_batch": 64, "decode_batch": 512, "decode_steps": 32, "pool": 2048, "kmeans_rows": 230_000,
             "kmeans_k": 200, "kmeans_width": 768, "steps": 3, "stack_cap": 16, "tdd_seq": 64, "tdd_real": 64},
    "tiny": {"lm_batch": 4, "max_length": 48, "learner_length": 48, "syn": 4, "real": 4, "accum": 2,
             "learner_batch": 4, "decode_batch": 8, "decode_steps": 3, "pool": 16, "kmeans_rows": 300,
             "kmeans_k": 5, "kmeans_width": 16, "steps": 1, "stack_cap": 2, "tdd_seq": 16, "tdd_real": 4},
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (the check) or cpu (with --tiny: the test)")
    parser.add_argument("--tiny", action="store_true", help="tiny widths and 1 step per stage: checks the script runs")
    parser.add_argument("--out", type=Path, default=Path("gpu-check"), help="folder for gpu-check.csv and .md")
    parser.add_argument("--only", nargs="*", default=None, help="run only these stages (names as in the table)")
    parser.add_argument("--gpu", choices=("h200", "h100", "a100"), default=None,
                        help="the rehearsal's GPU to project each step onto (default: read from the device's name)")
    args = parser.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda but no CUDA device is visible; run on a GPU machine, or use --tiny --device cpu",
              file=sys.stderr)
        return 2
    check = Check(args.device, "tiny" if args.tiny else "real", args.only, args.gpu or gpu_kind(device_name(args.device)))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        check.run(Path(scratch))
    write(check.rows, args.out, device_name(args.device), time.perf_counter() - t0)
    return 0


class Check:
    """The stages, each timed over ``steps`` steps after one warm-up step, with its peak device memory."""

    def __init__(self, device: str, size: str, only=None, gpu: str | None = None):
        self.device, self.size, self.only = device, SIZES[size], only
        self.gpu = gpu  # the rehearsal's GPU whose projection stands beside each measurement (None: not projected)
        self.tiny = size == "tiny"
        self.rng = np.random.default_rng(0)
        self.rows: list[dict] = []

    # ---- shared pieces ---------------------------------------------------------------------------
    def config(self, name: str, **extra):
        import transformers

        cls, kwargs = REAL[name]
        if self.tiny:
            kwargs = {**kwargs, **TINY, "vocab_size": VOCAB + 64}
        return getattr(transformers, cls)(**kwargs, **extra)

    def texts(self, n: int, limit: int) -> list[tuple[str, ...]]:
        """``n`` examples of the task's fields with the profile's word counts, as id strings of real token lengths
        (cut to ``limit`` tokens per field)."""
        from benchmark.tasks.glue_standins import PROFILES, QUANTILES

        fields = []
        for quantiles in PROFILES[TASK]["words"].values():
            words = np.interp(self.rng.uniform(0, 100, n), QUANTILES, quantiles)
            lengths = np.clip(np.round(words * TOKENS_PER_WORD).astype(int), 1, limit)
            fields.append([" ".join(map(str, self.rng.integers(10, VOCAB, k))) for k in lengths])
        return list(zip(*fields))

    def autocast(self):
        import torch

        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        return torch.autocast(device_type, dtype=torch.bfloat16) if not self.tiny else contextlib.nullcontext()

    def projected(self, cost) -> float | None:
        """The rehearsal's projection of one step (``costs.*`` of the real architecture on ``self.gpu``), in seconds."""
        from benchmark.study.rehearsal import costs

        return None if self.gpu is None else cost(costs, costs.GPUS[self.gpu])

    def record(self, stage: str, model: str, shape: str, steps: int, seconds: float, peak: float, projection) -> None:
        projected = None if projection is None else self.projected(projection)
        self.rows.append({"stage": stage, "model": model, "shape": shape, "steps": steps,
                          "seconds_per_step": round(seconds, 5), "projected_s_per_step":
                          None if projected is None else float(f"{projected:.3g}"), "peak_gpu_mib": round(peak, 1)})
        beside = "" if projected is None else f" (projected {projected:.4f})"
        print(f"{stage:<34} {model:<20} {shape:<44} {seconds:9.4f} s/step{beside}  peak {peak:9.1f} MiB", flush=True)

    def timed(self, stage: str, model: str, shape: str, step, steps: int | None = None, per: int = 1,
              projection=None) -> None:
        """Run ``step`` once to warm up, then ``steps`` times; record seconds per step (divided by ``per``) beside
        ``projection(costs, gpu)``, the rehearsal's model of the same step (None: the model has no per-step term)."""
        import torch

        if self.only and stage not in self.only:
            return
        steps = steps or self.size["steps"]
        cuda = self.device.startswith("cuda")
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        step()
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        if cuda:
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - t0) / steps / per
        peak = torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else float("nan")
        self.record(stage, model, shape, steps, seconds, peak, projection)

    # ---- the stages --------------------------------------------------------------------------------
    def run(self, scratch: Path) -> None:
        import torch

        torch.manual_seed(0)
        tokenizer = id_tokenizer(scratch / "tokenizer", self.size["learner_length"])
        self.dilm(tokenizer)
        torch.cuda.empty_cache() if self.device.startswith("cuda") else None
        self.tdd(tokenizer, scratch)
        for name in ("bert-base-uncased", "roberta-base", "bert-large-uncased", "xlnet-base-cased"):
            self.evaluation(name, tokenizer, scratch)
            torch.cuda.empty_cache() if self.device.startswith("cuda") else None
        self.kmeans()

    def dilm(self, tokenizer) -> None:
        """Stage 1 (packed, the paper preset, and padded), stage 2's generator and learner steps, its pool states,
        and candidate decoding at the authors' 512 rows."""
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

        from dilm.generator import Generator, class_token, decode_batch
        from dilm.gradient_matching import head_gradient, matching_loss, sample_weights
        from dilm.learner import MatchingLearner

        s, classes = self.size, 3
        tokenizer.add_special_tokens({"additional_special_tokens": [class_token(c) for c in range(classes)]})
        tokenizer.add_tokens(["<sep>"])
        lm = AutoModelForCausalLM.from_config(self.config("gpt2")).to(self.device)
        generator = Generator(lm, tokenizer, classes, pair=True)
        texts = self.texts(4 * s["lm_batch"], s["max_length"])
        labels = self.rng.integers(0, classes, len(texts))
        sequences = generator.encode(texts, list(labels), s["max_length"])
        optimizer = torch.optim.AdamW(lm.parameters(), lr=1e-5)
        batch = sequences[:s["lm_batch"]]
        lengths = sum(map(len, batch))

        def lm_step(packed: bool):
            def step():
                if packed:
                    ids, positions, targets = generator.pack(batch, s["max_length"])
                    inputs = {"input_ids": ids, "position_ids": positions}
                else:
                    ids, mask, targets = generator.pad(batch)
                    inputs = {"input_ids": ids, "attention_mask": mask}
                with self.autocast():
                    loss = lm(**inputs, labels=targets, use_cache=False).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            return step

        for packed in (True, False):
            tensor = (generator.pack(batch, s["max_length"]) if packed else generator.pad(batch))[0].shape
            self.timed(f"dilm stage 1 LM step ({'packed' if packed else 'padded'})", "gpt2",
                       f"batch {len(batch)}, {lengths} tokens in {tensor[0]}x{tensor[1]}", lm_step(packed),
                       projection=lambda c, gpu, rows=tensor[0], width=tensor[1]: c.train(
                           gpu, ARCH["gpt2"], 1, rows, width, bf16=True, lm=True).gpu_s)

        learner_model = AutoModelForSequenceClassification.from_config(
            self.config("bert-base-uncased", num_labels=classes)).to(self.device)
        learner = MatchingLearner(learner_model, tokenizer, s["learner_length"])
        learner.reset(0, 1e-4)
        real = self.texts(s["real"] * s["accum"], s["learner_length"])
        syn_ids = sequences[:s["syn"]]
        syn_texts = [generator.decode(ids) or ("1", "2") for ids in syn_ids]

        def generator_step():
            lm.train()  # the paper computes likelihoods with dropout on
            for c in range(classes):
                with self.autocast():
                    nll = generator.sequence_nll(syn_ids, s["max_length"])
                    weights = sample_weights(nll.float(), 1.0)
                    parts = [real[i:i + s["real"]] for i in range(0, len(real), s["real"])]
                    uniform = torch.full((s["real"],), 1 / s["real"], device=self.device)
                    g_real = torch.stack([head_gradient(*learner.head_inputs(p)[:2], c, uniform) for p in parts]).mean(0)
                    h, logits, _ = learner.head_inputs(syn_texts)
                    loss = matching_loss(g_real, head_gradient(h, logits, c, weights)) / classes
                loss.backward()
            lm.zero_grad(set_to_none=True)

        self.timed("dilm stage 2 generator step", "gpt2 + bert-base-uncased",
                   f"{classes} classes x ({s['syn']} syn + {s['accum']}x{s['real']} real)", generator_step)
        real_labels = list(self.rng.integers(0, classes, s["learner_batch"]))

        def learner_step():
            with self.autocast():
                learner.train_step(real[:s["learner_batch"]], real_labels)

        padded = max(len(tokenizer(*t)["input_ids"]) for t in real[:s["learner_batch"]])
        self.timed("dilm stage 2 learner step", "bert-base-uncased", f"batch {s['learner_batch']}, length <= "
                   f"{s['learner_length']}", learner_step, projection=lambda c, gpu: c.train(
                       gpu, ARCH["bert-base-uncased"], 1, s["learner_batch"], padded, bf16=True).gpu_s)
        pool = [generator.decode(ids) or ("1", "2") for ids in (sequences * 64)[:s["pool"]]]

        def pool_states():
            with self.autocast():
                learner.cls_states(pool)

        mean = float(np.mean([len(tokenizer(*t)["input_ids"]) for t in pool]))
        self.timed("dilm stage 2 pool [CLS] states", "bert-base-uncased", f"{s['pool']} samples, per sample",
                   pool_states, per=s["pool"], projection=lambda c, gpu: c.forward(
                       gpu, ARCH["bert-base-uncased"], s["pool"], mean, 128, bf16=True).gpu_s / s["pool"])
        lm.eval()
        prompt = generator.prompt(0)

        def decode():
            with torch.inference_mode(), self.autocast():
                decode_batch(lm, prompt, s["decode_batch"], len(prompt) + s["decode_steps"], generator._filters(0.95),
                             generator.eos_id)

        self.timed("candidate decoding (per decode step)", "gpt2",
                   f"{s['decode_batch']} rows, {s['decode_steps']} steps (none ends: the worst case)", decode,
                   per=s["decode_steps"], projection=lambda c, gpu: c.generate(
                       gpu, ARCH["gpt2"], s["decode_batch"], s["decode_steps"], s["decode_steps"], s["decode_batch"],
                       bf16=False).gpu_s / s["decode_steps"])
        del lm, learner, learner_model, optimizer

    def tdd(self, tokenizer, scratch: Path) -> None:
        """TDD's outer step (its inner unrolled step included) in BERT-base's space at DPC x classes sequences."""
        from transformers import AutoModel

        from benchmark.tasks.base import Examples
        from methods.tdd import PRESETS, _Optimisation

        s = self.size
        path = scratch / "tdd-bert"
        AutoModel.from_config(self.config("bert-base-uncased")).save_pretrained(path)
        tokenizer.save_pretrained(path)
        texts = self.texts(10 * DPC, 64)
        task = SimpleNamespace(num_classes=3, label_names=("entailment", "neutral", "contradiction"),
                               splits=SimpleNamespace(train=Examples(tuple(texts), np.arange(len(texts)) % 3)))
        cfg = {**vars(PRESETS["paper"]), "model": str(path), "seq_length": s["tdd_seq"],
               "real_batch_size": s["tdd_real"]}
        optimisation = _Optimisation.start(task, cfg, DPC if not self.tiny else 2, 0, self.rng, self.device)
        self.timed("tdd outer step", "bert-base-uncased", f"{3 * (DPC if not self.tiny else 2)} x {s['tdd_seq']} "
                   f"embeddings, {cfg['inner_steps']} inner step, real batch {s['tdd_real']} ({cfg['precision']})",
                   lambda: optimisation.outer_step(task.splits.train, self.rng))

    def evaluation(self, name: str, tokenizer, scratch: Path) -> None:
        """One evaluation learner's training step: stacked at the width ``run`` picks on this device (XLNet: one
        run at a time, it has no stacked path), DPC x classes examples per run, inputs cut at 512 tokens."""
        from transformers import AutoModel

        from benchmark.learners import stacked
        from benchmark.learners.transformer import TransformerClassifier
        from benchmark.tasks.base import Examples

        s = self.size
        path = scratch / name
        AutoModel.from_config(self.config(name)).save_pretrained(path)
        tokenizer.save_pretrained(path)
        n = 3 * (DPC if not self.tiny else 2)
        test = Examples(tuple(self.texts(8, s["learner_length"])), np.arange(8) % 3)
        precision = "fp32" if self.tiny else "bf16"

        def learner(steps: int):
            return TransformerClassifier(str(path), steps=steps, max_length=s["learner_length"], device=self.device,
                                         precision=precision)

        config = self.config(name)
        if stacked.supports(config):
            width = learner(1).stack_width(s["stack_cap"], n)
            trains = [Examples(tuple(self.texts(n, s["learner_length"])), np.arange(n) % 3) for _ in range(width)]
            seeds = list(range(width))
            stage, shape = "evaluation stacked step", f"width {width}, batch {min(64, n)} per run"

            def run(steps):
                return lambda: stacked.fit_predict_stacked(learner(steps), str(path), trains, test, 3, seeds,
                                                           self.device)
        else:
            train = Examples(tuple(self.texts(n, s["learner_length"])), np.arange(n) % 3)
            stage, shape = "evaluation step (one run)", f"batch {min(64, n)}"

            def run(steps):
                return lambda: learner(steps).fit_predict(train, test, 3, 0)

        self.timed_difference(stage, name, shape, run)

    def timed_difference(self, stage: str, model: str, shape: str, run, projection=None) -> None:
        """A fine-tune's seconds per step: the time of a run of 1 + k steps less that of a run of 1 step, over k (the
        load, setup and prediction cancel); the peak memory of the longer run."""
        import torch

        if self.only and stage not in self.only:
            return
        k = 1 if self.tiny else 4
        cuda = self.device.startswith("cuda")
        times = []
        for steps in (1, 1 + k):
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            run(steps)()
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        seconds = max(times[1] - times[0], 0.0) / k
        peak = torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else float("nan")
        self.record(stage, model, shape, k, seconds, peak, projection)

    def kmeans(self) -> None:
        """The torch k-means at the largest class of the grid (QQP's 230k rows, k = 200 coreset centers, BERT-base
        width): k-means++ with 1 Lloyd iteration, and with 6; a Lloyd iteration is their difference over 5."""
        from dilm.kmeans import kmeans

        s = self.size
        rows = self.rng.normal(size=(s["kmeans_rows"], s["kmeans_width"])).astype(np.float32)
        shape = f"{s['kmeans_rows']} x {s['kmeans_width']}, k {s['kmeans_k']}"
        for iterations in (1, 6):
            self.timed(f"k-means++ init + {iterations} Lloyd iteration(s)", "torch k-means", shape,
                       lambda: kmeans(rows, s["kmeans_k"], 0, self.device, max_iter=iterations), steps=1)
        if len(self.rows) >= 2 and self.rows[-1]["stage"].startswith("k-means++ init + 6"):
            one, six = self.rows[-2], self.rows[-1]
            per_iteration = max(six["seconds_per_step"] - one["seconds_per_step"], 0.0) / 5
            self.rows.append({**six, "stage": "k-means Lloyd iteration (the two above)", "steps": 5,
                              "seconds_per_step": round(per_iteration, 5)})
            print(f"{self.rows[-1]['stage']:<34} {self.rows[-1]['seconds_per_step']:9.4f} s/step", flush=True)


def id_tokenizer(path: Path, max_length: int):
    """A fast word-level tokenizer whose words are token ids ("17 2048 ..." -> 17, 2048), with BERT's
    ``[CLS] a [SEP] b [SEP]`` template: texts of any token length, for any of the models, without a hub."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, **{str(i): i for i in range(4, VOCAB)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                        sep_token="[SEP]", eos_token="[SEP]", model_max_length=max_length)
    tokenizer.save_pretrained(path)
    return tokenizer


def gpu_kind(name: str) -> str | None:
    """The rehearsal's GPU (``costs.GPUS``) a device's name is, if any: its projections stand beside the measurements."""
    return next((kind for kind in ("h200", "h100", "a100") if kind in name.lower()), None)


def device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"


def write(rows: list[dict], out: Path, device: str, seconds: float) -> None:
    import pandas as pd
    import torch
    import transformers

    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=["stage", "model", "shape", "steps", "seconds_per_step", "projected_s_per_step",
                                        "peak_gpu_mib"])
    frame.to_csv(out / "gpu-check.csv", index=False)
    lines = [f"# GPU check: {device}", "",
             f"torch {torch.__version__}, transformers {transformers.__version__}; {seconds:.0f} s in all; "
             f"random-init real-size models, bf16 autocast (TDD included), MNLI lengths "
             f"({TOKENS_PER_WORD} tokens a word of the stand-in profile). `projected_s_per_step`: the rehearsal's model of the "
             "same step (`benchmark/study/rehearsal/costs.py`) on the GPU named by `--gpu` or the device; blank where the "
             "model has no per-step term (its stage is projected as a whole in the rehearsal's table)", "",
             "| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    (out / "gpu-check.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out / 'gpu-check.csv'} and {out / 'gpu-check.md'} ({seconds:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
