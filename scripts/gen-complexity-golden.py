#!/usr/bin/env python3
"""Regenerate ``tests/data/complexity_golden.json``: the complexity scorer's exact outputs.

``tests/unit/test_complexity_golden.py`` checks that ``ComplexityScorer.score`` reproduces
these values within 1e-9, so that speed work on the scorer cannot change a single score.

Regenerate ONLY when the scores are meant to change (new weights, vocabulary, scales or
features), and say so in the commit message::

    .venv/bin/python scripts/gen-complexity-golden.py

The file holds, for every prompt of ``tests/data/complexity_prompts.jsonl`` and
``tests/data/replay_trace.jsonl`` (keyed by file name and line index), and for a set of
synthetic edge cases stored inline, the score and every dimension value (a list in the order
of the top-level ``dimensions`` names, which must equal ``DIMENSIONS``). Long synthetic
prompts are stored as ``parts``: ``[[chunk, times], ...]`` joined in order.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.signals.complexity import DIMENSIONS, ComplexityScorer  # noqa: E402

DATA = ROOT / "tests" / "data"
OUT = DATA / "complexity_golden.json"
JSONL_FILES = ("complexity_prompts.jsonl", "replay_trace.jsonl")

# Short synthetic prompts: edge cases for every feature of the scorer.
SHORT_CASES: tuple[str, ...] = (
    "",
    " ",
    "\n",
    " \t\r\n\x0b\x0c\u00a0\u2028\u3000 ",
    "Hi there!",
    "Prove infinitely many primes exist; analyse complexity step by step.",
    "Prove that sqrt(2) is irrational.",
    "What is the capital of France?",
    "thank you!! good morning :)",
    "\ud800",
    "\udfff abc \ud800\udc00 \ud83d\ude00",
    "prove \ud800 that x^2 + 1 = 0 has no real roots",
    "证明：对于所有正整数 n，n^3 - n 能被 6 整除。",
    "請分析這個算法的時間複雜度。",
    "Докажите, что существует бесконечно много простых чисел. Какова сложность алгоритма?",
    "Démontrez que la suite converge. Quelle est la probabilité ?",
    "İstanbul ΣΊΣΥΦΟΣ straße ǅemal ﬁnancial ＡＢＣ １２３ ？？",
    "Let $\\sum_{k=1}^{n} k^2 = \\frac{n(n+1)(2n+1)}{6}$; prove it with \\int_0^1 x^{2} dx.",
    "∑ ∫ √ ≤ ≥ ≠ ≈ π ∞ ± × ÷ ∈ ∀ ∃ ≡ ∂ ∇ θ λ ² ³",
    *"+x|x+|a+b|a + b|ab + cd|3*4=12|x^2|(a)/(b)|= = =|1<2>3".split("|"),
    "a" + " + b" * 40,
    "```python\ndef f(x):\n    return x\n```\n```js\nconst a = () => 1;\n```",
    "def add(a, b):\n    return a + b\n\nclass Foo:\n    pass\nimport os\nfrom x import y",
    "#include <stdio.h>\nint main() { for(;;) { if(x == 1) return 0; } }",
    "SELECT * FROM t;\n>>> print(1)\nfn main() {}\nfunc x() {}\nlet a = 1; var b = 2;",
    "Use snake_case names like max_value and is_ok -> bool => x; what is O(n log n)?",
    "Which is correct?\nA. one\nB. two\nC. three\nD. four",
    "Question:\n(a) red\n(b) blue\n(c) green",
    "Pick (a) or (b) or (c).",
    "Option 1: stay. Option 2: go.",
    "Choose:\n  option1 x\n  Option 2 y",
    "Steps:\n1. First do this.\n2) Then that.\n- bullet\n* star\n• dot\n10. ten",
    "Why? How? When? Where? What? Who? Really？",
    "Write a poem about the sea.",
    "Pretend you are a pirate and act as my role play partner; compose a haiku.",
    "Write a Python function that implements binary search in O(log n) time complexity.",
    "In abstract algebra, show that every group of prime order is cyclic.",
    "I don't want c++ or lock-free thread-safe code; it must not exceed 10 ms per day.",
    "Numbers: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 3.14 1e9",
    "Supercalifragilistic internationalization counterrevolutionary electroencephalography "
    "incomprehensibilities uncharacteristically telecommunications institutionalization "
    "disproportionately",
    "Alice met Bob in Paris and London with NASA, IBM, O'Brien and Jean-Luc The It We.",
    "Explain why the sky is blue in one sentence, for a 5 year old.",
    "tl;dr: summarise this",
    "what's up\nhello\nhey\nthanks\ndefine x\nprove y\nfind all z\nshow that w\nlast: derive",
    "line1\nline2\nline3\nline4\nline5\nline6\nline7\nline8\nprove it",
    "a\n\n\n\n\n\n\n\n\n\nsummarise",
    "\n\n\n",
    "x\r\ny\r\n\tz",
    "tab\tseparated\twords\tprove",
    "punctuation!!!???...,,,;;;:::\"\"\"'''---+++###@@@$$$%%%^^^&&&***((()))[[[]]]{{{}}}|||~~~`",
    "Given integers a, b: if gcd(a, b) = 1, then there exist x, y such that ax + by = 1.",
    "mod 7 remainder when 2^100 is divided by 7; positive integers only; at least one.",
    "Design a distributed consensus protocol (Paxos vs Raft) with idempotent replication.",
    "Bitte beweisen Sie die Gleichung. Wahrscheinlichkeit? 方程 ecuación сложность 複雑度",
    "emoji 😀🚀 text 🎉 with ZWJ 👨‍👩‍👧 and combining e\u0301",
    "\x00\x01\x02 control chars \x7f",
    "UPPER CASE PROMPT: PROVE THAT THE ALGORITHM IS OPTIMAL.",
)

# Alphabet for the seeded random prompts: vocabulary, phrases and structural snippets.
# fmt: off
_FUZZ_TOKENS: tuple[str, ...] = (
    "prove", "that", "show", "the", "a", "function", "python", "integer", "integers",
    "positive", "step", "by", "why", "how", "do", "what", "is", "poem", "write", "hi",
    "thanks", "at", "least", "must", "not", "first", "then", "quantum", "entropy", "x^2",
    "a+b", "3 * 4", "=", "==", "->", "{", "}", ";", "()", "o(n)", "O(n)", "$\\frac", "\\sum",
    "^{2}", "_{i}", "snake_case", "```", "\n", "\n\n", "\nA. ", "\n(b) ", "\n1. ", "\n- ",
    "\ndef ", "\nclass ", "\n>>> ", "?", "？", "!", ".", ",", "'", "-", "#", "(b)", "(c)",
    "option 2", "Paris", "Alice", "NASA", "The", "42", "3.14", "2024", "证明", "算法",
    "докажите", "démontrez", "√", "≤", "π", "\ud800", "é", "İ", "\t", "\r\n",
    "internationalization", "characteristically", "don't", "c++", "lock-free",
    "time complexity", "linked list", "abstract algebra", "role play", "act as",
    "in one sentence", "year old", "how do", "what is", "tell me", "find all",
)
# fmt: on


def fuzz_prompts(count: int, seed: int = 20240601) -> list[str]:
    """Seeded random prompts mixing vocabulary and structure (the golden file stores them)."""
    rng = random.Random(seed)
    prompts = []
    for _ in range(count):
        n = rng.randint(1, 60)
        seps = (" ", " ", " ", "", "\n")
        prompts.append("".join(rng.choice(_FUZZ_TOKENS) + rng.choice(seps) for _ in range(n)))
    return prompts


# Long synthetic prompts as parts: [[chunk, times], ...]; they cross the layout and
# ``max_chars`` windows (3072 + 1024 and 16000 characters) at varied positions.
_PARA = (
    "Prove that the algorithm terminates. Let x^2 + y = 3 and f(n) = O(n log n); "
    "Alice and Bob in Paris compute 17 items.\n"
)
LONG_CASES: tuple[tuple[str, list[list[Any]], int | None], ...] = (
    ("para_4096", [[_PARA, 4096 // len(_PARA)], ["x", 4096 % len(_PARA)]], None),
    ("para_4097", [[_PARA, 4096 // len(_PARA)], ["xy", 1], ["x", 4096 % len(_PARA) - 1]], None),
    ("window_16000", [["a", 15990], ["\nprove it", 1], ["b", 1]], None),
    ("window_16001", [["a", 15990], ["\nprove it", 1], ["bc", 1]], None),
    ("mixed_20k", [[_PARA, 20000 // len(_PARA) + 1]], None),
    ("mc_tail", [["Read this. " * 10, 200], ["\nA. yes\nB. no\nC. maybe\nD. never", 1]], None),
    ("newlines_20k", [["\n", 20000]], None),
    ("newlines_words", [["prove\n", 5000]], None),
    ("cjk_20k", [["证明这个算法的复杂度。", 2000]], None),
    ("cyrillic_20k", [["докажите теорему. ", 1200]], None),
    ("surrogates_20k", [["\ud800 x ", 5000]], None),
    ("spaces_20k", [[" ", 20000], ["hi", 1]], None),
    ("head_tail_distinct", [["Prove the theorem. ", 1000], ["poem ", 2000], ["Thanks!", 1]], None),
    ("code_40k", [["def f(x):\n    return x == 1; // {}\n", 1200]], None),
    ("big_5mb", [["Lorem ipsum dolor sit amet, x^2 + y = 3.\n", 130000]], None),
    ("max_chars_64_cut", [["Prove it. Hello there friend. ", 10], ["tail words", 1]], 64),
    ("max_chars_64_short", [["What is 2+2?", 1]], 64),
    ("max_chars_100_odd", [["abc ", 40], ["İstanbul", 3]], 101),
    ("lower_expands", [["İ", 9000], [" prove", 1]], None),
)

# Non-str inputs: ``score`` coerces them (None -> "", else str()).
NON_STR_CASES: tuple[Any, ...] = (None, 12345, 4.5, True)


def build_prompt(parts: list[list[Any]]) -> str:
    """Join ``[[chunk, times], ...]``."""
    return "".join(chunk * times for chunk, times in parts)


def result(scorer: ComplexityScorer, text: Any) -> dict[str, Any]:
    """Score and dimension values of one prompt (values listed in ``DIMENSIONS`` order)."""
    res = scorer.score(text)
    assert tuple(res.dimensions) == DIMENSIONS
    return {"score": res.score, "dimensions": list(res.dimensions.values())}


def _dump(golden: dict[str, Any]) -> str:
    """JSON with one prompt per line; ASCII-escaped, so lone surrogates round-trip."""
    files = ",\n".join(
        f"  {json.dumps(name)}: [\n" + ",\n".join(f"   {json.dumps(r)}" for r in rows) + "\n  ]"
        for name, rows in golden["files"].items()
    )
    synthetic = ",\n".join(f"  {json.dumps(r)}" for r in golden["synthetic"])
    return (
        "{\n"
        f' "about": {json.dumps(golden["about"])},\n'
        f' "dimensions": {json.dumps(golden["dimensions"])},\n'
        f' "files": {{\n{files}\n }},\n'
        f' "synthetic": [\n{synthetic}\n ]\n'
        "}\n"
    )


def main() -> None:
    scorer = ComplexityScorer()
    files: dict[str, list[dict[str, Any]]] = {}
    for name in JSONL_FILES:
        with (DATA / name).open(encoding="utf-8") as fh:
            prompts = [json.loads(line)["prompt"] for line in fh if line.strip()]
        files[name] = [result(scorer, p) for p in prompts]
    synthetic: list[dict[str, Any]] = []
    for case in (*SHORT_CASES, *fuzz_prompts(300)):
        # score the string the test reads back: JSON joins an escaped surrogate pair
        # ("\ud800\udc00") into one character, so the stored text can be shorter than the case
        prompt = json.loads(json.dumps(case))
        synthetic.append({"prompt": prompt, **result(scorer, prompt)})
    for name, parts, max_chars in LONG_CASES:
        custom = scorer if max_chars is None else ComplexityScorer(max_chars=max_chars)
        entry: dict[str, Any] = {"name": name, "parts": parts}
        if max_chars is not None:
            entry["max_chars"] = max_chars
        synthetic.append({**entry, **result(custom, build_prompt(parts))})
    for value in NON_STR_CASES:
        synthetic.append({"prompt": value, **result(scorer, value)})
    golden = {
        "about": "Exact ComplexityScorer outputs; regenerate with scripts/gen-complexity-golden.py "
        "only when scores are meant to change.",
        "dimensions": list(DIMENSIONS),
        "files": files,
        "synthetic": synthetic,
    }
    OUT.write_text(_dump(golden), encoding="utf-8")
    total = sum(len(v) for v in files.values()) + len(synthetic)
    print(f"wrote {OUT.relative_to(ROOT)}: {total} prompts")


if __name__ == "__main__":
    main()
