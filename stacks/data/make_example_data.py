"""Regenerate the synthetic arithmetic RFT example datasets next to this script, and the
samples file `rftenv grade` reads (the first training prompts with candidate answers).

Deterministic (seeded RNG, fixed ordering, "\\n" line endings), so running it twice
produces identical bytes and therefore identical content-addressed S3 keys.

    python stacks/data/make_example_data.py [--out-dir DIR]
"""

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path

SEED = 2026
TRAIN_FILE = "arithmetic-train.jsonl"
VALIDATION_FILE = "arithmetic-validation.jsonl"
SAMPLES_FILE = "arithmetic-samples.jsonl"
# Prompts with a spread of candidates (right, right with working, off by one, no answer),
# then prompts whose candidates all score alike: those give GRPO no learning signal.
SPREAD_SAMPLES = 6
ALIKE_SAMPLES = 2
TRAIN_RECORDS = 200
VALIDATION_RECORDS = 100
SYSTEM_PROMPT = "You are a careful calculator. Reply with the final number only."

NAMES = ("Avery", "Bodhi", "Cleo", "Dario", "Esme", "Farrin", "Gus", "Hana", "Ilse", "Jun")
ITEMS = ("marbles", "pencils", "stickers", "apples", "bolts", "seashells", "buttons", "stamps")
PLACES = ("bakery", "hardware shop", "market stall", "school store", "warehouse")

Problem = tuple[str, int]


def _add(rng: random.Random) -> Problem:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    a, b = rng.randint(2, 500), rng.randint(2, 500)
    text = (
        f"{name} has {a} {item}. A friend gives {name} {b} more. "
        f"How many {item} does {name} have now?"
    )
    return text, a + b


def _subtract(rng: random.Random) -> Problem:
    place, item = rng.choice(PLACES), rng.choice(ITEMS)
    a = rng.randint(20, 900)
    b = rng.randint(2, a - 1)
    text = (
        f"A {place} has {a} {item} in stock. By closing time {b} have been sold. "
        f"How many {item} are left?"
    )
    return text, a - b


def _multiply(rng: random.Random) -> Problem:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    a, b = rng.randint(2, 40), rng.randint(2, 30)
    text = f"{name} fills {a} boxes with {b} {item} each. How many {item} is that in total?"
    return text, a * b


def _divide(rng: random.Random) -> Problem:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    # Build the dividend from the quotient so every division is exact.
    quotient, bags = rng.randint(2, 50), rng.randint(2, 12)
    text = (
        f"{name} splits {quotient * bags} {item} equally into {bags} bags. "
        f"How many {item} go in each bag?"
    )
    return text, quotient


def _mixed(rng: random.Random) -> Problem:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    packs, red, blue = rng.randint(2, 12), rng.randint(2, 20), rng.randint(2, 20)
    text = (
        f"{name} buys {packs} packs. Each pack holds {red} red and {blue} blue {item}. "
        f"How many {item} does {name} buy altogether?"
    )
    return text, (red + blue) * packs


OPERATIONS: tuple[tuple[str, Callable[[random.Random], Problem]], ...] = (
    ("add", _add),
    ("subtract", _subtract),
    ("multiply", _multiply),
    ("divide", _divide),
    ("mixed", _mixed),
)


def make_records(
    rng: random.Random, split: str, count: int, seen: set[str]
) -> list[dict[str, object]]:
    """Draw ``count`` records whose questions are not already in ``seen``."""
    records: list[dict[str, object]] = []
    while len(records) < count:
        operation, build = rng.choice(OPERATIONS)
        question, answer = build(rng)
        # Keep splits disjoint so validation scores are not inflated by memorised prompts.
        if question in seen:
            continue
        seen.add(question)
        records.append(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": question},
                ],
                "reference_answer": str(answer),
                "id": f"arith-{split}-{len(records) + 1:04d}",
                "task_id": f"arithmetic-{operation}",
                "synthetic": True,
            }
        )
    return records


def make_samples(train: list[dict[str, object]]) -> list[dict[str, object]]:
    """Training records with `candidates`: answers to grade, as GRPO samples several per
    prompt."""
    samples = []
    for index, record in enumerate(train[: SPREAD_SAMPLES + ALIKE_SAMPLES]):
        answer = str(record["reference_answer"])
        worked = f"Working it out step by step.\n{answer}"
        if index < SPREAD_SAMPLES:
            candidates = [answer, worked, str(int(answer) + 1), "I am not sure."]
        else:
            candidates = [answer, answer, worked, answer]
        samples.append({**record, "candidates": candidates})
    return samples


def write_jsonl(path: Path, records: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    rng = random.Random(SEED)
    seen: set[str] = set()
    # Order matters: training is drawn first from the shared RNG stream.
    train = make_records(rng, "train", TRAIN_RECORDS, seen)
    validation = make_records(rng, "validation", VALIDATION_RECORDS, seen)
    write_jsonl(args.out_dir / TRAIN_FILE, train)
    write_jsonl(args.out_dir / VALIDATION_FILE, validation)
    samples = make_samples(train)
    write_jsonl(args.out_dir / SAMPLES_FILE, samples)
    print(f"wrote {len(train)} records to {args.out_dir / TRAIN_FILE}")
    print(f"wrote {len(validation)} records to {args.out_dir / VALIDATION_FILE}")
    print(f"wrote {len(samples)} samples to {args.out_dir / SAMPLES_FILE}")


if __name__ == "__main__":
    main()
