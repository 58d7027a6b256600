"""What Doom's things are called: the engine's class names of monsters and pick-ups, and
how a commentator says them. Read by the game source (doom.py) and by its agent (agents.py)."""

from __future__ import annotations

import re

# Engine class names of enemies, and how a commentator says them.
MONSTERS: dict[str, str] = {
    "Zombieman": "Zombieman", "ShotgunGuy": "Shotgun Guy", "ChaingunGuy": "Chaingun Guy", "DoomImp": "Imp",
    "Demon": "Demon", "Spectre": "Spectre", "LostSoul": "Lost Soul", "Cacodemon": "Cacodemon",
    "HellKnight": "Hell Knight", "BaronOfHell": "Baron of Hell", "Arachnotron": "Arachnotron",
    "PainElemental": "Pain Elemental", "Revenant": "Revenant", "Fatso": "Mancubus", "Archvile": "Arch-vile",
    "Cyberdemon": "Cyberdemon", "SpiderMastermind": "Spider Mastermind", "WolfensteinSS": "SS guard",
    "MarineChainsawVzd": "chainsaw marine",
}
# Things the player can pick up, and how a commentator says them.
ITEMS: dict[str, str] = {
    "Medikit": "Medikit", "CustomMedikit": "Medikit", "Stimpack": "Stimpack", "HealthBonus": "health bonus",
    "Soulsphere": "Soulsphere", "Megasphere": "Megasphere", "GreenArmor": "green armor", "BlueArmor": "blue armor",
    "ArmorBonus": "armor bonus", "Clip": "ammo clip", "ClipBox": "box of bullets", "Shell": "shotgun shells",
    "ShellBox": "box of shells", "RocketAmmo": "rocket", "RocketBox": "box of rockets", "Cell": "energy cell",
    "CellPack": "cell pack", "Backpack": "backpack", "Shotgun": "shotgun", "SuperShotgun": "super shotgun",
    "Chaingun": "chaingun", "RocketLauncher": "rocket launcher", "PlasmaRifle": "plasma rifle",
    "BFG9000": "BFG 9000", "Chainsaw": "chainsaw", "Berserk": "berserk pack", "InvulnerabilitySphere":
    "invulnerability sphere", "BlurSphere": "partial invisibility", "Allmap": "computer map", "RadSuit":
    "radiation suit", "Infrared": "light amplification visor", "RedCard": "red keycard", "BlueCard": "blue keycard",
    "YellowCard": "yellow keycard", "RedSkull": "red skull key", "BlueSkull": "blue skull key",
    "YellowSkull": "yellow skull key", "Poison": "poison vial",
}


def display(name: str) -> str:
    """'DoomImp' -> 'Imp'; unknown names are split where their words join."""
    if name in MONSTERS:
        return MONSTERS[name]
    if name in ITEMS:
        return ITEMS[name]
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)


def is_monster(name: str) -> bool:
    return name in MONSTERS or (name.startswith("Marine") and name.endswith("Vzd"))
