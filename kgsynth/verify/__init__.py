from kgsynth.verify.checks import Verifier

__all__ = ["Verifier"]
