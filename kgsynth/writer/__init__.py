"""Writers that need no model: a differential built from the row's KG evidence and paths."""

from kgsynth.writer.hops import HopSentences, join_names
from kgsynth.writer.offline import OFFLINE_MODEL, PHRASES, OfflineWriter, phrases

__all__ = ["OFFLINE_MODEL", "PHRASES", "HopSentences", "OfflineWriter", "join_names", "phrases"]
