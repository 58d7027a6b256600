"""The options several commands share, each described once: its type, its choices, its help and
the environment variable that sets it. A command gives its own default; ripple.toml sets any of
them by the option's name with underscores (`max_new_tokens = 24`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from ripple.config import DEFAULT_MODEL, DEFAULT_WEIGHTS
from ripple.config import SamplingConfig as S

MAX_SEED = 2**32 - 1  # every engine and sampler here takes an unsigned 32-bit seed

# ---- the file of settings --------------------------------------------------------------------
Config = Annotated[Optional[Path], typer.Option(
    help="Settings file (default: ripple.toml in the current folder). Flags win over it; it wins over the "
         "defaults.", envvar="RIPPLE_CONFIG", show_default=False)]

# ---- the language model -------------------------------------------------------------------------
Model = Annotated[str, typer.Option(help="Registry name (see `ripple models`), Hugging Face hub id (org/name), "
                                         "or a local model or adapter folder.", envvar="RIPPLE_MODEL")]
Precision = Annotated[Literal["auto", "fp32", "bf16", "int8"], typer.Option(
    help="auto: bf16 where the CPU computes it natively, else fp32. "
         "bf16: half the bytes per weight, fp32's lines to within rounding (CPUs with AVX512_BF16 or AMX). "
         "int8: fastest on a CPU, rougher lines.", envvar="RIPPLE_PRECISION")]
Backend = Annotated[Literal["transformers", "ctranslate2"], typer.Option(
    help="ctranslate2: the same model converted once (cached), decoded several times faster on a CPU.",
    envvar="RIPPLE_BACKEND")]
Template = Annotated[str, typer.Option(help="play-by-play, colour, hype, auto (by moment), or a template file.")]

# ---- sampling (SamplingConfig) ----------------------------------------------------------------
Candidates = Annotated[int, typer.Option(help="Candidates per moment, sampled in one batch.", max=256)]
Temperature = Annotated[float, typer.Option(help="Above 0; lower is safer, higher is wilder.")]
TopP = Annotated[float, typer.Option(help="Nucleus sampling: the probability mass sampled from, in (0, 1].")]
TopK = Annotated[int, typer.Option(help="Sample among this many most likely tokens (0: no limit).",
                                   max=1_000_000)]
RepetitionPenalty = Annotated[float, typer.Option(help="Above 1 discourages repeating tokens.")]
MaxNewTokens = Annotated[int, typer.Option(help="Token budget per candidate.", max=1024)]
Seed = Annotated[int, typer.Option(help="Same seed and inputs, same output.", min=0, max=MAX_SEED)]
Ground = Annotated[bool, typer.Option(help="Numbers the moment does not hold cannot be sampled, and its names are "
                                           "favoured; --no-ground samples freely.")]
Redraws = Annotated[int, typer.Option(help="Further batches to draw while the best candidate has a hard fault or "
                                           "names too little of what happened.")]

# ---- ranking (RankConfig) -----------------------------------------------------------------------
Weight = Annotated[Optional[list[str]], typer.Option(
    help="Scorer weight NAME=NUMBER, repeatable; 0 switches a scorer off (ripple.toml: a table, weights = "
         "{ relevance = 3 }). Defaults: " + ", ".join(f"{k}={v:g}" for k, v in DEFAULT_WEIGHTS.items()),
    show_default=False)]
RewardModel = Annotated[Optional[Path], typer.Option(help="Reward model folder for --weight reward=N "
                                                          "(default outputs/models/reward).", show_default=False)]

# ---- the voice (VoiceConfig) --------------------------------------------------------------------
Voice = Annotated[Literal["auto", "piper", "espeak-ng"], typer.Option(help="auto: piper, else espeak-ng.",
                                                                      envvar="RIPPLE_VOICE")]
Rate = Annotated[float, typer.Option(help="Speaking speed (1 = the voice's own).")]
Pitch = Annotated[float, typer.Option(help="Voice pitch (1 = its own; espeak-ng only).")]

# ---- outputs ------------------------------------------------------------------------------------
Out = Annotated[Path, typer.Option(help="Folder that holds run folders.")]
RunId = Annotated[Optional[str], typer.Option(help="Name of the run folder (default: the time and the input's "
                                                   "name).", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]

# ---- games --------------------------------------------------------------------------------------
Seconds = Annotated[float, typer.Option(help="Seconds of play.")]
GameSeed = Annotated[int, typer.Option(help="The engine's and the agent's seed: the same seed, the same game.")]
Heartbeat = Annotated[float, typer.Option(help="A quiet moment (for colour) at least every N seconds.")]


# ---- blocks of options several commands take, with their usual defaults ---------------------------
LM = {"model": (Model, DEFAULT_MODEL), "precision": (Precision, "auto"), "backend": (Backend, "transformers"),
      "template": (Template, "auto")}
SAMPLING = {"candidates": (Candidates, S.candidates), "temperature": (Temperature, S.temperature),
            "top_p": (TopP, S.top_p), "top_k": (TopK, S.top_k),
            "repetition_penalty": (RepetitionPenalty, S.repetition_penalty),
            "max_new_tokens": (MaxNewTokens, S.max_new_tokens)}
RANK = {"weight": (Weight, None), "reward_model": (RewardModel, None)}
VOICE = {"voice": (Voice, "auto"), "rate": (Rate, 1.0), "pitch": (Pitch, 1.0)}
RUN = {"out": (Out, Path("outputs")), "run_id": (RunId, None), "config": (Config, None)}
PLAY = {"seconds": (Seconds, 30.0), "seed": (GameSeed, 0), "heartbeat": (Heartbeat, 2.5)}


def with_options(*blocks: dict[str, tuple[Any, Any]], unset: bool = False, **defaults: Any) -> Callable:
    """Add the options of `blocks` to a command, after its own. The command takes them as
    **settings and reads them, like its own, from ctx.params. `defaults` override a block's;
    `unset` makes every default None (batch: "not given here, see ripple.toml")."""

    def add(command: Callable) -> Callable:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        names = {p.name for p in own}
        shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                    default=None if unset else defaults.get(name, default))
                  for block in blocks for name, (annotation, default) in block.items() if name not in names]
        command.__signature__ = signature.replace(parameters=[*own, *shared])
        return command

    return add
