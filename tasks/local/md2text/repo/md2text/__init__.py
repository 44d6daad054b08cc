"""md2text: render a Markdown subset as plain text (for e-mails and terminals)."""

from md2text.render import to_text

__all__ = ["to_text"]
