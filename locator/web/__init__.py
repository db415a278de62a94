"""The web layer: one blueprint per audience, plus shared error handling."""
