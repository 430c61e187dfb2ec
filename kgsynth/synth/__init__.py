"""KG-first synthesis: questions posed from KG chains whose answer is unique in the KG.

config (SynthConfig) -> sample (rare-start random walks) -> pose (uniqueness, distractors)
-> question (offline templates or an LLM) + reasoning (a trace along the chain) -> checks
(answer_unique, distractors_fail_chain). flows/synth.py wires the stages.
"""

from kgsynth.synth.config import SynthConfig, load_synth_config

__all__ = ["SynthConfig", "load_synth_config"]
