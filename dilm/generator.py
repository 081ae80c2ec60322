"""The label-conditioned generator: any Hugging Face causal LM with one BOS token per class.

A training string is ``<bos_y> s1 [<sep> s2] <eos>``: the class BOS tokens (added as special tokens,
initialised from the model's own BOS/EOS embedding) condition generation on the label; ``<sep>`` (a
normal token) joins the two texts of a pair task; EOS is a target and padding is masked (-100).

When the model has a BOS token of its own, distinct from EOS (SmolLM2, Llama), it goes first:
``<bos> <bos_y> ...``. Such models treat their first position as an attention sink whose content is
nearly ignored, so a class token there barely conditions anything (measured: SmolLM2 after 150 LM steps,
first-token distributions of the two classes 0.04 apart in L1, samples 52% on-label). GPT-2, whose BOS is
its EOS, keeps the paper's format.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

log = logging.getLogger("dilm.generator")

SEP = "<sep>"
# The sample format's version: part of every cache key and fit cell id built on a generator, so a change
# of format never reuses generators or cells made with an older one (2: the model's BOS before the class token).
FORMAT_VERSION = 2
PROMPTS_FILE = "dilm_prompts.json"  # a saved generator's class prompts (null: class tokens)


def class_token(label: int) -> str:
    return f"<bos_{label}>"


class GenerationError(RuntimeError):
    """Sampling could not produce enough valid samples within the retry budget."""


class Generator:
    """A causal LM + tokenizer + the class/separator tokens; encodes, scores and samples label-conditioned text."""

    def __init__(self, model, tokenizer, num_classes: int, pair: bool, prompts: tuple[str, ...] | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.num_classes = num_classes
        self.pair = pair
        self.prompts = tuple(prompts) if prompts else None
        self.class_ids = ([] if self.prompts else
                          [tokenizer.convert_tokens_to_ids(class_token(c)) for c in range(num_classes)])
        self.sep_id = tokenizer.convert_tokens_to_ids(SEP) if pair else None
        self.eos_id = tokenizer.eos_token_id
        bos = tokenizer.bos_token_id
        self.prefix = [bos] if bos is not None and bos != self.eos_id else []
        self._prompts = [self.prefix + (tokenizer(self.prompts[c], add_special_tokens=False)["input_ids"] if self.prompts
                                        else [self.class_ids[c]]) for c in range(num_classes)]

    def prompt(self, label: int) -> list[int]:
        """The tokens a sample of class ``label`` starts with: [model BOS] + its class token, or + its text prompt
        (``prompts``: e.g. "negative: ", words the pretrained model already reads)."""
        return self._prompts[label]

    def prompt_length(self, sequence: list[int]) -> int:
        """How many leading tokens of ``sequence`` are its prompt (given, never predicted)."""
        for prompt in sorted(self._prompts, key=len, reverse=True):
            if sequence[:len(prompt)] == prompt:
                return len(prompt)
        raise ValueError("the sequence starts with no class prompt of this generator")

    # ---- construction and persistence -------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str, num_classes: int, pair: bool, device: str = "cpu",
                        class_token_init: str = "bos", label_names: tuple[str, ...] | None = None,
                        prompts: tuple[str, ...] | None = None) -> "Generator":
        """Load a causal LM and add the class BOS tokens (unless ``prompts`` gives each class a text prompt instead)
        and ``<sep>`` for pair tasks, if not there yet; a saved generator brings its prompts along.

        ``class_token_init``: ``bos`` copies the model's BOS/EOS embedding into every class token (the paper);
        ``label_name`` uses the mean embedding of the label name's tokens (e.g. " negative"), so the classes
        start apart and conditioning needs far fewer LM steps (for small CPU budgets)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, use_kernels=False)  # plain torch layers, not Hub kernels
        if tokenizer.eos_token is None:
            raise ValueError(f"generator {path} has no EOS token; DiLM needs one as the end-of-sample target")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        saved = Path(path) / PROMPTS_FILE
        if prompts is None and saved.is_file():
            prompts = tuple(json.loads(saved.read_text(encoding="utf-8"))["prompts"] or ()) or None
        old = model.get_input_embeddings().weight.shape[0]
        if pair and tokenizer.convert_tokens_to_ids(SEP) in (None, tokenizer.unk_token_id):
            tokenizer.add_tokens([SEP])
        wanted = [class_token(c) for c in range(num_classes)]
        new_class_tokens = not prompts and tokenizer.convert_tokens_to_ids(wanted[0]) in (None, tokenizer.unk_token_id)
        if new_class_tokens:
            tokenizer.add_special_tokens({"additional_special_tokens": wanted})
        if len(tokenizer) > old:
            model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
            sources = []
            if new_class_tokens:
                source_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
                if class_token_init == "bos":
                    sources = [[source_id]] * num_classes
                elif class_token_init == "label_name" and label_names:
                    sources = [tokenizer(" " + name, add_special_tokens=False)["input_ids"] for name in label_names]
                else:
                    raise ValueError(f"class_token_init must be 'bos' or 'label_name' (with label names), "
                                     f"got {class_token_init!r}")
            ids = [tokenizer.convert_tokens_to_ids(t) for t in wanted] if new_class_tokens else []
            _init_new_rows(model, ids, sources, old)
        return cls(model.to(device), tokenizer, num_classes, pair, prompts)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        (directory / PROMPTS_FILE).write_text(json.dumps({"prompts": self.prompts}), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, num_classes: int, pair: bool, device: str = "cpu") -> "Generator":
        return cls.from_pretrained(str(directory), num_classes, pair, device)

    @property
    def device(self):
        return next(self.model.parameters()).device

    # ---- encoding and scoring ---------------------------------------------------------------------
    def encode(self, texts: list[tuple[str, ...]], labels: list[int], max_length: int) -> list[list[int]]:
        """Token ids of ``<bos_y> s1 [<sep> s2] <eos>`` fitting ``max_length``: a single text is cut at its end; a
        pair loses tokens from the end of its longer sentence first, so ``<sep>`` and both sentences stay."""
        out = []
        for text, label in zip(texts, labels):
            prompt = self.prompt(int(label))
            room = max_length - 1 - len(prompt)
            first = self.tokenizer(text[0], add_special_tokens=False)["input_ids"]
            if self.pair:
                second = self.tokenizer(text[1], add_special_tokens=False)["input_ids"]
                first, second = _longest_first(first, second, room - 1)
                body = first + [self.sep_id] + second
            else:
                body = first[:room]
            out.append(prompt + body + [self.eos_id])
        return out

    def pad(self, sequences: list[list[int]]):
        """(input_ids, attention_mask, labels) tensors: right padding; pad positions and the prompt (model BOS,
        class token or text prompt: given, never predicted) masked with -100."""
        import torch

        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for i, s in enumerate(sequences):
            ids[i, :len(s)] = torch.as_tensor(s)
            mask[i, :len(s)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        for i, s in enumerate(sequences):
            labels[i, :self.prompt_length(s)] = -100
        return ids.to(self.device), mask.to(self.device), labels.to(self.device)

    def pack(self, sequences: list[list[int]], width: int):
        """(input_ids, position_ids, labels) tensors of ``sequences`` laid end to end in rows of at most ``width``
        tokens (``packed_layout``). Positions restart at each sequence, and from them transformers builds a causal mask
        that keeps attention within a sequence (only without a cache: call the model with ``use_cache=False``);
        labels are masked as in ``pad``, so the loss is ``pad``'s."""
        return self._packed(sequences, width)[:3]

    def _packed(self, sequences: list[list[int]], width: int):
        """``pack``'s tensors and, per position, the index of the sequence it holds (-1 for the rows' padding)."""
        import torch

        rows = packed_layout([len(s) for s in sequences], width)
        used = max(sum(len(sequences[i]) for i in row) for row in rows)
        ids = torch.full((len(rows), used), self.tokenizer.pad_token_id, dtype=torch.long)
        positions = torch.zeros((len(rows), used), dtype=torch.long)
        labels = torch.full((len(rows), used), -100, dtype=torch.long)
        owners = torch.full((len(rows), used), -1, dtype=torch.long)
        for r, row in enumerate(rows):
            start = 0
            for i in row:
                s, end = sequences[i], start + len(sequences[i])
                ids[r, start:end] = torch.as_tensor(s)
                positions[r, start:end] = torch.arange(len(s))
                labels[r, start + self.prompt_length(s):end] = torch.as_tensor(s[self.prompt_length(s):])
                owners[r, start:end] = i
                start = end
            positions[r, start:] = torch.arange(used - start)  # the row's padded tail: a segment of its own
        return ids.to(self.device), positions.to(self.device), labels.to(self.device), owners.to(self.device)

    def sequence_nll(self, sequences: list[list[int]], packed_width: int | None = None):
        """Per-sample NLL: summed over the sample's target tokens (after its prompt, EOS included), divided by
        the padded length shared by the batch (the paper's generation loss). Differentiable. ``packed_width``: the
        samples laid end to end in rows of that many tokens (``pack``) instead of padded; the same NLLs."""
        import torch.nn.functional as F

        if packed_width is not None:
            return self._packed_nll(sequences, packed_width)
        ids, mask, labels = self.pad(sequences)
        logits = self.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        targets = labels[:, 1:]
        nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="none")
        return nll.sum(1) / targets.shape[1]

    def _packed_nll(self, sequences: list[list[int]], width: int):
        import torch
        import torch.nn.functional as F

        ids, positions, labels, owners = self._packed(sequences, width)
        logits = self.model(input_ids=ids, position_ids=positions, use_cache=False).logits[:, :-1].float()
        targets, owners = labels[:, 1:], owners[:, 1:]
        nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="none")
        kept = targets != -100
        sums = torch.zeros(len(sequences), dtype=nll.dtype, device=nll.device).index_add(0, owners[kept], nll[kept])
        return sums / (max(len(s) for s in sequences) - 1)

    # ---- sampling ---------------------------------------------------------------------------------
    def sample_ids(self, label: int, n: int, max_length: int, top_p: float, seed: int,
                   batch_size: int = 64, stats: dict | None = None) -> list[list[int]]:
        """``n`` token sequences ``[<bos>] <bos_label> ... [<eos>]`` by nucleus sampling (no top-k); every
        class token is banned after the prompt, so a sample never switches label. Seeded: the same sequences as
        Hugging Face's ``generate`` draws for the seed (``decode_batch``). ``stats`` (if given) adds up the decode
        steps and the token rows computed (``rows``) against what ``generate`` computes (``padded_rows``)."""
        import torch

        torch.manual_seed(seed)
        out: list[list[int]] = []
        self.model.eval()
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                out.extend(decode_batch(self.model, self.prompt(label), min(batch_size, n - start), max_length,
                                        self._filters(top_p), self.eos_id, stats))
        return out

    def _filters(self, top_p: float) -> list:
        """The logits processors ``generate`` applied, in its order: class tokens suppressed, then the nucleus."""
        from transformers.generation.logits_process import SuppressTokensLogitsProcessor, TopPLogitsWarper

        filters = [SuppressTokensLogitsProcessor(list(self.class_ids), device=self.device)] if self.class_ids else []
        nucleus_args = nucleus(top_p, self.device)
        filters.extend(nucleus_args.get("logits_processor") or [])
        if nucleus_args["top_p"] < 1.0:
            filters.append(TopPLogitsWarper(nucleus_args["top_p"]))
        return filters

    def decode(self, ids: list[int]) -> tuple[str, ...] | None:
        """The text fields of one sample (class token and EOS removed). A pair sample is split at ``<sep>``: its
        first two parts, as in the authors' code (a third part is dropped); None when it has no ``<sep>`` or an
        empty first or second part (the caller rejects and resamples it)."""
        start = self.prompt_length(ids)
        body = ids[start:-1] if len(ids) > start and ids[-1] == self.eos_id else ids[start:]
        text = self.tokenizer.decode(body, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        if not self.pair:
            return (text.strip(),)
        parts = text.split(SEP)
        if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
            return None
        return (parts[0].strip(), parts[1].strip())

    def sample_texts(self, label: int, n: int, max_length: int, top_p: float, seed: int, max_retries: int,
                     batch_size: int = 64) -> tuple[list[tuple[str, ...]], list[list[int]]]:
        """``n`` valid samples (texts and their token ids) of class ``label``; invalid (pair samples without
        a separator, empty texts) are rejected and resampled, at most ``max_retries`` rounds. A resampling round
        draws the missing count divided by the acceptance rate seen so far (at most 8x), so a generator that
        rejects half its samples needs about two rounds, not log2(n)."""
        texts: list[tuple[str, ...]] = []
        ids: list[list[int]] = []
        rejected = 0
        for attempt in range(max_retries + 1):
            need = n - len(texts)
            if need <= 0:
                break
            rate = len(texts) / (len(texts) + rejected) if attempt else 1.0
            draw = need if attempt == 0 else min(8 * need, math.ceil(1.2 * need / max(rate, 1 / 8)))
            for seq in self.sample_ids(label, draw, max_length, top_p, seed + 7919 * attempt, batch_size):
                decoded = self.decode(seq)
                if decoded is None or not all(decoded):
                    rejected += 1
                    continue
                texts.append(decoded)
                ids.append(seq)
        if len(texts) < n:
            raise GenerationError(
                f"only {len(texts)} of {n} samples of class {label} were valid after {max_retries} resampling "
                f"rounds ({rejected} rejected{': pair samples need one <sep>' if self.pair else ': empty text'}); "
                f"train the generator longer (lm_steps) or raise max_retries")
        if rejected:
            log.info("class %d: %d sample(s) rejected and resampled", label, rejected)
        return texts[:n], ids[:n]


def nucleus(top_p: float, device: str) -> dict:
    """``generate``'s top-p arguments: on the CPU, the same filter computed from NumPy sorts of the scores' values
    (a 64 x 50k batch: ~0.035 s a token on 2 threads, against ~0.3 s for PyTorch's CPU sort with its indices);
    elsewhere Hugging Face's own."""
    if str(device) != "cpu" or top_p >= 1.0:
        return {"top_p": top_p}
    from transformers import LogitsProcessorList

    return {"top_p": 1.0, "logits_processor": LogitsProcessorList([_numpy_sorted_top_p(top_p)])}


def _sorted_rows(values: np.ndarray) -> np.ndarray:
    """Each row sorted ascending, the rows split over PyTorch's CPU threads (NumPy sorts without the GIL)."""
    import torch
    from concurrent.futures import ThreadPoolExecutor

    parts = [p for p in np.array_split(np.arange(len(values)), max(1, torch.get_num_threads())) if len(p)]
    if len(parts) == 1:
        return np.sort(values, axis=-1)
    out = np.empty_like(values)

    def sort_part(rows):
        out[rows[0]:rows[-1] + 1] = np.sort(values[rows[0]:rows[-1] + 1], axis=-1)

    with ThreadPoolExecutor(len(parts)) as pool:
        list(pool.map(sort_part, parts))
    return out


def _numpy_sorted_top_p(top_p: float):
    """Hugging Face's ``TopPLogitsWarper`` with the same arithmetic (so the same tokens are kept and drawn), without
    its index sort: the removed tokens are an ascending prefix of the sorted scores, so sorting the values alone gives
    the prefix's last value, and a token is removed when its score is below that value, or equal to it when the whole
    tie lies in the prefix. A row whose tie straddles the edge (the index order decides there) takes the index sort."""
    import torch
    from transformers.generation.logits_process import TopPLogitsWarper

    class NumpySortedTopP(TopPLogitsWarper):
        def __call__(self, input_ids, scores):
            values = scores.detach().float().numpy()
            sorted_logits = torch.from_numpy(_sorted_rows(values)).to(scores.dtype)
            remove = sorted_logits.softmax(dim=-1).cumsum(dim=-1) <= (1 - self.top_p)
            remove[..., -self.min_tokens_to_keep:] = False
            m = remove.sum(dim=-1)
            edge = sorted_logits.gather(-1, (m - 1).clamp(min=0).unsqueeze(-1))
            mask = (scores <= edge) & (m > 0).unsqueeze(-1)
            for row in torch.nonzero(mask.sum(dim=-1) != m).flatten().tolist():  # a tie straddles the edge
                order = torch.from_numpy(np.argsort(values[row]))
                mask[row] = torch.zeros_like(mask[row]).scatter(0, order, remove[row])
            return scores.masked_fill(mask, self.filter_value)

    return NumpySortedTopP(top_p)


COMPACT_SHARE = 0.25  # finished rows are dropped from the batch and its KV cache once they are this share of it


def decode_batch(model, prompt: list[int], size: int, max_length: int, filters: list, eos_id: int,
                 stats: dict | None = None) -> list[list[int]]:
    """``size`` samples of ``prompt`` (up to and including their first EOS, at most ``max_length`` tokens), drawing
    exactly the tokens ``generate(do_sample=True)`` draws under the same RNG state, on less work: finished rows leave
    the batch and the KV cache (in batches, once they are ``COMPACT_SHARE`` of it), and the cache is written in place into
    buffers sized for ``max_length`` instead of being concatenated (copied whole) at every step.

    Same tokens: ``torch.multinomial(probs, 1)`` is ``argmax(probs / q)`` with ``q ~ Exp(1)`` drawn for the whole
    (batch, vocabulary) tensor, so each step draws ``q`` for all ``size`` rows, as ``generate`` does, and the live rows
    read their own rows of it; the steps stop when every row has ended, where ``generate`` stops."""
    import torch

    device = next(model.parameters()).device
    rows = [list(prompt) for _ in range(size)]
    present = torch.arange(size, device=device)  # the sample each batch row belongs to
    finished = torch.zeros(size, dtype=torch.bool, device=device)  # per batch row
    inputs = torch.tensor([prompt] * size, dtype=torch.long, device=device)
    cache = preallocated_cache(max_length)
    length, steps, computed = len(prompt), 0, 0
    for _ in range(max_length - len(prompt)):
        mask = torch.ones((len(present), length), dtype=torch.long, device=device)
        logits = model(input_ids=inputs, attention_mask=mask, cache=cache, use_cache=True).logits
        scores = logits[:, -1, :].to(dtype=torch.float32)
        for f in filters:
            scores = f(None, scores)
        probs = scores.softmax(dim=-1)
        noise = torch.empty((size, probs.shape[-1]), dtype=probs.dtype, device=device).exponential_(1)
        tokens = (probs / noise[present]).argmax(dim=-1)
        steps, computed, length = steps + 1, computed + len(present), length + 1
        live = ~finished
        for row, token in zip(present[live].tolist(), tokens[live].tolist()):
            rows[row].append(token)
        finished |= tokens == eos_id
        if bool(finished.all()):
            break
        if int(finished.sum()) >= COMPACT_SHARE * len(present):
            keep = torch.nonzero(~finished).flatten()
            cache.batch_select_indices(keep)
            present, tokens, finished = present[keep], tokens[keep], finished[keep]
        inputs = tokens.masked_fill(finished, eos_id)[:, None]  # a finished row still present reads EOS, unused
    if stats is not None:
        stats["steps"] = stats.get("steps", 0) + steps
        stats["rows"] = stats.get("rows", 0) + computed
        stats["padded_rows"] = stats.get("padded_rows", 0) + steps * size
        stats["tokens"] = stats.get("tokens", 0) + sum(len(r) - len(prompt) for r in rows)
    return rows


def preallocated_cache(capacity: int):
    """A ``DynamicCache`` whose layers keep keys and values in buffers of ``capacity`` positions, filled in place: a
    step writes its token's states and the attention reads a view, where ``DynamicLayer`` concatenates (copies) the
    whole cache each step."""
    from functools import partial

    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    class PreallocatedLayer(DynamicLayer):
        def __init__(self, capacity: int):
            super().__init__()
            self.capacity, self.filled = capacity, 0

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                import torch

                self.device, self.is_initialized = key_states.device, True
                shape = (*key_states.shape[:2], self.capacity, key_states.shape[-1])
                self._keys = torch.empty(shape, dtype=key_states.dtype, device=self.device)
                self._values = torch.empty(shape[:3] + value_states.shape[-1:], dtype=value_states.dtype,
                                           device=self.device)
            end = self.filled + key_states.shape[-2]
            self._keys[:, :, self.filled:end] = key_states
            self._values[:, :, self.filled:end] = value_states
            self.filled = end
            self.keys, self.values = self._keys[:, :, :end], self._values[:, :, :end]
            return self.keys, self.values

        def batch_select_indices(self, indices) -> None:
            if self.is_initialized:
                self._keys, self._values = self._keys[indices], self._values[indices]
                self.keys, self.values = self._keys[:, :, :self.filled], self._values[:, :, :self.filled]

    cache = DynamicCache()
    cache.layer_class_to_replicate = partial(PreallocatedLayer, capacity)
    return cache


def _longest_first(first: list[int], second: list[int], room: int) -> tuple[list[int], list[int]]:
    """Cut the longer of two token lists, one token at a time from its end, until both fit ``room`` (each keeps at
    least one token when ``room`` allows)."""
    excess = len(first) + len(second) - room
    if excess <= 0:
        return first, second
    a, b = len(first), len(second)
    for _ in range(excess):
        if a >= b and a > 1:
            a -= 1
        elif b > 1:
            b -= 1
        else:
            a -= 1
    return first[:max(a, 0)], second[:max(b, 0)]


def _init_new_rows(model, class_ids: list[int], sources: list[list[int]], old_rows: int) -> None:
    """Class token c's row is the mean of the rows ``sources[c]`` (input and, when untied, output embeddings);
    other new rows (``<sep>``) get the mean embedding."""
    import torch

    with torch.no_grad():
        for matrix in {id(m): m for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m is not None}.values():
            weight = matrix.weight
            mean = weight[:old_rows].mean(0)
            for row in range(old_rows, weight.shape[0]):
                weight[row] = weight[sources[class_ids.index(row)]].mean(0) if row in class_ids else mean


def seeds_for(entropy, n: int) -> list[int]:
    """``n`` independent 31-bit seeds derived from ``entropy`` (an int or a tuple of ints)."""
    entropy = list(entropy) if isinstance(entropy, (tuple, list)) else [int(entropy)]
    return [int(s) & 0x7FFFFFFF for s in np.random.SeedSequence(entropy).generate_state(n)]


def pack_rows(lengths: list[int], width: int) -> list[list[int]]:
    """Indices of sequences grouped into rows of at most ``width`` tokens: first fit, longest first (a sequence
    longer than ``width`` gets a row of its own). Deterministic: ties keep their input order."""
    rows, room = [], []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        slot = next((r for r, free in enumerate(room) if free >= lengths[i]), None)
        if slot is None:
            rows.append([i])
            room.append(width - lengths[i])
        else:
            rows[slot].append(i)
            room[slot] -= lengths[i]
    return rows


def packed_layout(lengths: list[int], width: int) -> list[list[int]]:
    """The rows to pack a batch into: rows as wide as its longest sequence (never more tokens than padding the
    batch) or ``width`` wide, whichever makes the smaller tensor (rows x the fullest row)."""
    layouts = [pack_rows(lengths, w) for w in (max(lengths), max(width, max(lengths)))]
    return min(layouts, key=lambda rows: len(rows) * max(sum(lengths[i] for i in row) for row in rows))
