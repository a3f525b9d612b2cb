"""Counts in messages, with the noun in the form the count takes."""


def counted(count: int, singular: str, plural: str = "") -> str:
    """Return "1 file" or "2 files"; `plural` for nouns not made with -s."""
    noun = singular if count == 1 else plural or f"{singular}s"
    return f"{count} {noun}"
