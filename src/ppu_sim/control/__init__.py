"""The other side of the simulator: what the PoS sent (journal), per-session state, and the control API."""
