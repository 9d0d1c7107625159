"""Ray-backed batch runners for the same functions, past one process or one machine (the `[ray]`
extra; docs/scale.md): review sentiment over a file of any size, and copy generation for many briefs
against an OpenAI-compatible server."""
