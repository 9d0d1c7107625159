"""English wording shared by the CLI, reports and explanations."""


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`1 customer`, `2,000 customers`: a count with its noun in the number English wants."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
