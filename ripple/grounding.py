"""What a moment supports, and what a line says that it does not.

A commentary line is only as good as it is true: it should name what happened (an
event's entity, action or number) and hold no number, name or other game that the moment
(its events, scene, numbers, facts, game, and the lines already said) does not give.
`Grounding.of(moment, previous)` gathers what the moment supports once; `check(line)`
reads one line against it. The faithfulness scorer ranks with it, the decoders constrain
number tokens with `supported_numbers`, and bench/quality.py counts with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from ripple.state import Moment, field_words

UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i >= 2}
SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
ORDINALS = {w: i + 3 for i, w in enumerate(
    "third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split())}
# "one" ("this one", "one more") and "first"/"second" (a unit of time) are idioms far more
# often than counts: reading them as numbers would fault good lines.
IDIOMS = frozenset({"zero", "one", "first", "second"})
NUMBER_WORDS = {**UNITS, **TENS, **SCALES, **ORDINALS}
COUNTED_WORDS = frozenset(NUMBER_WORDS) - IDIOMS  # the words a decoder may be kept from writing

DIGITS = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(k\b|%)?", re.IGNORECASE)
WORD_RUN = re.compile(r"\b(?:(?:" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")(?:[\s-]+|\b))+",
                      re.IGNORECASE)
TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9']*")
FIELD_LIKE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+%?|\b[A-Za-z]+%")
SENTENCE_START = re.compile(r"(?:^|[.!?…:;\"“(—-])\s*$")

# Words that say nothing about what happened, however often events use them.
GENERIC = frozenset(
    "the a an and or of to in on at for with is are was were be been it its this that his her their they "
    "he she you your we i just now from by as up out into over off all both after before then than there "
    "here has have had gets got get goes going went can will would not no but so very what who how when "
    "player players team teams game games match round time moment left right still again more most "
    "one first second last new big huge".split()
)
# Capitalised words a commentator says without the moment naming them.
COMMON_CAPITALS = frozenset(
    "i i'm i've i'll i'd oh wow what yes no ok okay gg mvp hp ko god ladies gentlemen folks "
    "and but now that this there here he she they it we you look come let's".split()
)
# The line speaks to the person who wrote the prompt instead of commenting on the game:
# a chat model's reflex of reviewing the user's text.
READER_ADDRESS = re.compile(
    r"\byour (?:story|world|writing|scene|narrative|novel|book|description|text|prompt)\b"
    r"|\byou(?:'ve| have) (?:created|written|crafted|described|painted|built a)\b"
    r"|\b(?:this|the) (?:part of the )?(?:scene|story|passage|description) (?:could|needs|is well|really)\b"
    r"|\bcould use some improvement\b|\bthe reader\b|\bas an ai\b|\bi(?:'m| am) (?:sorry|unable)\b"
    r"|\bhere(?:'s| is) (?:a|the|my) (?:line|commentary|sentence|rewrite)\b",
    re.IGNORECASE,
)
# A sentence ends at . ! ? or … (possibly repeated), optionally followed by closing marks.
SENTENCE_END = re.compile(r"[.!?…]+[)\]'’]*(?=\s|$)")
WORD = re.compile(r"[a-z0-9']+")  # a word as the scorers count them
REPEAT_OPENING_WORDS = 3  # a line opening with an earlier line's first three words repeats it
REPEAT_SHARE = 0.5  # or one sharing half its word trigrams with an earlier line

# Titles a small model reaches for (the few-shot examples' games among them). One named in a
# line but nowhere in the moment is another game. Titles that are also common words
# (Control, Journey, Inside) are left out; the rest match with their capitals.
KNOWN_GAMES = (
    "Age of Empires", "Among Us", "Animal Crossing", "Apex Legends", "Assassin's Creed", "Baldur's Gate",
    "Battlefield", "Bloodborne", "Borderlands", "Call of Duty", "Candy Crush", "Castlevania", "Celeste",
    "Civilization", "Counter-Strike", "CS:GO", "CS2", "Cuphead", "Cyberpunk", "Dark Souls", "Dead Cells",
    "Destiny 2", "Diablo", "Donkey Kong", "Doom", "Dota", "Dragon Ball", "Elden Ring", "Fallout",
    "Final Fantasy", "FIFA", "EA Sports FC", "Fortnite", "Forza", "Galaga", "Gears of War", "God of War",
    "Gran Turismo", "Grand Theft Auto", "GTA", "Guitar Hero", "Hades", "Half-Life", "Halo", "Hearthstone",
    "Hollow Knight", "League of Legends", "Madden", "Mario Kart", "Super Mario", "Mario", "Metroid",
    "Minecraft", "Mortal Kombat", "NBA 2K", "Need for Speed", "Overwatch", "Pac-Man", "Persona", "Pokémon",
    "Pokemon", "PUBG", "Quake", "Red Dead", "Resident Evil", "Rocket League", "Roblox", "Sekiro",
    "Skyrim", "Slay the Spire", "Smash Bros", "Sonic", "Space Invaders", "Splatoon", "StarCraft",
    "Stardew Valley", "Street Fighter", "Tekken", "Terraria", "Tetris", "The Last of Us", "The Sims",
    "Titanfall", "Tomb Raider", "Uncharted", "Valorant", "Warcraft", "Warzone", "Wii Sports", "Witcher",
    "World of Warcraft", "Zelda", "Breath of the Wild", "Super Smash Bros", "Gran Turismo 7",
)


def ends_sentence(text: str) -> bool:
    text = text.rstrip()
    match = None
    for match in SENTENCE_END.finditer(text):
        pass
    return match is not None and match.end() == len(text)


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def stem(word: str) -> str:
    """A light stem, enough to match 'kills', 'killed' and 'killing', 'Zombiemen' and
    'Zombieman': lower case, no possessive, no plural or tense ending."""
    w = word.lower().removesuffix("'s").removesuffix("’s").strip("'")
    if w.endswith("men") and len(w) > 4:
        return w[:-3] + "man"
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]  # hitting → hitt → hit
    return w.removesuffix("e") if len(w) > 3 else w


def _word_value(run: str) -> float | None:
    """'twenty-one' → 21, 'fifteen hundred' → 1500, 'third' → 3; None for an idiom alone."""
    words = [w.lower() for w in re.split(r"[\s-]+", run.strip()) if w]
    if len(words) == 1 and words[0] in IDIOMS:
        return None
    total, current = 0, 0
    for w in words:
        if w in SCALES:
            current = max(current, 1) * SCALES[w]
            if SCALES[w] >= 1000:
                total, current = total + current, 0
        else:
            current += NUMBER_WORDS[w]
    return float(total + current)


def numbers_in(text: str) -> list[tuple[str, float]]:
    """Every number a text holds, as (what was written, its value): digits ('1,500',
    '62%', '1.5k', each side of '2-1' and '3:12') and number words ('seventeen',
    'twenty-one', 'third')."""
    found = []
    for m in DIGITS.finditer(text):
        value = float(m.group(1).replace(",", "") + (m.group(2) or ""))
        if (m.group(3) or "").lower() == "k":
            value *= 1000
        found.append((m.group(0), value))
    for m in WORD_RUN.finditer(text):
        value = _word_value(m.group(0))
        if value is not None:
            found.append((m.group(0).strip(), value))
    return found


def _near(value: float, supported: set[float]) -> bool:
    return any(abs(value - s) <= 1e-6 * max(1.0, abs(s)) for s in supported)


def moment_text(moment: Moment, facts: bool = True) -> str:
    """Everything a moment says in words, numbers' names included (its facts too, unless not
    `facts`)."""
    parts = [moment.game, moment.scene, *(e.text for e in moment.events), *(moment.facts if facts else []),
             *(o.name for o in moment.objects), *moment.numbers]
    return " ".join(p for p in parts if p)


def supported_numbers(moment: Moment, previous: list[str] = (), facts: bool = True) -> set[float]:
    """Every number a line may say about `moment`: those written in it (in its facts too,
    unless not `facts`) or in the lines already said, its numbers (a fraction also as a
    percentage), and its clock's minutes and seconds."""
    supported = {v for _, v in numbers_in(" ".join([moment_text(moment, facts), *previous]))}
    for value in moment.numbers.values():
        supported |= {float(value), float(round(value))}
        if 0 < abs(value) < 1:
            supported.add(round(float(value) * 100, 6))
    if moment.time is not None:
        minutes, seconds = divmod(int(round(moment.time)), 60)
        supported |= {float(minutes), float(seconds)}  # as the clock shows it: '3:12', not 192
    return supported


