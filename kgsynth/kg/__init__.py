from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.kg.load import BUILTIN_KGS, load_kg

__all__ = ["BUILTIN_KGS", "KnowledgeGraph", "load_kg"]
