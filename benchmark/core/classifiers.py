"""Pretrained sequence classifiers and their tokenizers, loaded quietly: shared by the fine-tuned learners, their
stacked runs and TDD (which trains one as its learner), so none of them imports another's implementation."""
from __future__ import annotations

from benchmark.core.assets import resolve_model


def load_tokenizer(path: str):
    """The checkpoint's tokenizer; decoder LMs (GPT-2, Llama) have no pad token, so they pad with EOS."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def pretrained_classifier(path: str, num_labels: int, seed: int, pad_id: int, **kwargs):
    """The pretrained checkpoint with a fresh classification head drawn from ``seed`` (the same head for the
    same seed on every path); a config without a pad id gets ``pad_id``. Like every model load of the project it
    passes ``use_kernels=False``: transformers 5.25 swaps Hub kernels in by default, which changes the numbers and
    cannot kernelize the meta-device template of a stacked run."""
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels, use_kernels=False, **kwargs)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = pad_id
    return model


def load_classifier(model_name: str, num_labels: int, device: str, seed: int):
    """Tokenizer and a pretrained classifier with a fresh head drawn from ``seed``, in eval mode (dropout off),
    with eager attention (so attention maps can be returned, as embedding-level sets with attention labels need)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    path = resolve_model(model_name)
    tokenizer = load_tokenizer(path)
    model = pretrained_classifier(path, num_labels, seed, tokenizer.pad_token_id, attn_implementation="eager")
    return tokenizer, model.to(device).eval()
