#!/usr/bin/env python3
"""Generate data-bundled/houses.csv, the table examples/csv_regression.rs trains on.

    python3 scripts/make_houses_csv.py

A synthetic table of 1,200 houses: floor area, rooms, age (a few missing, written NA),
district (five string categories), garden (yes/no) and a price that depends on all of
them non-linearly, plus noise. Only the standard library is used and the random generator
is seeded, so the output is byte-for-byte reproducible.

License: the table is generated data, not drawn from any real data set; it is dedicated
to the public domain (CC0 1.0).
"""

import math
import os
import random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data-bundled", "houses.csv")
DISTRICTS = {"center": 1.6, "east": 1.0, "north": 1.15, "south": 0.9, "west": 1.25}


def main():
    rng = random.Random(17)
    rows = ["area,rooms,age,district,garden,price"]
    for _ in range(1200):
        area = round(rng.uniform(25, 220), 1)
        rooms = max(1, min(8, round(area / 28 + rng.gauss(0, 0.8))))
        age = round(rng.uniform(0, 90))
        district = rng.choice(sorted(DISTRICTS))
        garden = "yes" if rng.random() < (0.2 if district == "center" else 0.55) else "no"
        # Price in thousands: concave in area, a bonus per room, depreciation that
        # flattens with age, a district factor and a garden premium, then noise.
        price = DISTRICTS[district] * (
            55 * math.sqrt(area) + 12 * rooms - 40 * (1 - math.exp(-age / 30))
        ) + (35 if garden == "yes" else 0)
        price *= math.exp(rng.gauss(0, 0.05))
        age_cell = "NA" if rng.random() < 0.03 else str(age)
        rows.append(f"{area},{rooms},{age_cell},{district},{garden},{price:.1f}")
    with open(OUT, "w") as f:
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