def number_spellings(values: set[float]) -> set[str]:
    """How each supported number may be written in digits: '1500' and '1,500', '0.5'."""
    spelt = set()
    for v in values:
        if v < 0:
            continue
        if v == int(v):
            spelt |= {str(int(v)), f"{int(v):,}"}
        else:
            spelt.add(f"{v:g}")
    return spelt


NEAR_WORDS = 3  # a number's context: the words this close to it, either side


def _beside(text: str) -> dict[float, set[str]]:
    """Each number of `text` → stems of the meaningful words within NEAR_WORDS of it."""
    words = [(m.start(), stem(m.group(0))) for m in TOKEN.finditer(text) if m.group(0).lower() not in GENERIC
             and m.group(0).lower() not in NUMBER_WORDS]
    beside: dict[float, set[str]] = {}
    for match in list(DIGITS.finditer(text)) + list(WORD_RUN.finditer(text)):
        found = numbers_in(match.group(0))
        if not found:
            continue
        before = [w for at, w in words if at < match.start()][-NEAR_WORDS:]
        after = [w for at, w in words if at >= match.end()][:NEAR_WORDS]
        for _, value in found:
            beside.setdefault(value, set()).update(before + after)
    return beside


def _names(text: str) -> list[str]:
    """Capitalised words that do not start a sentence: the names a line puts forward."""
    names = []
    for m in TOKEN.finditer(text):
        word = m.group(0)
        if word[0].isupper() and not SENTENCE_START.search(text[: m.start()]) and word.lower() not in COMMON_CAPITALS:
            names.append(word)
    return names


