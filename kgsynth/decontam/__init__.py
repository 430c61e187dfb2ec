"""Benchmark decontamination: does a row overlap an item of a benchmark it may be tested on?

- text: vectorised word n-grams, MinHash shingles, signatures and LSH band keys;
- index: a benchmark file's index (built once per content, KG and settings; cached);
- match: candidate rows against indexes, by word n-grams, MinHash and the KG.
The stage (kgsynth.stages.decontam) and `kgsynth decontam` (kgsynth.cli_decontam) use them.
"""
