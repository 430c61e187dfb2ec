"""Entity linking: KG names and synonyms found in text, ranked with scispaCy.

Mentions come from a spaCy PhraseMatcher built over the normalised KG aliases, from
abbreviations (scispaCy's AbbreviationDetector maps a short form to its long form), and,
when a user has one installed, from a scispaCy NER model. scispaCy's CandidateGenerator,
over kgsynth's own alias index, scores mentions that are not exact alias matches. Precision
comes first: fuzzy candidates must also agree word by word (see `same_concept_words`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import spacy
from scispacy.abbreviation import AbbreviationDetector  # noqa: F401  (registers the factory)
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from kgsynth.config import LinkingConfig
from kgsynth.errors import ConfigError
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.linking.index import index_dir, load_candidate_generator
from kgsynth.linking.kb import alias_frame, scispacy_kb
from kgsynth.linking.normalise import norm_key, raw_tokens, same_concept_words
from kgsynth.records import EntityLink, LinkedQA, QARecord

log = logging.getLogger(__name__)

# scispaCy's AbbreviationDetector warns on every text when its global matcher has no rules.
warnings.filterwarnings("ignore", message=r"\[W036\]", category=UserWarning)
_TRAILING_PAREN = re.compile(r"\s*\([^()]{1,15}\)$")
EXACT_SCORE = 1.0
NORMALISED_SCORE = 0.97


@dataclass(frozen=True)
class _Candidate:
    idx: int
    score: float
    method: str
    is_name: bool


class Linker:
    def __init__(self, kg: KnowledgeGraph, cfg: LinkingConfig, cache_dir: Path) -> None:
        self.kg = kg
        self.cfg = cfg
        aliases = alias_frame(
            kg, exclude_ids=cfg.exclude_ids, exclude_subtrees=cfg.exclude_subtrees
        )
        self.aliases = aliases
        # key -> [(node idx, is_name)]: exact lookups after normalisation
        grouped = aliases.group_by("key").agg(pl.col("idx"), pl.col("is_name"))
        self._by_key: dict[str, list[tuple[int, bool]]] = {
            k: list(zip(i, n, strict=True))
            for k, i, n in zip(
                grouped["key"].to_list(),
                grouped["idx"].to_list(),
                grouped["is_name"].to_list(),
                strict=True,
            )
        }
        self._key_of_alias: dict[str, str] = dict(
            zip(aliases["alias"].to_list(), aliases["key"].to_list(), strict=False)
        )
        self._by_id = {kg.ids[i]: i for i in set(aliases["idx"].to_list())}
        self.nlp = self._make_nlp(cfg.ner_model)
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="ORTH")
        self.matcher.add("KG", [Doc(self.nlp.vocab, words=k.split()) for k in self._by_key])
        alias_list = sorted(set(aliases["alias"].to_list()))
        alias_hash = hashlib.sha256("\n".join(alias_list).encode()).hexdigest()
        kb = scispacy_kb(kg, aliases)
        self.candidates, self.index_cached = load_candidate_generator(
            alias_list, kb, index_dir(cache_dir, kg.hash, alias_hash)
        )
        self._degree = kg.degree

    @staticmethod
    def _make_nlp(ner_model: str | None) -> spacy.language.Language:
        if ner_model:
            try:
                nlp = spacy.load(ner_model)
            except OSError as e:
                raise ConfigError(
                    f"linking.ner_model: spaCy model '{ner_model}' is not installed "
                    f"(install it, e.g. a scispaCy en_core_sci_* package, or drop --ner-model)"
                ) from e
        else:
            nlp = spacy.blank("en")
        nlp.add_pipe("abbreviation_detector")
        return nlp

    # -- candidates --------------------------------------------------------------------
    def _exact(self, text: str) -> list[_Candidate]:
        key = norm_key(text)
        out = []
        for idx, is_name in self._by_key.get(key, []):
            if self.kg.types[idx] == "gene" and self.kg.names[idx] not in text:
                continue  # gene symbols are case-sensitive: "CAT" the gene, not "cat"
            alias_exact = text.strip().lower() == self.kg.names[idx].lower()
            score = EXACT_SCORE if alias_exact else NORMALISED_SCORE
            out.append(_Candidate(idx, score, "exact" if alias_exact else "normalised", is_name))
        return out

    def _fuzzy(self, texts: list[str]) -> list[list[_Candidate]]:
        """scispaCy CandidateGenerator hits that pass the threshold and the word guard."""
        results: list[list[_Candidate]] = []
        for text, cands in zip(texts, self.candidates(texts, k=30), strict=True):
            key = norm_key(text)
            found: list[_Candidate] = []
            for cand in cands:
                idx = self._by_id.get(cand.concept_id)
                if idx is None:
                    continue
                if self.kg.types[idx] == "gene" and self.kg.names[idx] not in text:
                    continue  # same case rule as _exact: "cat" is not the gene CAT
                best = 0.0
                for alias, sim in zip(cand.aliases, cand.similarities, strict=True):
                    if sim >= self.cfg.threshold and same_concept_words(
                        key, self._key_of_alias.get(alias, norm_key(alias))
                    ):
                        best = max(best, float(sim))
                if best > 0:
                    found.append(
                        _Candidate(idx, min(best, NORMALISED_SCORE - 0.01), "tfidf", False)
                    )
            results.append(found)
        return results

    def _best(self, cands: list[_Candidate]) -> _Candidate | None:
        if not cands:
            return None
        # highest score; a name beats a synonym; a well-annotated node beats a sparse one
        return max(cands, key=lambda c: (c.score, c.is_name, int(self._degree[c.idx]), -c.idx))

    def _link(
        self, c: _Candidate, mention: str, start: int, end: int, method: str = ""
    ) -> EntityLink:
        kg = self.kg
        return EntityLink(
            kg_id=kg.ids[c.idx],
            name=kg.names[c.idx],
            type=kg.types[c.idx],
            mention=mention,
            start=start,
            end=end,
            score=round(c.score, 4),
            method=method or c.method,
        )

    # -- public ------------------------------------------------------------------------
    def abbreviations(self, text: str) -> dict[str, str]:
        """Short form -> long form, as scispaCy's AbbreviationDetector finds them."""
        doc = self.nlp(text)
        return {a.text: a._.long_form.text for a in doc._.abbreviations}

    def link_text(self, text: str) -> list[EntityLink]:
        """All entity mentions in free text (a question), best first, at most max_entities."""
        toks = raw_tokens(text)
        links: list[EntityLink] = []
        covered: set[int] = set()
        if toks:
            doc = Doc(self.nlp.vocab, words=[norm_key(t) or t.lower() for t, _, _ in toks])
            spans = spacy.util.filter_spans([doc[s:e] for _, s, e in self.matcher(doc)])
            for span in spans:
                start, end = toks[span.start][1], toks[span.end - 1][2]
                mention = text[start:end]
                best = self._best(self._exact(mention))
                if best is not None:
                    links.append(self._link(best, mention, start, end))
                    covered.update(range(start, end))
        doc = self.nlp(text)
        extra: list[tuple[str, int, int, str]] = []  # (lookup text, start, end, method)
        for abbr in doc._.abbreviations:
            if abbr.start_char not in covered:
                extra.append(
                    (abbr._.long_form.text, abbr.start_char, abbr.end_char, "abbreviation")
                )
        for ent in getattr(doc, "ents", ()):
            if ent.start_char not in covered:
                extra.append((ent.text, ent.start_char, ent.end_char, "ner"))
        if extra:
            fuzzy = self._fuzzy([e[0] for e in extra])
            for (lookup, s, e, method), fz in zip(extra, fuzzy, strict=True):
                best = self._best(self._exact(lookup) + fz)
                if best is not None and s not in covered:
                    links.append(self._link(best, text[s:e], s, e, f"{method}+{best.method}"))
                    covered.update(range(s, e))
        return self._top(links)

    def candidate_nodes(self, text: str, k: int = 10, floor: float = 0.7) -> list[EntityLink]:
        """Nodes a phrase may mean, best first, for an LLM to choose among: exact and
        normalised alias hits (exact ones score 1.0), then TF-IDF neighbours at similarity
        >= floor without the word guard (the chooser decides; "none" stays possible)."""
        cands = {c.idx: c for c in self._exact(text)}
        for cand in self.candidates([text], k=30)[0]:
            idx = self._by_id.get(cand.concept_id)
            if idx is None or idx in cands:
                continue
            if self.kg.types[idx] == "gene" and self.kg.names[idx] not in text:
                continue
            sim = max((float(s) for s in cand.similarities), default=0.0)
            if sim >= floor:
                cands[idx] = _Candidate(idx, min(sim, NORMALISED_SCORE - 0.01), "tfidf", False)
        ranked = sorted(cands.values(), key=lambda c: (-c.score, not c.is_name, c.idx))[:k]
        return [self._link(c, text, 0, len(text)) for c in ranked]

    def link_answer(
        self, answer: str, abbreviations: dict[str, str] | None = None
    ) -> list[EntityLink]:
        """The gold answer as a whole: exact/normalised alias, an abbreviation defined in the
        question, or a word-guarded TF-IDF candidate. Never a fragment of the answer."""
        text = answer.strip().rstrip(".").strip()
        if not text:
            return []
        lookup = (abbreviations or {}).get(text, text)
        method_prefix = "abbreviation+" if lookup != text else ""
        # "Chronic lymphocytic leukemia (CLL)": the trailing short form adds nothing
        variants = [lookup]
        bare = _TRAILING_PAREN.sub("", lookup).strip()
        if bare and bare != lookup:
            variants.append(bare)
        best = self._best([c for v in variants for c in self._exact(v)])
        if best is None:
            best = self._best([c for cands in self._fuzzy(variants) for c in cands])
        if best is None or best.score < self.cfg.threshold:
            return []
        start = answer.find(text)
        return [self._link(best, text, start, start + len(text), method_prefix + best.method)]

    def _top(self, links: list[EntityLink]) -> list[EntityLink]:
        # one link per KG node (its first mention); best scores first, then text order
        seen: set[str] = set()
        uniq = []
        for lk in sorted(links, key=lambda x: x.start):
            if lk.kg_id not in seen and lk.score >= self.cfg.threshold:
                seen.add(lk.kg_id)
                uniq.append(lk)
        uniq.sort(key=lambda x: (-x.score, x.start))
        return sorted(uniq[: self.cfg.max_entities], key=lambda x: x.start)

    def __call__(self, qa: QARecord) -> LinkedQA:
        abbrs = self.abbreviations(qa.question)
        return LinkedQA(
            qa=qa,
            question_entities=self.link_text(qa.question),
            answer_entities=self.link_answer(qa.answer, abbrs),
        )
