"""Test doubles of the engine's ports. The Exchange port over the simulator's in-process mailbox
store lives here, not in the product: the simulator stands in for Microsoft's server, and the
product's adapters never import it."""
