from kgsynth.qa.read import QABatch, read_qa

__all__ = ["QABatch", "read_qa"]
