"""In-context learning: a causal LM labels each test text with the distilled set as its demonstrations.

The paper's prompt: per demonstration one ``field: text`` line per text field, ``label: word`` and a blank
line; then the query's field lines and ``label:``. A class is predicted by the log-probability of its label
word's first token (``scoring: first_token``, the paper) or of the whole word (``full_word``). The
demonstration order is a seeded permutation (one per learner run). The shared prefix (BOS + demonstrations)
is encoded once per run and its KV cache reused by every batch of queries. Demonstrations that do not fit
the context are dropped (recorded, with a warning); the query is never dropped (a query longer than the
context alone is cut, keeping its ``label:`` line, and counted).
"""
from __future__ import annotations

import copy
import inspect
import logging
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from benchmark.core.assets import pick_device, resolve_model
from benchmark.core.errors import MissingAssetError, UsageError
from benchmark.learners import LEARNERS
from benchmark.learners.base import Learner
from benchmark.tasks.base import Examples

log = logging.getLogger("benchmark")
SCORINGS = ("first_token", "full_word")
DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class PromptFormat:
    """The paper's ICL text format for a task's text fields and label words."""

    fields: tuple[str, ...]
    label_words: tuple[str, ...]

    def body(self, text: tuple[str, ...]) -> str:
        if len(text) != len(self.fields):
            raise ValueError(f"an example has {len(text)} text field(s) but the prompt names {len(self.fields)}: "
                             f"{list(self.fields)}")
        return "".join(f"{field}: {value}\n" for field, value in zip(self.fields, text))

    def demonstration(self, text: tuple[str, ...], label: int) -> str:
        return f"{self.body(text)}label: {self.label_words[label]}\n\n"

    def prompt(self, demonstrations: Examples, order, query: tuple[str, ...]) -> str:
        """The whole prompt as text (what the token pieces below spell, piece by piece)."""
        demos = "".join(self.demonstration(demonstrations.texts[i], int(demonstrations.labels[i])) for i in order)
        return f"{demos}{self.body(query)}label:"


