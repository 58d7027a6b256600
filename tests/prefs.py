"""Synthetic runs and a synthetic person with a known taste, for the curate tests.

Each moment has one event; its candidates are of five kinds. The person's rule: a line
that names the moment's event beats a fluent generic line, which beats an off-topic one,
which beats a word loop or gibberish; a set with nothing better than off-topic is "all
bad". A share of picks is random, as people are.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from ripple.store import connect, record
from ripple.curate.sets import add_comparison, next_set

EVENTS = [
    ("Doom", "Zombieman killed"), ("Doom", "Imp killed"), ("Doom", "Shotgun picked up"),
    ("Doom", "Health pack picked up"), ("Football", "Goal by Rivers"), ("Football", "Yellow card for Okafor"),
    ("Football", "Penalty saved by Lindqvist"), ("Kart Racing", "Mario overtakes Luigi"),
    ("Kart Racing", "Banana peel hit"), ("Tetris", "Four lines cleared"), ("Chess", "Queen sacrificed"),
    ("Chess", "Checkmate on move 31"),
]
GOOD = ["{e}! What a moment that is.", "And there it is: {e}.", "{e}, and the crowd loves it!",
        "Look at that, {e} right in front of us."]
GENERIC = ["What a game we have here today.", "Things are really heating up now.", "Let's see what happens next.",
           "Both sides are giving it everything."]
OFF_TOPIC = ["The weather in the city has been lovely this spring.", "I had a bowl of soup for lunch earlier.",
             "My cousin is moving to a new flat next week.", "Traffic on the motorway was terrible this morning."]
LOOPS = ["yes yes yes yes yes yes yes yes", "go go go go go go go go go", "so so so so so so so so"]
UTILITY = {"good": 3, "generic": 1, "off-topic": 0, "loop": -1, "gibberish": -1}
KINDS = ["good", "good", "generic", "generic", "off-topic", "off-topic", "loop", "gibberish"]


def gibberish(rng: random.Random) -> str:
    letters = "bcdfghjklmnpqrstvwxz" + "aeiou" * 2
    return " ".join("".join(rng.choice(letters) for _ in range(rng.randint(3, 7))) for _ in range(rng.randint(4, 7)))


def line_of(kind: str, event: str, rng: random.Random) -> str:
    return {
        "good": lambda: rng.choice(GOOD).format(e=event),
        "generic": lambda: rng.choice(GENERIC),
        "off-topic": lambda: rng.choice(OFF_TOPIC),
        "loop": lambda: rng.choice(LOOPS),
        "gibberish": lambda: gibberish(rng),
    }[kind]()


def kind_of(text: str) -> str:
    """The kind of a line this module wrote (what the synthetic person sees)."""
    if any(e.lower() in text.lower() for _, e in EVENTS):
        return "good"
    if text in GENERIC:
        return "generic"
    if text in OFF_TOPIC:
        return "off-topic"
    if text in LOOPS:
        return "loop"
    return "gibberish"


def run_json(run_id: str, moments: int, seed: int) -> dict:
    """A run in commentary.json's shape: `moments` moments of 8 candidates each."""
    rng = random.Random(seed)
    out = []
    for i in range(moments):
        game, event = EVENTS[(seed * 7 + i) % len(EVENTS)]
        state = {"game": game, "time": float(3 * i), "scene": "", "events": [{"text": event, "time": None,
                 "kind": None}], "numbers": {"score": rng.randint(0, 99)}, "facts": [], "mode": None,
                 "intensity": None}
        kinds = KINDS[:]
        rng.shuffle(kinds)
        texts = []
        for kind in kinds:
            text = line_of(kind, event, rng)
            while text in texts:  # distinct lines, so every kind can be shown
                text = line_of(kind, event, rng) + ("!" if kind == "good" else "")
            texts.append(text)
        totals = [rng.random() for _ in texts]
        order = sorted(range(len(texts)), key=lambda j: -totals[j])
        candidates = [
            {"rank": r + 1, "index": j, "text": texts[j], "raw": texts[j] + '"', "complete": True, "new_tokens": 9,
             "total": totals[j], "scores": {"length": {"value": totals[j], "reason": "synthetic", "raw": None}}}
            for r, j in enumerate(order)
        ]
        prompt = f'A {game} match is on.\nEvent: {event}.\nCommentator: "'
        out.append({"index": i, "moment": state, "template": {"name": "play-by-play", "path": "x"}, "turns": [],
                    "prompt": prompt, "line": candidates[0]["text"], "seconds": 0.1, "candidates": candidates})
    return {"ripple": "0.1.0", "run_id": run_id, "created": "2025-01-01T00:00:00+00:00", "state_file": "synthetic",
            "config": {"sampling": {"candidates": 8}}, "model": {"name": "synthetic", "architecture": "none"},
            "moments": out}


def make_runs(out_dir: Path, runs: int = 1, moments: int = 12, seed: int = 0) -> Path:
    """Run folders with commentary.json under out_dir, recorded in out_dir/ripple.db."""
    db = out_dir / "ripple.db"
    conn = connect(db)
    for r in range(runs):
        folder = out_dir / f"run-{seed}-{r}"
        folder.mkdir(parents=True, exist_ok=True)
        data = run_json(folder.name, moments, seed * 100 + r)
        (folder / "commentary.json").write_text(json.dumps(data))
        record(conn, data, folder)
    conn.close()
    return db


def judge_all(db: Path, who: str = "alice", noise: float = 0.1, seed: int = 0, limit: int = 10_000) -> int:
    """The synthetic person judges sets until none is left; returns how many verdicts."""
    rng = random.Random(seed)
    conn = connect(db)
    n = 0
    while n < limit:
        shown = next_set(conn, who, seed=seed)
        if shown is None:
            break
        cands = shown["candidates"]
        utility = [UTILITY[kind_of(c["text"])] + rng.random() * 0.1 for c in cands]
        best = max(range(len(cands)), key=utility.__getitem__)
        if rng.random() < noise:
            best = rng.randrange(len(cands))
        chosen = None if max(utility) < 0.5 and rng.random() >= noise else cands[best]["id"]
        add_comparison(conn, shown["moment"]["id"], [c["id"] for c in cands], chosen, who)
        n += 1
    conn.close()
    return n


def small_gpt2(folder: Path, vocab_size: int = 512, seed: int = 0) -> Path:
    """A 2-layer GPT-2 with random weights and a byte-level BPE of `vocab_size` tokens
    learnt from this module's lines (any text still encodes, byte by byte). GPT-2's own
    50,257-token vocabulary makes every logit tensor 100 times larger, and on this
    project's 2-core machines those tensors, not the model, are what tuning spends its
    time on."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    corpus = [line_of(kind, event, rng) for _ in range(4) for _, event in EVENTS for kind in UTILITY]
    corpus += [f'A {game} match is on.\nEvent: {event}.\nCommentator: "' for game, event in EVENTS]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=vocab_size, min_frequency=1, special_tokens=["<|endoftext|>"],
                            show_progress=False)
    vocab = bpe.get_vocab()
    bpe.save_model(str(folder))
    merges = [tuple(line.split()) for line in (folder / "merges.txt").read_text().splitlines()[1:] if line.strip()]
    tokenizer = GPT2TokenizerFast(vocab=vocab, merges=merges, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                  unk_token="<|endoftext|>")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=256, vocab_size=len(tokenizer),
                        bos_token_id=eos, eos_token_id=eos)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder
