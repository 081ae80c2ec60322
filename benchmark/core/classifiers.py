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


def pretrained_classifiers(path: str, num_labels: int, seeds: list[int], pad_id: int, **kwargs) -> list:
    """``pretrained_classifier(path, num_labels, seed, pad_id)`` for each seed, from one load: the checkpoint is read
    once and each further copy is a copy whose new weights (the head) are drawn again from its seed, as loading draws
    them (the same parameters, to the bit, as a load per seed). The copies share the checkpoint's tensors with the
    first (one model's memory, not one per seed): for a stack, which stacks them into tensors of its own, not for
    training the copies one by one."""
    import copy

    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(seeds[0])
    first, info = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=num_labels, use_kernels=False, output_loading_info=True, **kwargs)
    if first.config.pad_token_id is None:
        first.config.pad_token_id = pad_id
    drawn = set(info["missing_keys"]) | set(info.get("mismatched_keys") or ())
    models = [first]
    shared = {id(t): t for name, t in first.state_dict(keep_vars=True).items() if name not in drawn}
    for seed in seeds[1:]:
        model = copy.deepcopy(first, dict(shared))
        _redraw(model, drawn, seed)
        models.append(model)
    return models


def _redraw(model, drawn: set, seed: int) -> None:
    """Draw ``model``'s weights named in ``drawn`` again from ``seed`` the way ``from_pretrained`` initialises the
    weights a checkpoint lacks: every other tensor marked initialised, then the model's own ``initialize_weights``."""
    import torch

    for tensor in (*model.parameters(), *model.buffers()):
        tensor._is_hf_initialized = False
    for name, tensor in model.state_dict(keep_vars=True).items():
        tensor._is_hf_initialized = name not in drawn
    for module in model.modules():
        module._is_hf_initialized = False
    torch.manual_seed(seed)
    model.initialize_weights()


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