@lru_cache(maxsize=256)
def _title_pattern(title: str) -> re.Pattern:
    return re.compile(r"(?<![\w])" + re.escape(title) + r"(?![\w])")


@dataclass(frozen=True)
class Check:
    """What one line says against its moment."""

    text: str
    grounded: tuple[str, ...] = ()  # the event words and numbers it names
    happened: bool = False  # it names what happened: an event's number or name, or two of its words
    numbers: tuple[str, ...] = ()  # numbers the moment does not hold
    names: tuple[str, ...] = ()  # capitalised names the moment does not hold
    misplaced: tuple[str, ...] = ()  # numbers it holds, said beside none of the words the moment says them with
    games: tuple[str, ...] = ()  # other games it names
    fields: tuple[str, ...] = ()  # raw field names read out ("gold_diff")
    unfinished: bool = False
    reader: str = ""  # words that speak to the reader instead of about the game
    repeats: str = ""  # the earlier line it repeats

    @property
    def faults(self) -> tuple[str, ...]:
        """The hard faults: each one vetoes the line (rank puts it below every line without)."""
        faults = []
        if not self.text.strip():
            return ("empty",)
        if self.unfinished:
            faults.append("unfinished")
        if self.numbers:
            faults.append("unsupported number " + ", ".join(self.numbers))
        if self.games:
            faults.append("names another game: " + ", ".join(self.games))
        if self.fields:
            faults.append("reads out a field name: " + ", ".join(self.fields))
        if self.reader:
            faults.append(f"speaks to the reader ('{self.reader}')")
        if self.repeats:
            faults.append(f"repeats an earlier line ('{self.repeats}')")
        return tuple(faults)


