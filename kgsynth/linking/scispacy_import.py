"""spaCy and scispaCy, imported with torch hidden from thinc.

thinc (spaCy's ML layer) imports torch whenever it is installed (the verifier's extra
installs it): 2.4 s of every process that links, only to offer torch-backed layers that a
blank pipeline and scispaCy's en_core_sci_* models never use. So kgsynth imports spaCy
through this module, with `import torch` failing for that moment; torch imported later in
the process is the real one, and a process that imported torch before is left alone.
A spaCy model that does need torch (a transformer pipeline as `linking.ner_model`) needs
KGSYNTH_SPACY_TORCH=1 in the environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_hidden(hide: bool = True) -> Iterator[None]:
    """While inside, `import torch` raises ImportError (when `hide`, and neither torch nor
    thinc is imported yet)."""
    if not hide or "torch" in sys.modules or "thinc" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # import torch -> ImportError
    try:
        yield
    finally:
        if "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]


# scipy.stats (scispaCy's candidate generator imports scikit-learn, which imports it) asks
# at import time whether arrays are torch tensors by looking torch up in sys.modules: with
# torch hidden it finds None there and fails. Imported first, it sees the real state
import scipy.stats  # noqa: E402, F401

with torch_hidden(os.environ.get("KGSYNTH_SPACY_TORCH") != "1"):
    import spacy
    from scispacy.abbreviation import AbbreviationDetector
    from scispacy.candidate_generation import CandidateGenerator
    from scispacy.linking_utils import Entity, KnowledgeBase

__all__ = ["AbbreviationDetector", "CandidateGenerator", "Entity", "KnowledgeBase", "spacy"]
