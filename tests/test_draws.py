"""A transaction's numbers (provider/draws.py): in their range, every value reachable, the same for
the same key in any process, and independent of other keys."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest

from ppu_sim.provider.draws import Draws, rng_for
from tests.support import ROOT

KEY = "0:purchase:5e9b3b46-7a0e-4f0e-9f4e-5e2d7b1c9a11"
MANY = 40  # 40 draws of 64 bits: five digests, each drawn whole (a repeated digest repeats draws)


def many(key: str) -> list[int]:
    draws = Draws(key)
    return [draws.randrange(1 << 64) for _ in range(MANY)]


def test_draws_stay_in_their_range_and_reach_every_value() -> None:
    seen = Counter(rng_for(0, "t", str(i)).randrange(3, 10) for i in range(2000))
    assert set(seen) == set(range(3, 10))
    assert min(seen.values()) > 2000 / 7 / 2  # no value starved: a bias would show


def test_the_same_key_draws_the_same_numbers_past_the_first_digest() -> None:
    first = many(KEY)
    assert first == many(KEY)
    assert len(set(first)) == MANY
    assert all(0 <= n < 1 << 64 for n in first)
    assert first != many(KEY + "x")


@pytest.mark.parametrize("hash_seed", ["1", "2"])
def test_another_process_draws_the_same_numbers(hash_seed: str) -> None:
    """Whatever Python's string hashing is seeded with: the answers of a ``--seed`` repeat across restarts."""
    code = f"from tests.test_draws import many; print(many({KEY!r}))"
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
    )
    assert run.stdout.strip() == str(many(KEY))


def test_an_empty_range_is_refused() -> None:
    with pytest.raises(ValueError, match="empty range"):
        Draws(KEY).randrange(5, 5)
