"""The language model: loading (models), the two backends (transformers, and CTranslate2 in
ctranslate), sampling with a shared KV cache (sampling), decoding constraints (constraints),
prompts (prompting), fine-tuning (train) and evaluation (evaluate)."""
