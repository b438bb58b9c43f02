"""Request models and event framing for each client protocol."""
