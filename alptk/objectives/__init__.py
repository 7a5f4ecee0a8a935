"""Training objectives, one module each, registered by name and chosen and weighted in YAML."""

from alptk.objectives import denoise, lm, masked_speech, mlm, s2t, stm, tts  # noqa: F401 - registers the objectives
from alptk.objectives.base import OBJECTIVES, Objective

__all__ = ["OBJECTIVES", "Objective"]
