"""A moment and a template from ripple/prompts/ become the prompt text a model continues.

Templates are Jinja2 files. They see every field of the moment (`game`, `time`, `clock`,
`scene`, `events`, `numbers`, `facts`, `mode`, `intensity`, and `moment` itself) and
`previous`, the lines already said, so that commentary does not repeat itself.

A template is a short conversation: `[system]`, `[user]` and `[assistant]` lines start
its turns, the assistant's turns being example lines. A chat model gets the turns through
its own chat template; a plain language model (GPT-2, or one Ripple fine-tuned) gets
them as a transcript (`Commentator: "..."`). Either way the prompt ends in an open quote,
so the closing quote ends a line. A template without sections is used as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ripple.errors import InputError
from ripple.state import GENRES, MODES, Moment

TEMPLATE_SUFFIX = ".j2"
EXAMPLES_FILE = "examples.yaml"  # few-shot examples per genre and template, in prompts/
# A game's genre from a title (or a word of one) in its name, the longest that matches.
GENRE_OF_TITLE = {
    "shooter": "doom, freedoom, quake, halo, call of duty, counter-strike, cs2, cs:go, valorant, overwatch, "
               "battlefield, destiny, titanfall, rainbow six, team fortress, wolfenstein, borderlands",
    "battle-royale": "apex legends, fortnite, pubg, warzone, battle royale, fall guys",
    "sports": "fc, fifa, football, soccer, efootball, nba, 2k, madden, nhl, rocket league, tennis, golf, "
              "wii sports, basketball, hockey",
    "fighting": "street fighter, tekken, mortal kombat, smash bros, guilty gear, soulcalibur, fighterz, "
                "king of fighters",
    "racing": "mario kart, gran turismo, forza, need for speed, f1, kart, racing, trackmania",
    "moba": "league of legends, dota, smite, heroes of the storm, pokemon unite",
    "strategy": "starcraft, age of empires, civilization, hearthstone, warcraft, chess, slay the spire, xcom, "
                "command & conquer, total war, marvel snap",
    "platformer": "super mario, celeste, sonic, hollow knight, cuphead, donkey kong, rayman, crash bandicoot",
    "puzzle": "tetris, puyo, pac-man, candy crush, lumines",
    "action": "elden ring, dark souls, hades, dead cells, sekiro, bloodborne, god of war, zelda, minecraft, "
              "devil may cry, monster hunter, bayonetta",
}
TITLES_LONGEST_FIRST = sorted(((t.strip(), g) for g, titles in GENRE_OF_TITLE.items() for t in titles.split(",")),
                              key=lambda pair: -len(pair[0]))  # so 'mario kart' is found before 'kart'
GENRE_OF_EVENT = {"sports": "goal scores shot keeper penalty corner", "racing": "lap overtakes pit corner finish",
                  "fighting": "combo round ko parry", "shooter": "kill headshot frag", "moba": "tower baron dragon"}
PREVIOUS_SHOWN = 3  # earlier lines a template sees; more only lengthens the prompt


def builtin_prompts_dir() -> Path:
    """The templates and examples shipped inside the package, found through importlib.resources
    (the same in a checkout, an editable install and a wheel)."""
    from importlib.resources import files

    root = files("ripple") / "prompts"
    if not root.is_dir():
        raise InputError(str(root), "the built-in prompt templates are missing; reinstall ripple-commentary")
    return Path(str(root))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "game"


def choose_mode(moment: Moment) -> str:
    """The template a moment gets under --template auto."""
    if moment.mode:
        return moment.mode
    if moment.intensity is not None and moment.intensity >= 0.8:
        return "hype"
    if not moment.events:
        return "colour"
    return "play-by-play"


def genre_of(moment: Moment) -> str | None:
    """The moment's genre: its own `genre`, else one its game's name or its events suggest."""
    if moment.genre:
        return moment.genre
    title = f" {' '.join(moment.game.lower().replace('.', ' ').split())} "
    for name, genre in TITLES_LONGEST_FIRST:
        if f" {name} " in title:
            return genre
    said = set(re.findall(r"[a-z]+", " ".join(e.text for e in moment.events).lower()))
    return next((g for g, words in GENRE_OF_EVENT.items() if said & set(words.split())), None)


@lru_cache(maxsize=4)
def _all_examples(path: Path) -> dict:
    import yaml

    if not path.is_file():  # a prompts folder of one's own without examples: each template's own
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(str(path), f"few-shot examples cannot be read: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or set(data) - {*GENRES, "colour"}:
        raise InputError(str(path), "expected a mapping of genre (or colour) to examples")
    return data


def examples_for(moment: Moment, mode: str) -> list[dict[str, str]]:
    """The few-shot examples a template shows for `moment`: its genre's for `mode` (colour
    has one set for every genre); none where its genre is unknown (the template's own)."""
    data = _all_examples(builtin_prompts_dir() / EXAMPLES_FILE)
    if mode == "colour":
        chosen = data.get("colour", [])
    else:
        genre = genre_of(moment)
        chosen = data.get(genre, {}).get(mode, []) if genre else []
    return [{"moment": ex["moment"].replace(" Numbers:", "\nNumbers:").replace(" Facts:", "\nFacts:"),
             "line": ex["line"]} for ex in chosen]


@dataclass(frozen=True)
class Template:
    name: str  # the mode, or the file's name for a person's own template
    path: Path
    source: str


def find_template(choice: str, moment: Moment) -> Template:
    """`choice` is a mode, 'auto', or a path to a template file.

    A mode looks for prompts/<game>/<mode>.j2 first, then prompts/<mode>.j2, so a game
    can have its own wording.
    """
    if choice == "auto" or choice in MODES:
        mode = choose_mode(moment) if choice == "auto" else choice
        root = builtin_prompts_dir()
        for path in (root / slug(moment.game) / f"{mode}{TEMPLATE_SUFFIX}", root / f"{mode}{TEMPLATE_SUFFIX}"):
            if path.is_file():
                return Template(mode, path, path.read_text(encoding="utf-8"))
        raise InputError(str(root / f"{mode}{TEMPLATE_SUFFIX}"), "built-in template is missing")
    path = Path(choice)
    if not path.is_file():
        raise InputError(
            choice, "no such template file (expected auto, " + ", ".join(MODES) + " or a path to a .j2 file)"
        )
    try:
        return Template(path.stem, path, path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(str(path), "template is not UTF-8 text") from None


SECTION = re.compile(r"^\[(system|user|assistant)\][ \t]*$", re.MULTILINE)
SPEAKER = "Commentator"  # how a transcript-style prompt names the one who speaks
QUOTE = '"'


def split_turns(text: str) -> list[dict[str, str]]:
    """`[role]` sections into chat messages; no sections gives one raw 'prompt' turn."""
    parts = SECTION.split(text)
    if len(parts) == 1:
        return [{"role": "prompt", "content": text.rstrip("\n").rstrip(" ")}]
    return [{"role": role, "content": body.strip()} for role, body in zip(parts[1::2], parts[2::2])]


def to_prompt(turns: list[dict[str, str]], tokenizer=None) -> str:
    """The text a model continues: through the tokenizer's chat template when it has one."""
    if turns and turns[0]["role"] == "prompt":
        return turns[0]["content"]
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        messages = [
            {"role": t["role"], "content": f"{QUOTE}{t['content']}{QUOTE}" if t["role"] == "assistant" else t["content"]}
            for t in turns
        ]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + QUOTE
    text = ""
    for t in turns:
        if t["role"] == "assistant":
            text += f"\n{SPEAKER}: {QUOTE}{t['content']}{QUOTE}"
        else:
            text += ("\n\n" if text else "") + t["content"]
    return text + f"\n{SPEAKER}: {QUOTE}"


def render(template: Template, moment: Moment, previous: list[str]) -> list[dict[str, str]]:
    """The prompt's turns for `moment`; template mistakes become InputErrors with their line."""
    import jinja2

    # Includes resolve beside the template first, then among the built-in ones (_moment.j2).
    search = [str(template.path.parent), str(builtin_prompts_dir())]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search), undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    try:
        compiled = env.from_string(template.source)
        fields = moment.model_dump()
        fields["events"] = moment.events  # objects, so templates can write e.text
        fields["genre"] = genre_of(moment)
        text = compiled.render(
            **fields, moment=moment, clock=moment.clock(), previous=previous[-PREVIOUS_SHOWN:],
            examples=examples_for(moment, template.name),
        )
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"{template.path}:{exc.lineno}", f"template syntax error: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:
        raise InputError(str(template.path), f"template includes '{exc.name}', which is not there") from None
    except jinja2.UndefinedError as exc:
        raise InputError(str(template.path), f"template uses an unknown field: {exc.message}") from None
    turns = split_turns(text)
    if turns[0]["role"] != "prompt" and turns[-1]["role"] != "user":
        raise InputError(str(template.path), "the last section must be [user]: the moment to comment on")
    return turns