class InContextLearner(Learner):
    """A causal LM prompted with the distilled set (no training): the paper's ICL evaluation."""

    family = "icl"
    accepts = ("text", "empty")  # "empty": the zero-shot row
    TEST_PARAMS = {"batch_size": 8}

    def __init__(self, model: str, scoring: str = "first_token", batch_size: int = 32, max_context: int | None = None,
                 prefix_cache: bool = True, dtype: str = "float32", load_in_4bit: bool = False,
                 fields: list[str] | None = None, label_words: list[str] | None = None, device: str = "auto"):
        self.model = model
        self.scoring = scoring
        self.batch_size = batch_size
        self.max_context = max_context
        self.prefix_cache = prefix_cache
        self.dtype = dtype
        self.load_in_4bit = load_in_4bit
        self.fields = fields
        self.label_words = label_words
        self.device = device

    def for_task(self, task) -> "InContextLearner":
        """This recipe with the task's text fields and label words filled in where not given (so the record
        stores the words the prompt used)."""
        params = self.get_params()
        params["fields"] = params["fields"] or list(task.text_fields)
        params["label_words"] = params["label_words"] or list(task.label_words)
        return type(self)(**params)

    def prompt_format(self, n_fields: int) -> PromptFormat:
        if self.label_words is None:
            raise UsageError("the ICL learner needs label words: pass label_words, or bind it to a task with "
                             "for_task(task) (the runner does)")
        fields = self.fields or (["text"] if n_fields == 1 else [f"text{i + 1}" for i in range(n_fields)])
        return PromptFormat(tuple(fields), tuple(self.label_words))

    def fit_predict(self, train: Examples, test: Examples, num_labels: int, seed: int):
        """Predictions for ``test`` with ``train`` as demonstrations in a seeded order, and what was cut."""
        if self.scoring not in SCORINGS:
            raise UsageError(f"unknown ICL scoring {self.scoring!r}; choose one of {', '.join(SCORINGS)}")
        if self.dtype not in DTYPES:
            raise UsageError(f"unknown ICL dtype {self.dtype!r}; choose one of {', '.join(DTYPES)}")
        fmt = self.prompt_format(len(test.texts[0]) if len(test) else 1)
        if len(fmt.label_words) != num_labels:
            raise UsageError(f"{len(fmt.label_words)} label words {list(fmt.label_words)} for {num_labels} classes")
        tokenizer, model, device = self._load()
        pieces = PromptPieces.build(tokenizer, fmt, train, test, seed)
        context = self.max_context or getattr(model.config, "max_position_embeddings", 1024)
        fitted = pieces.fit_to(context)
        if fitted.dropped_demonstrations or fitted.truncated_queries:
            log.warning("ICL prompt over the %d-token context: dropped %d of %d demonstrations, cut %d queries",
                        context, fitted.dropped_demonstrations, len(train), fitted.truncated_queries)
        if self.scoring == "first_token":
            firsts = [c[0] for c in fitted.continuations]
            if len(set(firsts)) < len(firsts):
                raise UsageError(f"label words {list(fmt.label_words)} share a first token; use scoring: full_word")
        scores = score_queries(model, fitted, self.scoring, self.batch_size, self.prefix_cache, device)
        details = {"demonstrations_used": fitted.n_demonstrations, "demonstrations_dropped": fitted.dropped_demonstrations,
                   "queries_truncated": fitted.truncated_queries, "prefix_tokens": len(fitted.prefix),
                   "context": context}
        return scores.argmax(1), details

    def _load(self):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        device = pick_device(self.device)
        kwargs = {"dtype": getattr(torch, self.dtype)}
        if self.load_in_4bit:
            import importlib.util

            from transformers import BitsAndBytesConfig

            if importlib.util.find_spec("bitsandbytes") is None:
                raise UsageError("load_in_4bit needs the bitsandbytes package (and a CUDA GPU)")
            kwargs.update(quantization_config=BitsAndBytesConfig(load_in_4bit=True), device_map=device)
        try:
            path = resolve_model(self.model)
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, use_kernels=False, **kwargs)
        except OSError as exc:
            raise MissingAssetError(f"cannot load causal LM {self.model!r}: {str(exc).splitlines()[0][:200]}. Hub "
                                    f"models need the hub or a filled HF cache; the offline causal LM is "
                                    f"'smollm2' (learner smollm2-icl).") from None
        if not self.load_in_4bit:
            model.to(device)
        return tokenizer, model.eval(), device


@dataclass
class PromptPieces:
    """A run's prompt as token ids, piece by piece: BOS, each demonstration (in the run's order), each query,
    each class's continuation (" word"). Both scoring paths concatenate the same pieces."""

    bos: list[int]
    demonstrations: list[list[int]]
    queries: list[list[int]]
    label_line: list[int]
    continuations: list[list[int]]
    dropped_demonstrations: int = 0
    truncated_queries: int = 0

    @classmethod
    def build(cls, tokenizer, fmt: PromptFormat, train: Examples, test: Examples, seed: int) -> "PromptPieces":
        def ids(text: str) -> list[int]:
            return tokenizer(text, add_special_tokens=False)["input_ids"]

        order = np.random.default_rng(seed).permutation(len(train))
        bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
        return cls(bos, [ids(fmt.demonstration(train.texts[i], int(train.labels[i]))) for i in order],
                   [ids(fmt.body(t)) for t in test.texts], ids("label:"),
                   [ids(f" {word}") for word in fmt.label_words])

    @property
    def n_demonstrations(self) -> int:
        return len(self.demonstrations)

    @property
    def prefix(self) -> list[int]:
        return self.bos + [t for demo in self.demonstrations for t in demo]

    def query(self, i: int) -> list[int]:
        return self.queries[i] + self.label_line

    def fit_to(self, context: int) -> "PromptPieces":
        """The pieces cut to ``context`` tokens: queries longer than the context alone lose the end of their
        text (never the ``label:`` line); then trailing demonstrations go until the longest query fits."""
        tail = len(self.label_line) + max(len(c) for c in self.continuations)
        room = context - len(self.bos) - tail
        if room < 1:
            raise UsageError(f"a {context}-token context cannot hold a query: raise max_context")
        queries = [q[:room] for q in self.queries]
        truncated = sum(len(q) > room for q in self.queries)
        longest = max(map(len, queries)) if queries else 0
        demos, used = [], len(self.bos) + longest + tail
        for demo in self.demonstrations:
            if used + len(demo) > context:
                break
            demos.append(demo)
            used += len(demo)
        return PromptPieces(self.bos, demos, queries, self.label_line, self.continuations,
                            len(self.demonstrations) - len(demos), truncated)


