"""tinytpl: a tiny template engine with {{ expressions }}, {% for %} and {% if %}."""

from tinytpl.template import Template, TemplateSyntaxError

__all__ = ["Template", "TemplateSyntaxError"]
