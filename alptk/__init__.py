"""alptk: audio-language pre-training toolkit (speech + text, ESPnet-style recipes)."""

from alptk.version import __version__

__all__ = ["__version__"]
