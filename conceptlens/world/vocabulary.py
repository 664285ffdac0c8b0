"""The synthetic concept world's vocabulary: shapes, colors, textures, backgrounds.

Everything a world image can contain is named here, together with the synonyms that
count as ground truth, the distractor words that are *not* in the world, and the small
concept hierarchy used for saliency maps.
"""

from __future__ import annotations

from dataclasses import dataclass

SHAPES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "heart",
    "ring",
    "diamond",
    "crescent",
    "arrow",
)

# RGB in 0..255, fully saturated so that every color stands out on every background.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (225, 35, 35),
    "green": (40, 175, 55),
    "blue": (45, 85, 235),
    "yellow": (245, 220, 35),
    "purple": (150, 55, 205),
    "orange": (250, 140, 25),
    "pink": (250, 125, 200),
}

TEXTURES: tuple[str, ...] = ("plain", "striped", "dotted")

# name -> (base gray level 0..255, noise standard deviation in gray levels)
BACKGROUNDS: dict[str, tuple[int, float]] = {
    "night": (25, 0.0),
    "fog": (200, 0.0),
    "gravel": (115, 18.0),
    "sand": (170, 14.0),
}
# sand is tinted warm; the others are neutral gray.
BACKGROUND_TINT: dict[str, tuple[float, float, float]] = {
    "night": (1.0, 1.0, 1.0),
    "fog": (1.0, 1.0, 1.0),
    "gravel": (1.0, 1.0, 1.0),
    "sand": (1.12, 1.0, 0.78),
}

# Ground-truth synonyms: a found concept equal to any of these (case-insensitive) is a hit.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "disc", "disk"),
    "square": ("square",),
    "triangle": ("triangle",),
    "star": ("star", "pentagram"),
    "cross": ("cross", "plus"),
    "heart": ("heart",),
    "ring": ("ring", "annulus", "donut"),
    "diamond": ("diamond", "rhombus"),
    "crescent": ("crescent", "crescent moon"),
    "arrow": ("arrow",),
    "striped": ("striped", "stripes"),
    "dotted": ("dotted", "dots", "polka dots"),
    "plain": ("plain",),
}

# Plausible words that never occur in the world, so that picking the right concept is
# not trivial.  About a hundred everyday nouns and adjectives.
OUT_OF_WORLD_WORDS: tuple[str, ...] = (
    "tree", "car", "dog", "cat", "house", "bird", "flower", "boat", "chair", "table",
    "bottle", "cup", "lamp", "book", "clock", "phone", "shoe", "hat", "bicycle", "bus",
    "train", "airplane", "horse", "cow", "sheep", "fish", "apple", "banana", "orange fruit",
    "bread", "cake", "pizza", "door", "window", "wall", "roof", "bridge", "road", "mountain",
    "river", "lake", "ocean", "beach", "forest", "field", "cloud", "rain", "snow", "sun",
    "grass", "leaf", "rock", "stone", "brick", "wood", "metal", "glass", "paper", "plastic",
    "fabric", "leather", "fur", "feather", "person", "face", "hand", "eye", "dress", "shirt",
    "key", "knife", "fork", "spoon", "plate", "bowl", "ball", "kite", "balloon", "candle",
    "guitar", "piano", "drum", "wheel", "tire", "fence", "ladder", "rope", "chain", "net",
    "spiral", "zigzag", "checkered", "wavy", "fuzzy", "shiny", "rusty", "wooden", "brown",
    "black", "gray", "white", "cyan", "oval", "rectangle", "pentagon", "octagon", "line",
)


@dataclass(frozen=True)
class WorldVocabulary:
    """The value sets of each attribute, in a fixed order (class index = position)."""

    shapes: tuple[str, ...] = SHAPES
    colors: tuple[str, ...] = tuple(COLORS)
    textures: tuple[str, ...] = TEXTURES
    backgrounds: tuple[str, ...] = tuple(BACKGROUNDS)

    def attribute_values(self) -> dict[str, tuple[str, ...]]:
        """Attribute name -> its values, for the ground-truth attributes of an image."""
        return {
            "shape": self.shapes,
            "color": self.colors,
            "texture": self.textures,
            "background": self.backgrounds,
        }


def synonyms_of(value: str) -> tuple[str, ...]:
    """Ground-truth synonyms of an attribute value (the value itself first)."""
    return SYNONYMS.get(value, (value,))


def attribute_synonyms(vocabulary: WorldVocabulary | None = None) -> list[str]:
    """Every attribute value's synonyms (the texts the world's ground truth can name),
    de-duplicated, in a stable order."""
    vocab = vocabulary or WorldVocabulary()
    texts = [s for values in vocab.attribute_values().values() for value in values
             for s in synonyms_of(value)]
    return list(dict.fromkeys(texts))


def world_concepts(vocabulary: WorldVocabulary | None = None) -> list[str]:
    """The full world concept set: every attribute value, its synonyms, and the
    out-of-world words; de-duplicated, in a stable order."""
    return list(dict.fromkeys([*attribute_synonyms(vocabulary), *OUT_OF_WORLD_WORDS]))


def world_hierarchy(vocabulary: WorldVocabulary | None = None) -> dict[str, str | None]:
    """The world's concept taxonomy as child -> parent (the root maps to None).

    object -> {shape, color, texture, background} -> each value.
    """
    vocab = vocabulary or WorldVocabulary()
    parents: dict[str, str | None] = {"object": None}
    groups = {"shape": vocab.shapes, "color": vocab.colors, "texture": vocab.textures,
              "background": vocab.backgrounds}
    for group, values in groups.items():
        parents[group] = "object"
        for value in values:
            parents[value] = group
    return parents
