from kgsynth.llm.base import Generator, make_generator

__all__ = ["Generator", "make_generator"]