def score_queries(model, pieces: PromptPieces, scoring: str, batch_size: int, prefix_cache: bool,
                  device: str) -> np.ndarray:
    """(n queries, n classes) log-probabilities of each class's continuation after each query's prompt.
    With ``prefix_cache`` the prefix is encoded once and its KV cache copied into every batch; without, every
    row is the whole prompt (the reference path: same ids, same positions)."""
    import torch

    n_classes = len(pieces.continuations)
    full = scoring == "full_word"
    rows = [(q, c) for q in range(len(pieces.queries)) for c in (range(n_classes) if full else [None])]
    prefix = pieces.prefix
    scores = np.zeros((len(pieces.queries), n_classes))
    # transformers 5.24 renamed the forward's past_key_values to cache: pass it under the name this version takes
    cache_kwarg = "cache" if "cache" in inspect.signature(model.base_model.forward).parameters else "past_key_values"
    with torch.inference_mode():
        cache = None
        if prefix_cache and prefix:
            cache = model(torch.tensor([prefix], device=device), use_cache=True).past_key_values
        lead = [] if cache is not None else prefix  # the ids each row carries before its query
        for start in tqdm(range(0, len(rows), batch_size), desc="icl scoring", unit="batch", leave=False,
                          disable=None):
            batch = rows[start:start + batch_size]
            tails = [pieces.query(q) + (pieces.continuations[c] if c is not None else []) for q, c in batch]
            ids = [lead + t for t in tails]
            width = max(map(len, ids))
            input_ids = torch.tensor([r + [0] * (width - len(r)) for r in ids], device=device)
            past = None
            if cache is not None:
                past = copy.deepcopy(cache)
                past.batch_repeat_interleave(len(batch))
            hidden = model.base_model(input_ids=input_ids, use_cache=past is not None, **{cache_kwarg: past}
                                      ).last_hidden_state
            # the LM head only where a score is read: after "label:" (and along the word, for full_word)
            where = [(row, len(lead) + len(pieces.query(q)) - 1, q, c) for row, (q, c) in enumerate(batch)]
            spans = [range(end, end + (len(pieces.continuations[c]) if c is not None else 1)) for _, end, _, c in where]
            picked = torch.cat([hidden[row, list(span)] for (row, *_), span in zip(where, spans)])
            logprobs = torch.log_softmax(model.get_output_embeddings()(picked).float(), dim=-1).cpu().numpy()
            at = 0
            for (_, _, q, c), span in zip(where, spans):
                if c is None:
                    scores[q] = logprobs[at, [cont[0] for cont in pieces.continuations]]
                else:
                    scores[q, c] = logprobs[at + np.arange(len(span)), pieces.continuations[c]].sum()
                at += len(span)
    return scores


LEARNERS.register("icl")(InContextLearner)


@LEARNERS.register("smollm2-icl")
class SmolLM2InContext(InContextLearner):
    """SmolLM2-135M-Instruct (offline) prompted with the distilled set: the paper's ICL evaluation on CPU."""

    def __init__(self, model: str = "smollm2", scoring: str = "first_token", batch_size: int = 32,
                 max_context: int | None = None, prefix_cache: bool = True, dtype: str = "float32",
                 load_in_4bit: bool = False, fields: list[str] | None = None, label_words: list[str] | None = None,
                 device: str = "auto"):
        super().__init__(model, scoring, batch_size, max_context, prefix_cache, dtype, load_in_4bit, fields,
                         label_words, device)
