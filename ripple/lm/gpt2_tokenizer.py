"""The GPT-2 tokenizer, rebuilt offline from the BPE ranks that openai-whisper ships.

`whisper/assets/gpt2.tiktoken` holds GPT-2's 50,256 byte-level tokens with their merge
ranks but not the merge list a Hugging Face tokenizer needs. Each merge is recovered by
running BPE on a token's bytes with only the lower-ranked merges: the last step joins
exactly two parts, and that pair is the merge. transformers' TikTokenConverter gets some
of these wrong, so we do it ourselves.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

from ripple.atomic import atomic_dir
from ripple.errors import RippleError

EOT_TOKEN = "<|endoftext|>"
EOT_ID = 50256  # GPT-2's only special token, right after the 50,256 BPE tokens


def _tiktoken_asset() -> Path:
    try:
        import whisper  # noqa: F401  (only its asset folder is needed)
    except ImportError as exc:
        raise RippleError(
            "the GPT-2 tokenizer is rebuilt from openai-whisper's assets: pip install openai-whisper"
        ) from exc
    import whisper

    return Path(whisper.__file__).parent / "assets" / "gpt2.tiktoken"


@lru_cache(maxsize=1)
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in character for each byte value."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def read_ranks(path: Path) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in path.read_text(encoding="ascii").splitlines():
        if line.strip():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _merge_pair(ranks: dict[bytes, int], token: bytes) -> tuple[bytes, bytes]:
    """Run BPE on `token` with merges ranked below it; the two parts left are its merge."""
    limit = ranks[token]
    parts = [bytes([b]) for b in token]
    while len(parts) > 2:
        best_rank, best_i = None, -1
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < limit and (best_rank is None or rank < best_rank):
                best_rank, best_i = rank, i
        if best_rank is None:
            break
        parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    if len(parts) != 2:
        raise ValueError(f"token {token!r} does not reduce to one merge")
    return parts[0], parts[1]


def vocab_and_merges(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    to_unicode = _bytes_to_unicode()

    def show(b: bytes) -> str:
        return "".join(to_unicode[x] for x in b)

    vocab = {show(token): rank for token, rank in ranks.items()}
    vocab[EOT_TOKEN] = EOT_ID
    merges = [
        tuple(show(p) for p in _merge_pair(ranks, token))
        for token, _ in sorted(ranks.items(), key=lambda kv: kv[1])
        if len(token) > 1
    ]
    return vocab, merges  # type: ignore[return-value]


def build_gpt2_tokenizer(target: Path) -> Path:
    """Write a GPT2TokenizerFast into `target` (atomically) and return the folder."""
    from transformers import GPT2TokenizerFast

    vocab, merges = vocab_and_merges(read_ranks(_tiktoken_asset()))
    tok = GPT2TokenizerFast(vocab=vocab, merges=merges, bos_token=EOT_TOKEN, eos_token=EOT_TOKEN, unk_token=EOT_TOKEN)
    tok.model_max_length = 1024  # GPT-2's context
    with atomic_dir(target) as tmp:
        tok.save_pretrained(tmp)
    return target


def gpt2_tokenizer_dir(cache_root: Path) -> Path:
    """The cached offline GPT-2 tokenizer folder, built on first use."""
    target = cache_root / "tokenizers" / "gpt2"
    if not (target / "tokenizer.json").exists():
        build_gpt2_tokenizer(target)
    return target


def load_gpt2_tokenizer(cache_root: Path):
    from transformers import GPT2TokenizerFast

    return GPT2TokenizerFast.from_pretrained(gpt2_tokenizer_dir(cache_root))
