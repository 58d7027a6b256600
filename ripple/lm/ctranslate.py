"""CTranslate2 as the decoding engine: the same model, converted once, decoded in C++.

On this project's 2-core machines SmolLM2-135M decodes a token in about 12 ms with
CTranslate2 at int8 on one thread, against 40-65 ms through transformers: what makes a
live line fit in under a second. The conversion (CTranslate2's own TransformersConverter)
runs once per model folder and precision and is cached beside the converted embedded
model; later loads take about a second and never build the torch model.

Candidates are sampled in one `generate_batch` call (N hypotheses of one prompt). Its
step callback gives each token's log-probability under the model (before temperature
and top-k), which is what the coherence scorer wants, so ranking needs no second pass.
CTranslate2 seeds its sampling thread once, on its first draw, so a seed fixes a whole
run (the same calls in the same order give the same candidates), not each call alone.
Prompts that begin the same way as an earlier one (a template's system text and
examples, moment after moment) pass that beginning as `static_prompt`, whose decoder
state CTranslate2 computes once and keeps.

Lanes: one Generator per lane, each with its own one-thread worker, its own sampling
thread and its own cached beginnings, so that two moments can be written at once on two
cores (narrate writes the next moment while the schedule places this one). A lane's
sampling thread is seeded on its first draw, under a lock, so each lane's calls give the
same candidates run after run whatever the other lane does meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ripple.atomic import atomic_dir
from ripple.errors import ModelError

COMPUTE_TYPES = {"fp32": "float32", "int8": "int8"}  # Ripple's precision → CTranslate2's
QUANTIZATION = {"fp32": None, "int8": "int8"}  # stored on disk as it is computed
# One thread per generation. On this project's 2-core machines two threads took twice as
# long as one (12 moments of narration: 95 s against 43-53 s): a small model's matrices at
# batch 2 gain little from a second core, and the machines are slowed as a whole when both
# cores are busy. The other core is left to the game, the encoder and the voice.
THREADS = 1
MIN_STATIC_TOKENS = 32  # a shared beginning shorter than this is not worth a cached state
STATIC_PROMPTS_KEPT = 4  # one per template in play; CTranslate2 keeps each one's state


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ctranslate2") is not None


def _fingerprint(folder: Path) -> str:
    """Changes when the folder's config or weights change (a model trained again in place)."""
    parts = [str(folder.resolve())]
    for path in sorted(folder.glob("*")):
        if path.suffix in (".json", ".safetensors", ".bin") and path.is_file():
            stat = path.stat()
            parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def converted_folder(source: Path, precision: str, cache: Path) -> Path:
    name = re.sub(r"[^\w.-]+", "-", source.name)[:40]
    return cache / "ctranslate2" / f"{name}-{_fingerprint(source)}-{precision}"


def convert(source: Path, tokenizer, precision: str, cache: Path) -> Path:
    """`source` (a Hugging Face folder) as a CTranslate2 folder, converting on first use.

    `tokenizer` is the one Ripple loads for the folder: a GPT-2 folder saved without
    tokenizer files gets the offline GPT-2 tokenizer, which CTranslate2's converter could
    not find by itself.
    """
    target = converted_folder(source, precision, cache)
    if (target / "model.bin").is_file():
        return target
    from ctranslate2.converters import TransformersConverter

    class WithTokenizer(TransformersConverter):
        def load_tokenizer(self, tokenizer_class, model_name_or_path, **kwargs):
            return tokenizer

    try:
        with atomic_dir(target) as tmp:
            WithTokenizer(str(source)).convert(str(tmp), quantization=QUANTIZATION[precision], force=True)
            (tmp / "ripple.json").write_text(json.dumps({"converted_from": str(source.resolve()),
                                                         "precision": precision}, indent=2))
    except (ValueError, NotImplementedError) as exc:  # an architecture CTranslate2 does not support
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{source}: CTranslate2 cannot convert this model ({reason[:160]}); "
                         "use --backend transformers") from exc
    return target


