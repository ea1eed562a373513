"""A second gateway process: reads `recipient subject category purpose` lines, prints each decision as JSON."""

from __future__ import annotations

import json
import sys

from policies import DecisionEngine, SubjectContext


def main() -> None:
    engine = DecisionEngine.open(sys.argv[1])
    for line in sys.stdin:
        recipient, subject, category, purpose = line.split()
        decision = engine.decide(recipient, SubjectContext(subject, "standard", "CN"), [category], purpose)
        print(json.dumps(decision.categories[0].to_dict()), flush=True)
    engine.close()


if __name__ == "__main__":
    main()
