"""Model answers shaped like those reinforcement fine-tuning produces, for the grader benchmark.

With `inferenceMaxTokens` up to 8,192 an answer of 30 KB is normal, and math RFT answers
reason at length in LaTeX before a final `\\boxed{}`. A benchmark of short plain answers
never exercises the code paths those answers take (brace matching, LaTeX clean-up, fence
and tag search over the whole text), so this module builds the four shapes graders meet:

- "plain": step-by-step reasoning in plain text, the bare result on the last line;
- "boxed": LaTeX-rich reasoning (`$...$`, `\\frac{}{}`, `\\sqrt{}`, aligned equations, set
  braces) ending in "the final answer is $\\boxed{...}$.";
- "fenced_json": LaTeX-rich reasoning, then a ```json block `{"answer": ..., "steps": [...]}`;
- "think": `<think>` LaTeX-rich reasoning `</think>`, a one-line summary, the bare result.

Every answer has the requested size in UTF-8 bytes, or at most SIZE_SLACK fewer (the text
is ASCII, so bytes are characters). Generation is deterministic: sample `index` of a
given shape, size and seed is always the same text. About one answer in four is wrong, as
in a real batch, so graders take their mismatch paths too.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SHAPES = ("plain", "boxed", "fenced_json", "think")
# How far below the requested size an answer may end: when whole paragraphs leave less
# room than a paragraph separator, nothing more is added.
SIZE_SLACK = 2
WRONG_EVERY = 4  # sample indexes divisible by this carry a wrong result
SYSTEM_PROMPT = "You are a careful mathematician. Reason step by step."


@dataclass(frozen=True)
class Problem:
    """A word problem, its reference answer and the answer a model gave."""

    question: str
    reference: str  # as a dataset stores it: "412" or "3/7"
    given: str  # the model's result in plain text
    given_latex: str  # the same result as it appears inside \boxed{}
    given_json: int | str  # and in the JSON block


def _problem(rng: random.Random, wrong: bool) -> Problem:
    if rng.random() < 0.7:
        boxes, pens, loose = rng.randint(12, 99), rng.randint(3, 48), rng.randint(1, 40)
        result = boxes * pens + loose + (rng.randint(1, 9) if wrong else 0)
        return Problem(
            question=(
                f"A crate holds {boxes} boxes of {pens} pens each, and {loose} loose pens lie "
                "on top. How many pens are there in total?"
            ),
            reference=str(boxes * pens + loose),
            given=str(result),
            given_latex=str(result),
            given_json=result,
        )
    # A probability as a reduced fraction that is not a whole number.
    total = rng.randint(6, 60)
    red = rng.choice([k for k in range(1, total) if total // math.gcd(k, total) > 1])
    divisor = math.gcd(red, total)
    numerator, denominator = red // divisor, total // divisor
    if wrong:
        numerator, denominator = numerator + 1, denominator + 1
    return Problem(
        question=(
            f"A bag holds {red} red and {total - red} blue marbles. One is drawn at random. "
            "What is the probability that it is red? Give a reduced fraction."
        ),
        reference=f"{red // divisor}/{total // divisor}",
        given=f"{numerator}/{denominator}",
        given_latex=f"\\frac{{{numerator}}}{{{denominator}}}",
        given_json=f"{numerator}/{denominator}",
    )


# --- reasoning steps ------------------------------------------------------------------------
# Each takes the generator and returns one paragraph of reasoning. The numbers are random;
# the arithmetic inside a step is right, as it mostly is in real answers.


def _latex_sum(rng: random.Random) -> str:
    x, y = rng.randint(10, 999), rng.randint(10, 999)
    return f"Let $x = {x}$ and $y = {y}$. Then $x + y = {x + y}$ and $x - y = {x - y}$."


def _latex_fraction(rng: random.Random) -> str:
    g = rng.randint(2, 12)
    p, q = g * rng.randint(1, 30), g * rng.randint(31, 60)
    d = math.gcd(p, q)
    return (
        f"We simplify $\\frac{{{p}}}{{{q}}} = \\frac{{{p // d}}}{{{q // d}}}$ by dividing the "
        f"numerator and the denominator by $\\gcd({p}, {q}) = {d}$."
    )


def _latex_root(rng: random.Random) -> str:
    a = rng.randint(3, 300)
    return (
        f"Squaring both sides gives $x^{{2}} = {a * a}$, so $x = \\sqrt{{{a * a}}} = {a}$ "
        "(the negative root is rejected because $x$ is a length)."
    )


def _latex_polynomial(rng: random.Random) -> str:
    c, d, e, a = rng.randint(2, 9), rng.randint(1, 20), rng.randint(1, 50), rng.randint(-9, 9)
    return (
        f"Substituting $x = {a}$ into $f(x) = {c}x^2 - {d}x + {e}$ gives "
        f"$f({a}) = {c} \\cdot ({a})^2 - {d} \\cdot ({a}) + {e} = {c * a * a - d * a + e}$."
    )


def _latex_aligned(rng: random.Random) -> str:
    c, a, d = rng.randint(2, 12), rng.randint(1, 99), rng.randint(1, 99)
    return (
        "Solving the linear equation step by step:\n$$\n\\begin{aligned}\n"
        f"{c}x + {d} &= {c * a + d} \\\\\n{c}x &= {c * a} \\\\\nx &= {a}\n"
        "\\end{aligned}\n$$"
    )


def _latex_set(rng: random.Random) -> str:
    items = sorted(rng.sample(range(1, 200), 4))
    return (
        f"The candidates form the set $S = \\{{{', '.join(map(str, items))}\\}}$, so "
        f"$|S| = 4$, $\\max S = {items[-1]}$ and $\\sum_{{s \\in S}} s = {sum(items)}$."
    )


def _latex_quadratic(rng: random.Random) -> str:
    r, s = rng.randint(-12, 12), rng.randint(-12, 12)
    b, c = -(r + s), r * s
    return (
        f"For $x^2 + ({b})x + ({c}) = 0$ the quadratic formula gives "
        f"$x = \\frac{{-({b}) \\pm \\sqrt{{({b})^2 - 4 \\cdot ({c})}}}}{{2}}$, and the "
        f"discriminant is ${b * b - 4 * c}$, so the roots are ${r}$ and ${s}$."
    )


def _latex_probability(rng: random.Random) -> str:
    n = rng.randint(5, 90)
    k = rng.randint(1, n - 1)
    return (
        f"Hence $P = \\frac{{{k}}}{{{n}}} \\approx {k / n:.4f}$, that is about "
        f"${100 * k / n:.1f}\\%$ of the cases."
    )


def _latex_check(rng: random.Random) -> str:
    a, b = rng.randint(11, 99), rng.randint(11, 99)
    return (
        f"Wait, let me double-check the previous step: ${a} \\times {b} = {a * b}$, so the "
        "answer so far still holds."
    )


def _latex_area(rng: random.Random) -> str:
    base, height = rng.randint(2, 80), rng.randint(2, 80)
    return (
        f"The triangle has area $A = \\frac{{1}}{{2}} \\cdot {base} \\cdot {height} = "
        f"{base * height / 2:g}$ square units."
    )


def _prose_cases(rng: random.Random) -> str:
    k = rng.randint(2, 40)
    return f"Next, split the count into the cases $k \\le {k}$ and $k > {k}$ and treat each."


def _plain_product(rng: random.Random) -> str:
    a, b = rng.randint(3, 99), rng.randint(3, 99)
    return f"Multiply the groups: {a} x {b} = {a * b}."


def _plain_sum(rng: random.Random) -> str:
    a, b = rng.randint(10, 999), rng.randint(1, 99)
    return f"Then add the {b} extra items to the running total: {a} + {b} = {a + b}."


def _plain_half(rng: random.Random) -> str:
    a = rng.randint(2, 60)
    return f"Half of {2 * a} is {a}, and {a} squared is {a * a}."


def _plain_check(rng: random.Random) -> str:
    a, b = rng.randint(100, 999), rng.randint(1, 99)
    return (
        f"Wait, let me re-check that subtraction: {a} - {b} = {a - b}, so the answer so far "
        "is still right."
    )


def _plain_groups(rng: random.Random) -> str:
    n, m = rng.randint(2, 30), rng.randint(2, 30)
    return (
        f"There are {n} groups of {m}, which gives {n * m} in total (sanity check: "
        f"{n * m} / {m} = {n})."
    )


def _plain_percent(rng: random.Random) -> str:
    q = rng.randint(3, 80)
    p = rng.randint(1, q - 1)
    return f"As a decimal {p}/{q} is about {p / q:.3f}, i.e. {100 * p / q:.1f}% of the whole."


Step = Callable[[random.Random], str]
LATEX_STEPS: tuple[Step, ...] = (
    _latex_sum,
    _latex_fraction,
    _latex_root,
    _latex_polynomial,
    _latex_aligned,
    _latex_set,
    _latex_quadratic,
    _latex_probability,
    _latex_check,
    _latex_area,
    _prose_cases,
)
PLAIN_STEPS: tuple[Step, ...] = (
    _plain_product,
    _plain_sum,
    _plain_half,
    _plain_check,
    _plain_groups,
    _plain_percent,
)


def _reasoning(rng: random.Random, steps: tuple[Step, ...], budget: int) -> str:
    """Paragraphs of reasoning of `budget` characters (at most SIZE_SLACK fewer)."""
    paragraphs: list[str] = []
    used = -2  # the first paragraph has no separator before it
    misses = 0
    # Whole steps while they fit; a step too long for what is left is skipped, not cut.
    while misses < 8:
        paragraph = rng.choice(steps)(rng)
        if used + 2 + len(paragraph) > budget:
            misses += 1
            continue
        paragraphs.append(paragraph)
        used += 2 + len(paragraph)
    # Then a line of intermediate values fills the rest, its last number as long as fits.
    room = budget - (used + 2 if paragraphs else 0)
    filler = "Intermediate values:" if room >= 30 else ""
    while True:
        free = room - len(filler) - (1 if filler else 0)
        if free < 1:
            break
        digits = min(4, free)
        filler += (" " if filler else "") + str(rng.randint(10 ** (digits - 1), 10**digits - 1))
    if filler:
        paragraphs.append(filler)
    return "\n\n".join(paragraphs)


def _json_block(rng: random.Random, problem: Problem, budget: int) -> str:
    """A ```json block of at most `budget` characters: the answer and short step notes."""
    notes = (
        "read the question",
        "multiply boxes by pens",
        "add the loose pens",
        "count the favourable cases",
        "reduce the fraction",
        "check the arithmetic",
        "simplify the expression",
    )
    steps: list[str] = []

    def block() -> str:
        return "```json\n" + json.dumps({"answer": problem.given_json, "steps": steps}) + "\n```"

    while True:
        steps.append(f"{rng.choice(notes)} ({rng.randint(1, 999)})")
        if len(block()) > budget:
            steps.pop()
            return block()


def answer_text(problem: Problem, shape: str, size: int, rng: random.Random) -> str:
    """The model's answer to `problem` in `shape`, of `size` bytes (see SIZE_SLACK)."""
    if shape == "plain":
        ending = f"\n\n{problem.given}"
        return _reasoning(rng, PLAIN_STEPS, size - len(ending)) + ending
    if shape == "boxed":
        ending = f"\n\nTherefore, the final answer is $\\boxed{{{problem.given_latex}}}$."
        return _reasoning(rng, LATEX_STEPS, size - len(ending)) + ending
    if shape == "fenced_json":
        # The JSON block is about a tenth of the answer: long answers list more steps.
        block = _json_block(rng, problem, max(90, size // 10))
        separator = "\n\n"
        body = _reasoning(rng, LATEX_STEPS, size - len(block) - len(separator))
        return body + separator + block
    if shape == "think":
        opening = "<think>\n"
        ending = f"\n</think>\n\nCombining the steps above gives the result.\n\n{problem.given}"
        return opening + _reasoning(rng, LATEX_STEPS, size - len(opening) - len(ending)) + ending
    raise ValueError(f"shape: got {shape!r}; allowed: {', '.join(SHAPES)}")


def sample(shape: str, size: int, index: int, seed: int = 0) -> dict[str, Any]:
    """One Bedrock RFT grader sample (as the Lambda event holds it) for `index`."""
    # A string seed is hashed with SHA-512 by `random`, so it does not depend on PYTHONHASHSEED.
    rng = random.Random(f"{seed}:{shape}:{size}:{index}")
    problem = _problem(rng, wrong=index % WRONG_EVERY == 0)
    return {
        "id": f"sample-{index}",
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": problem.question},
            {"role": "assistant", "content": answer_text(problem, shape, size, rng)},
        ],
        "metadata": {"reference_answer": problem.reference, "task_id": f"t-{index}"},
    }


def answer_event(shape: str, size: int, samples: int, seed: int = 0) -> list[dict[str, Any]]:
    """A grader Lambda event: `samples` answers of `shape`, each of `size` bytes."""
    if shape not in SHAPES:
        raise ValueError(f"shape: got {shape!r}; allowed: {', '.join(SHAPES)}")
    if size < 120:
        raise ValueError(f"size: got {size}; allowed: 120 bytes or more (room for the ending)")
    return [sample(shape, size, index, seed) for index in range(samples)]