@dataclass
class Ct2Model:
    """A converted folder and its Generators, one per thread count asked for."""

    folder: Path
    precision: str
    generators: dict[tuple[int, int], Any] = field(default_factory=dict)  # by (threads, lane)
    statics: list[list[int]] = field(default_factory=list)  # shared beginnings in use, newest first
    recent: list[list[int]] = field(default_factory=list)  # the last prompts' ids, newest first
    seeded: set[tuple[int, int]] = field(default_factory=set)  # generators whose sampling thread drew
    lock: Any = field(default_factory=threading.Lock, repr=False)  # lanes share the state above
    seeding: Any = field(default_factory=threading.Lock, repr=False)  # held through a first draw

    def generator(self, threads: int, lane: int = 0):
        with self.lock:
            if (threads, lane) not in self.generators:
                import ctranslate2

                self.generators[threads, lane] = ctranslate2.Generator(
                    str(self.folder), device="cpu", compute_type=COMPUTE_TYPES[self.precision], intra_threads=threads)
            return self.generators[threads, lane]

    def seed_lanes(self, lanes: int, seed: int, token: str, threads: int = THREADS) -> None:
        """Load `lanes` generators and seed each one's sampling thread now, one after the
        other (a one-token draw after `token` each), so that their first real calls can
        run at once."""
        for lane in range(lanes):
            generator = self.generator(threads, lane)
            self.draw((threads, lane), seed + lane, lambda: generator.generate_batch(
                [[token]], max_length=1, sampling_topk=2, include_prompt_in_result=False))

    def draw(self, key: tuple[int, int], seed: int, call):
        """`call()`, a decoding on generator `key`. Its sampling thread is seeded on its
        first draw, from the one global seed, so that first call sets `seed` and runs under
        a lock: no other lane may set its own in between. Later calls leave the seed alone
        (setting it could reach another lane's first draw)."""
        if key in self.seeded:
            return call()
        with self.seeding:
            import ctranslate2

            ctranslate2.set_random_seed(seed)
            result = call()
            self.seeded.add(key)
            return result

    def split(self, ids: list[int], line_ends: frozenset[int]) -> tuple[list[int], list[int]]:
        """(static beginning, the rest) of a prompt. A beginning in use is reused; else the
        longest one this prompt shares with a recent prompt (the same template's system
        text and examples), cut after its last line end so that it does not take in the
        start of a moment (`Time 0:` would serve only until 0:59), becomes one. The rest
        is never empty."""
        with self.lock:
            return self._split(ids, line_ends)

    def _split(self, ids: list[int], line_ends: frozenset[int]) -> tuple[list[int], list[int]]:
        body = ids[:-1]
        static = next((s for s in self.statics if body[: len(s)] == s), None)
        if static is None:
            shared = max((len(os.path.commonprefix([body, old])) for old in self.recent), default=0)
            while shared and body[shared - 1] not in line_ends:
                shared -= 1
            if shared >= MIN_STATIC_TOKENS:
                static = body[:shared]
        self.recent = [ids, *self.recent][:STATIC_PROMPTS_KEPT]
        if static is None:
            return [], ids
        self.statics = [static, *[s for s in self.statics if s is not static]][:STATIC_PROMPTS_KEPT]
        return static, ids[len(static):]


def load(source: Path, tokenizer, precision: str, cache: Path) -> Ct2Model:
    if not available():
        raise ModelError("--backend ctranslate2 needs the ctranslate2 package: pip install ctranslate2")
    return Ct2Model(convert(source, tokenizer, precision, cache), precision)


def sample(lm, ids: list[int], stops: tuple[int, ...], line_ends: frozenset[int], sampling, seed: int,
           threads: int = THREADS, on_token=None, lane: int = 0,
           suppress: list[list[str]] | None = None) -> list[tuple[list[int], list[float]]]:
    """`sampling.candidates` continuations of `ids`: each one's token ids (ending with its
    stop token when it met one) and each token's log-probability under the model.
    `line_ends`: the tokens that hold a newline. `on_token(index, tokens, done)` hears of
    each token as it is decoded, and may stop the decoding (generate.OnToken). `lane`:
    which of the model's Generators decodes it (one call at a time per lane). `suppress`:
    token sequences that may not be completed (constraints.Guard)."""
    ct2: Ct2Model = lm.ct2
    static, rest = ct2.split(ids, line_ends)
    tokens = lm.tokenizer.convert_ids_to_tokens
    n = sampling.candidates
    made: list[list[tuple[int, float]]] = [[] for _ in range(n)]

    def step(result) -> bool:
        # The results come back sorted by score, not in hypothesis order, so each
        # candidate is read from its steps: token and log-probability together.
        steps = made[result.hypothesis_id]
        steps.append((result.token_id, result.log_prob))
        # True stops the batch (its one example, every hypothesis): only on_token asks
        # that; the end tokens end each candidate.
        return on_token is not None and bool(on_token(result.hypothesis_id, [t for t, _ in steps], result.is_last))

    generator = ct2.generator(threads, lane)

    def generate():
        generator.generate_batch(
            [tokens(rest)], static_prompt=tokens(static) if static else None, num_hypotheses=n,
            sampling_topk=sampling.top_k, sampling_topp=sampling.top_p, sampling_temperature=sampling.temperature,
            repetition_penalty=sampling.repetition_penalty, max_length=sampling.max_new_tokens,
            include_prompt_in_result=False, end_token=list(stops), return_end_token=True, return_scores=True,
            callback=step, suppress_sequences=suppress or None,
        )

    ct2.draw((threads, lane), seed, generate)
    return [([t for t, _ in steps], [lp for _, lp in steps]) for steps in made]
