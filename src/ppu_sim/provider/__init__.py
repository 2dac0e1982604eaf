"""The simulated provider: transaction rules, what it remembers, generated data and vending arithmetic."""
