"""Validation of a fine-tuning JSONL: schema, evidence grounding, PII, duplicates, tokens, size,
category balance, a Great Expectations suite, and a 0-100 quality score with the issues behind it."""
