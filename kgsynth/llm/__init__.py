from kgsynth.llm.base import Generator, make_generator
from kgsynth.llm.sections import split_sections

__all__ = ["Generator", "make_generator", "split_sections"]
