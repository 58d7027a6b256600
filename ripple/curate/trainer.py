"""TRL's DPOTrainer with an explicit KL penalty to the base model and the sign guards
watching every few steps (imported only when tuning runs: TRL is slow to import)."""

from __future__ import annotations

import tempfile
from typing import Any


def kl_penalty(policy_logits, ref_logits, mask):
    """Mean KL(policy || reference) per masked token, in nats: the penalty added to DPO's loss."""
    import torch

    logp = torch.log_softmax(policy_logits.float(), dim=-1)
    logq = torch.log_softmax(ref_logits.float(), dim=-1)
    per_token = (logp.exp() * (logp - logq)).sum(-1)
    return (per_token * mask).sum() / mask.sum().clamp(min=1)


def _trainer_class():
    from trl import DPOTrainer

    class KLDPOTrainer(DPOTrainer):
        """DPO's loss plus kl_coef x KL(policy || base) per token of the batch's lines."""

        def __init__(self, *args, kl_coef: float = 0.0, **kwargs):
            super().__init__(*args, **kwargs)
            self.kl_coef = kl_coef

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            if not self.kl_coef:
                return loss
            import torch

            extra = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"], "use_cache": False}
            mask = inputs["completion_mask"][:, 1:].float()
            logits = model(**extra).logits[:, :-1]
            with torch.no_grad():
                ref_logits = self.ref_model(**extra).logits[:, :-1]
            penalty = kl_penalty(logits, ref_logits, mask)
            self._metrics["train"]["kl_penalty"].append(float(penalty.detach()))
            if return_outputs:
                return loss[0] + self.kl_coef * penalty, loss[1]
            return loss + self.kl_coef * penalty

    return KLDPOTrainer


def with_adapter(model, rank: int):
    """`model` with a LoRA adapter of `rank` on every linear layer but the output head (PEFT),
    only the adapter trainable; `model` itself when rank is 0."""
    if not rank:
        return model
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                                            target_modules="all-linear", task_type="CAUSAL_LM"))


def run_dpo(cfg, pairs: list[dict[str, str]], figures, watch, progress) -> tuple[Any, Any, Any, dict[str, Any]]:
    """Tune a copy of cfg.model on `pairs` (through a LoRA adapter when cfg.lora_rank);
    `figures(model, ref, tokenizer)` gives the reward, agreement and KL that `watch.check`
    judges at step 0 and every cfg.eval_every steps (its SignError ends training).
    Returns (policy, ref, tokenizer, the base's ripple.json)."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import DPOConfig

    from ripple.lm.models import load_plain

    torch.manual_seed(cfg.seed)
    base = load_plain(cfg.model)
    policy, tokenizer = with_adapter(base.model, cfg.lora_rank), base.tokenizer
    ref = load_plain(cfg.model).model.eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    policy.to(device)
    ref.to(device)

    def check(step: int, model) -> None:
        was = model.training
        model.eval()
        seen = figures(model, ref, tokenizer)
        model.train(was)
        progress(f"tuning: step {step}, reward {seen['reward']:.2f}, agreement {seen['agreement']:.0%}, "
                 f"KL {seen['kl']:.3f}", step, cfg.max_steps)
        watch.check(step, seen["reward"], seen["agreement"], seen["kl"])

    class Guard(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            check(0, model)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step % cfg.eval_every == 0 or state.global_step == cfg.max_steps:
                check(state.global_step, model)

    with tempfile.TemporaryDirectory(prefix="ripple-tune-") as scratch:
        args = DPOConfig(
            output_dir=scratch, max_steps=cfg.max_steps, per_device_train_batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate, lr_scheduler_type="constant", beta=cfg.beta, max_length=cfg.max_length,
            logging_steps=1, save_strategy="no", report_to=[], seed=cfg.seed, data_seed=cfg.seed,
            disable_tqdm=True, use_cpu=device == "cpu", dataloader_num_workers=0, bf16=False, fp16=False,
            # TRL turns it on to save GPU memory; on a CPU it recomputes every layer's forward (a third more time)
            gradient_checkpointing=False,
        )
        trainer = _trainer_class()(
            model=policy, ref_model=ref, args=args, train_dataset=Dataset.from_list(pairs),
            processing_class=tokenizer, callbacks=[Guard()], kl_coef=cfg.kl_coef,
        )
        trainer.train()
    return policy.eval(), ref, tokenizer, base.ripple_json
