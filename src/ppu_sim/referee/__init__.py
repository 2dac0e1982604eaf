"""The protocol referee: judges a PoS's client behaviour from a session's journal (no HTTP here)."""
