"""Privacy: PII detection and masking, pseudonymous keys, consent."""
