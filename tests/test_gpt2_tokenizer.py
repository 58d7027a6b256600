"""The offline GPT-2 tokenizer gives the same ids as tiktoken's GPT-2 encoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from ripple.lm.gpt2_tokenizer import EOT_ID, load_gpt2_tokenizer, read_ranks, vocab_and_merges, _tiktoken_asset
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Rebuilt from tiktoken's ranks into an empty cache (about 15 s here), once for the module."""
    cache = tmp_path_factory.mktemp("cache")
    return cache, load_gpt2_tokenizer(cache)


def test_hello_world(built):
    cache, tok = built
    assert tok("Hello world")["input_ids"] == [15496, 995]
    assert tok.eos_token_id == EOT_ID and len(tok) == 50257
    assert (cache / "tokenizers" / "gpt2" / "tokenizer.json").is_file()


def test_same_ids_as_tiktoken_on_varied_text(built):
    import whisper.tokenizer

    _, tok = built
    reference = whisper.tokenizer.get_encoding("gpt2")
    text = "".join(p.read_text() for p in sorted((ROOT / "ripple").rglob("*.py")))
    text += " naïve café 😀 日本語 \t\n\n   trailing   spaces  'll 've 123456 <|endoftext|>"
    ids = tok(text)["input_ids"]
    assert ids == reference.encode(text, allowed_special="all")
    assert tok.decode(ids) == text


def test_every_merge_makes_a_token():
    vocab, merges = vocab_and_merges(read_ranks(_tiktoken_asset()))
    assert len(merges) == 50000  # 50,256 tokens less the 256 single bytes
    assert all(a + b in vocab for a, b in merges[:2000])
    assert merges[0] == ("Ġ", "t")
