"""Writers that need no model: thinking paths built from KG paths and sentence templates."""

from kgsynth.writer.offline import OFFLINE_MODEL, OfflineWriter

__all__ = ["OFFLINE_MODEL", "OfflineWriter"]
