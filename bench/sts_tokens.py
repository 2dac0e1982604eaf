"""What one STS token costs: encoding, decoding, and deriving the decoder key first.

A vend derives the meter's decoder key (DKGA02 or DKGA04) and encrypts one token; the issue
asks for well under a millisecond. Prints the median and best of several runs per operation,
in microseconds, for STA and MISTY1.

    .venv/bin/python bench/sts_tokens.py [--number 2000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from collections.abc import Callable

from ppu_sim.sts import codec, kinds
from ppu_sim.sts.crypto import Algorithm
from ppu_sim.sts.keys import KeyGeneration, KeySet, decoder_key
from ppu_sim.sts.meter import MeterNumber
from ppu_sim.sts.tid import BaseDate

METER = MeterNumber.parse("600727000000000009")
VENDING_KEYS = {
    KeyGeneration.DKGA02: bytes.fromhex("ABABABABABABABAB"),
    KeyGeneration.DKGA04: bytes.fromhex("ABABABABABABABAB949494949494949401234567"),
}
SETUPS = {
    "DKGA02 + STA": KeySet("123456", 1, 1),
    "DKGA04 + STA": KeySet("123457", 1, 4, dkga=KeyGeneration.DKGA04, base_date=BaseDate.Y2014),
    "DKGA04 + MISTY1": KeySet(
        "123457", 1, 4, algorithm=Algorithm.MISTY1, dkga=KeyGeneration.DKGA04, base_date=BaseDate.Y2014
    ),
}
TOKEN = kinds.credit("25.6", 6_000_000, 5)


def micros(fn: Callable[[], object], number: int, repeat: int) -> tuple[float, float]:
    runs = [t / number * 1e6 for t in timeit.repeat(fn, number=number, repeat=repeat)]
    return statistics.median(runs), min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--number", type=int, default=2000, help="calls per run")
    parser.add_argument("--repeat", type=int, default=7, help="runs per operation")
    args = parser.parse_args()

    print(f"{'setup':<18}{'operation':<28}{'median µs':>11}{'best µs':>10}")
    for name, keyset in SETUPS.items():
        vending_key = VENDING_KEYS[keyset.dkga]
        key = decoder_key(vending_key, METER, keyset)
        digits = codec.encode(TOKEN, key)
        ops: dict[str, Callable[[], object]] = {
            "encode (key known)": lambda key=key: codec.encode(TOKEN, key),
            "decode (key known)": lambda key=key, digits=digits: codec.decode(digits, key),
            "derive key + encode": lambda vk=vending_key, ks=keyset: codec.encode(TOKEN, decoder_key(vk, METER, ks)),
        }
        for op, fn in ops.items():
            median, best = micros(fn, args.number, args.repeat)
            print(f"{name:<18}{op:<28}{median:>11.1f}{best:>10.1f}")


if __name__ == "__main__":
    main()