@dataclass
class Grounding:
    """What a moment supports, gathered once for all its candidates."""

    moment: Moment
    previous: list[str] = field(default_factory=list)
    numbers: set[float] = field(default_factory=set)
    words: set[str] = field(default_factory=set)  # stems of every word the moment and the lines said hold
    happened: set[str] = field(default_factory=set)  # stems of what happened: events, or the scene when none
    happened_numbers: set[float] = field(default_factory=set)
    entities: set[str] = field(default_factory=set)  # stems of the names among them ('Zombiemen', 'Pilar')
    contexts: dict[float, set[str]] = field(default_factory=dict)  # number → stems of the words beside it
    text: str = ""

    @classmethod
    def of(cls, moment: Moment, previous: list[str] = ()) -> Grounding:
        previous = list(previous)
        text = moment_text(moment)
        said = " ".join([text, *previous])
        words = {stem(w) for w in TOKEN.findall(said)} | {stem(p) for k in moment.numbers for p in field_words(k)}
        if moment.events:
            source = " ".join(e.text for e in moment.events)
        else:
            source = " ".join([moment.scene, *moment.facts, *(o.name for o in moment.objects)])
        happened = {stem(w) for w in TOKEN.findall(source) if w.lower() not in GENERIC and len(w) > 2}
        entities = {stem(w) for w in _names(source) + [o.name for o in moment.objects]} & happened
        contexts: dict[float, set[str]] = {}
        for part in [*(e.text for e in moment.events), moment.scene, *moment.facts, *previous]:
            for value, near in _beside(part).items():
                contexts.setdefault(value, set()).update(near)
        for key, value in moment.numbers.items():
            near = {stem(p) for p in field_words(key) if len(p) > 1}
            for v in {float(value), round(float(value) * 100, 6)}:
                contexts.setdefault(v, set()).update(near)
        return cls(moment, previous, supported_numbers(moment, previous), words, happened,
                   {v for _, v in numbers_in(source)}, entities, contexts, said)

    def check(self, text: str) -> Check:
        if not text.strip():
            return Check(text)
        tokens = TOKEN.findall(text)
        named = {stem(w) for w in tokens if stem(w) in self.happened and w.lower() not in GENERIC}
        grounded = sorted({w.lower() for w in tokens if stem(w) in named})
        written = numbers_in(text)
        said_numbers = sorted({w for w, v in written if _near(v, self.happened_numbers)})
        happened = bool(said_numbers) or bool(named & self.entities) or len(named) >= 2
        grounded += said_numbers
        unsupported = [w for w, v in written if not _near(v, self.numbers)]
        beside = _beside(text)
        misplaced = sorted({w for w, v in written if _near(v, self.numbers) and beside.get(v)
                            and self.contexts.get(v) is not None and not beside[v] & self.contexts[v]})
        names = sorted({n for n in _names(text) if stem(n) not in self.words and n.lower() not in self.words})
        context = self.text.lower()
        games = sorted({t for t in KNOWN_GAMES if _title_pattern(t).search(text) and t.lower() not in context})
        games = [g for g in games if not any(g != o and g in o for o in games)]  # 'Super Mario', not 'Mario' too
        keys = {k for k in self.moment.numbers if not k.isalpha()}
        fields = sorted({m.group(0) for m in FIELD_LIKE.finditer(text)} | {k for k in keys if k in text})
        reader = READER_ADDRESS.search(text)
        return Check(text, tuple(grounded), happened, tuple(unsupported), tuple(names), tuple(misplaced),
                     tuple(games), tuple(fields),
                     not ends_sentence(text), reader.group(0) if reader else "", self._repeats(text))

    def _repeats(self, text: str) -> str:
        tokens = words(text)
        grams = set(ngrams(tokens, 3))
        for line in self.previous:
            old = words(line)
            if tokens == old or (len(tokens) >= REPEAT_OPENING_WORDS and old[:REPEAT_OPENING_WORDS] == tokens[:REPEAT_OPENING_WORDS]):
                return line
            if grams and len(grams & set(ngrams(old, 3))) >= REPEAT_SHARE * len(grams):
                return line
        return ""
