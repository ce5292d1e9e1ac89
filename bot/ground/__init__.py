"""Grounding: the citation verifier, the entailment model, the LLM judge, checking user text."""
