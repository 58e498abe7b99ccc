"""Rule-based prompt complexity scorer for routing between a weak and a strong model tier.

Each prompt is reduced to a handful of *dimensions*, each in ``[0, 1]`` (see ``DIMENSIONS``),
which are combined by a logistic model::

    z     = BIAS + sum(weight[d] * value[d] for d in DIMENSIONS)
    score = 1 / (1 + exp(-z))

A score ``>= DEFAULT_THRESHOLD`` means "send to the strong tier". Weights and the bias were
fitted on the ``train`` split of ``tests/data/complexity_prompts.jsonl`` (see
``docs/complexity-scorer.md``). Three dimensions carry negative weights because they mark
prompts that small models handle well: ``simple_intent``, ``creative`` and ``multiple_choice``.

Hot-path design: every table and regex is built at import time. A call lower-cases and
tokenises the text once (``bytes.translate`` + ``split``), looks words and word pairs up in
frozensets, and runs a few structural regexes that are either anchored on a literal (``\\n``)
or skipped by a cheap prefilter. At most ``max_chars`` characters (head + tail) are analysed,
so the cost is bounded whatever the input size; ``length`` still uses the true length.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from types import MappingProxyType

__all__ = [
    "BIAS",
    "DEFAULT_THRESHOLD",
    "DEFAULT_WEIGHTS",
    "DIMENSIONS",
    "ComplexityScore",
    "ComplexityScorer",
]

DIMENSIONS: tuple[str, ...] = (
    "math",
    "code",
    "reasoning",
    "length",
    "entities",
    "constraints",
    "multi_step",
    "technical",
    "quantities",
    "simple_intent",
    "creative",
    "multiple_choice",
)

#: Logistic weights per dimension (fitted on the train split, rounded; see the docs).
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "math": 2.75,
        "code": 2.0,
        "reasoning": 3.75,
        "length": 1.5,
        "entities": 0.25,
        "constraints": 1.75,
        "multi_step": 0.25,
        "technical": 2.75,
        "quantities": 2.25,
        "simple_intent": -1.75,
        "creative": -1.0,
        "multiple_choice": -1.25,
    }
)

#: Intercept of the logistic model.
BIAS: float = -1.75

#: Score at or above which a prompt should go to the strong tier.
DEFAULT_THRESHOLD: float = 0.5

_MIN_MAX_CHARS = 64

# --------------------------------------------------------------------------------------------
# Word vocabularies: matched on lower-cased tokens; each distinct word counts once, so
# repetition in long pasted text does not inflate a dimension.
# --------------------------------------------------------------------------------------------

_MATH_WORDS = """
integer integers prime primes polynomial polynomials equation equations integral integrals
derivative derivatives probability probabilities remainder divisible divisor divisors matrix
matrices eigenvalue eigenvalues theorem lemma modulo mod gcd lcm factorial permutation
permutations combinations combinatorics sequence sequences series converge convergent
convergence diverge divergent limit triangle circle radius diameter perimeter parabola
hexagon polygon hypotenuse digit digits coefficient coefficients roots root logarithm log
exponent exponential sqrt irrational rational reals subsets subset lattice inscribed
circumscribed circumscribing vertices vertex tangent sine cosine sin cos tan determinant
homomorphism homomorphisms abelian isomorphic recurrence expectation variance infinitely
infinity asymptotic maximise maximize minimise minimize maximum minimum solutions solve
compute simplify fraction fractions ratio geometric quadratic cubic consecutive
""".split()

_CODE_WORDS = """
python javascript typescript java rust golang c++ cpp haskell kotlin swift sql bash css html
function functions implement implementation algorithm algorithms complexity recursion
recursive iterative array arrays string strings hashmap heap trie tree trees graph graphs
pointer pointers queue stack thread threads concurrency concurrent mutex async await asyncio
callback callbacks api regex query queries schema index indexes compile compiler runtime
debug bug bugs refactor parser parse kernel cuda decorator exception exceptions memory leak
cache lru latency throughput microservices kubernetes docker bitmask bitmasks binary code
program script useeffect react thread-safe lock-free
""".split()

_REASONING_WORDS = """
prove proof proofs derive derivation justify justification why analyse analyze analysis
evaluate evaluation critique critically compare comparison contrast trade-off trade-offs
implications assess reasoning rigorous rigorously counterexample deduce infer inference
hypothesis argument valid invalid validity optimal optimise optimize efficient efficiently
determine discuss mechanism mechanisms consequences diagnose diagnostic explain design
strategy assumptions formally demonstrate generalise generalize well-defined
""".split()

_CONSTRAINT_WORDS = """
must exactly least most without never avoid only each every ensure constraint constraints
requirement requirements require requires limited capped exclude excluding unless except
neither nor don't cannot within strictly
""".split()

_MULTI_STEP_WORDS = """
first then next finally afterwards additionally step steps stage phase phased second third
subsequently extend
""".split()

_TECHNICAL_WORDS = """
quantum entropy thermodynamics relativity momentum wavefunction hamiltonian renormalization
stoichiometry enthalpy oxidation molarity equilibrium hybridization catalytic nucleophile
solvation enzyme allele genotype phenotype transcription crispr amyloid inhibitors
pathophysiology pharmacology contraindication diagnosis prognosis inr warfarin guidelines
tort jurisdiction statute plaintiff defendant precedent constitutional amendment treaty
conveyance perpetuities liability gdpr compliance elasticity macroeconomic monetary fiscal
arbitrage inflation recession keynesian monetarist equilibria liquidity portfolio dilution
valuation amortization regression heteroskedasticity bayesian posterior likelihood estimator
causal econometrics meta-analysis confounding distributed consensus paxos raft replication
partition idempotent serializable transactional cryptography encryption hashing protocol
topological asymptotically epistemology ontology utilitarian deontological kantian paradigm
jurisprudence semantics legal lawsuit litigation contract tenant landlord tax taxes
refinancing mortgage undecidable decidable np-complete invariant virology
""".split()

_SIMPLE_WORDS = """
hi hello hey thanks thank joke jokes pun puns recommend suggest suggestion favourite
favorite fun funny quick quickly simple simply briefly cozy tips idea ideas spell spelled
plural synonym synonyms translate translation summarise summarize summary tl dr rewrite
rephrase shorter title caption meaning mean define definition abbreviation
""".split()

_CREATIVE_WORDS = """
poem poems poetry haiku limerick story stories bedtime slogan caption tweet blog letter
invitation song lyrics pretend imagine roleplay role-play birthday greeting quote cheerful
upbeat rhyming vivid
""".split()

_CREATIVE_VERBS = frozenset("write draft compose create come".split())
_CREATIVE_NOUNS = frozenset(
    "poem story limerick haiku slogan caption tweet blog letter note email message paragraph "
    "description song speech name names".split()
)

# Word pairs: (first, second) -> (dimension, weight).
_BIGRAMS: dict[tuple[str, str], tuple[str, float]] = {}


def _add_bigrams(dim: str, weight: float, phrases: str) -> None:
    """Register comma-separated two-word phrases for ``dim``."""
    for phrase in phrases.split(","):
        first, second = phrase.split()
        _BIGRAMS[(first, second)] = (dim, weight)


_add_bigrams(
    "math",
    1.5,
    "positive integers,positive integer,consecutive integers,real numbers,real roots,"
    "distinct integers,many ways,ordered pairs,largest possible,smallest possible,"
    "smallest positive,greatest possible,least positive,perfect square,perfect squares,"
    "perfect cube,common fraction,simplest form,radical form,integer solutions,prime factors",
)
_add_bigrams(
    "code",
    1.5,
    "a function,python function,a program,a class,a script,sql query,time complexity,"
    "space complexity,linked list,binary search,dynamic programming,unit tests,big o",
)
_add_bigrams(
    "reasoning",
    1.5,
    "show that,step by,explain why,explain how,would happen,how would,why is,why does,"
    "why do,in light,no faster,edge cases,what if,walk through,identify the",
)
_add_bigrams(
    "constraints",
    1.5,
    "at least,at most,no more,fewer than,less than,more than,do not,must not,such that,"
    "no two,which case,per week,per day",
)
_add_bigrams(
    "technical",
    2.0,
    "abstract algebra,formal logic,machine learning,electrical engineering,college mathematics,"
    "college physics,college chemistry,college medicine,moral scenarios,professional law,"
    "professional medicine,professional accounting,clinical knowledge,conceptual physics,"
    "number theory,real analysis,linear algebra,organic chemistry,quantum mechanics,"
    "computer science,school mathematics,school physics,school statistics,school chemistry",
)
_add_bigrams(
    "simple_intent",
    1.0,
    "one sentence,one line,year old,simple words,simple terms,fun fact,fun facts,yes or,"
    "stand for,does the,how do,how can,just a,quick opinion",
)
_add_bigrams("creative", 1.5, "pretend you,imagine you,act as,role play")
_BIGRAM_KEYS: frozenset[tuple[str, str]] = frozenset(_BIGRAMS)


def _build_vocab(groups: Iterable[tuple[str, Iterable[str]]]) -> dict[str, str]:
    """Map each word to its dimension; the first group that claims a word wins."""
    vocab: dict[str, str] = {}
    for dim, words in groups:
        for word in words:
            vocab.setdefault(word, dim)
    return vocab


_VOCAB: dict[str, str] = _build_vocab(
    (
        ("simple_intent", _SIMPLE_WORDS),
        ("creative", _CREATIVE_WORDS),
        ("math", _MATH_WORDS),
        ("code", _CODE_WORDS),
        ("reasoning", _REASONING_WORDS),
        ("technical", _TECHNICAL_WORDS),
        ("constraints", _CONSTRAINT_WORDS),
        ("multi_step", _MULTI_STEP_WORDS),
    )
)
_VOCAB_KEYS: frozenset[str] = frozenset(_VOCAB)

_ENTITY_STOPWORDS: frozenset[str] = frozenset(
    "The A An It He She They We I You This That These Those If In On At For And But Or So "
    "What How Why When Where Which Who Then Each Every Is Are Do Does Can Could Would Should "
    "Please Let Given Write Make Give Find Use Also Now After Before Once My Our Your".split()
)

# Openers: the first one or two words of the first few lines and of the last line.
_HARD_OPENERS: frozenset[str] = frozenset(
    "prove derive implement design analyse analyze critically determine evaluate démontrez "
    "démontrer beweisen demuestra demuestre dimostra докажите".split()
) | frozenset({"show that", "find all"})
_SIMPLE_OPENERS: frozenset[str] = frozenset(
    "hi hey hello thanks define recommend suggest translate spell summarise summarize "
    "summary tl rewrite list fix what's".split()
) | frozenset(
    {
        "thank you",
        "good morning",
        "good night",
        "what is",
        "what are",
        "what does",
        "who is",
        "who was",
        "who wrote",
        "who invented",
        "who painted",
        "when did",
        "when was",
        "where is",
        "which country",
        "how do",
        "how can",
        "can you",
        "tell me",
        "give me",
    }
)

# --------------------------------------------------------------------------------------------
# Structural regexes (compiled once). Line-start features are anchored on a literal "\n"
# (the text is prefixed with one) so the regex engine can skip quickly between lines.
# --------------------------------------------------------------------------------------------

# ASCII punctuation (except ' - + #) becomes a space. Applied to UTF-8 bytes: ASCII bytes never
# occur inside multi-byte sequences, and bytes.translate is fast for any script.
_PUNCT = "".join(c for c in string.punctuation if c not in "'-+#") + "\t\r"
_PUNCT_TO_SPACE = bytes.maketrans(_PUNCT.encode("ascii"), b" " * len(_PUNCT))
_LATEX_RE = re.compile(r"\\[A-Za-z]+|\$[\\A-Za-z{(]|\^\{|_\{")
_MATH_SYM_RE = re.compile(r"[∑∫√≤≥≠≈π∞±×÷∈∀∃≡∂∇θλ²³]")
_OPERATOR_RE = re.compile(r"[\^=<>+*/]")
_ENTITY_RE = re.compile(r" [A-Z][A-Za-z'-]+")
_SNAKE_RE = re.compile(r"[a-z]_[a-z]")
_LINE_RE = re.compile(
    r"\n[ \t]*(?:"
    r"(?P<mc>\(?[A-Da-d][).:][ \t]|[Oo]ption ?\d)"
    r"|(?P<enum>(?:\d{1,2}[.)]|[-*•])[ \t])"
    r"|(?P<code>def |class |import |from \S+ import|#include|public |private |return\b|"
    r"for ?\(|if ?\(|while ?\(|const |let |var |function\b|fn |func |SELECT |\"\"\"|>>> |[{}])"
    r")"
)
_MULTILINGUAL_HARD_RE = re.compile(
    r"d[ée]montr|prouve|beweis|demuestr|demostr|dimostr|докаж|доказ|证明|証明|"
    r"algoritm|algorithm|算法|アルゴリズム|алгоритм|реализ|analis|analys|анализ|分析|"
    r"probabil|wahrscheinlich|вероятн|概率|確率|方程|ecuaci|équation|gleichung|уравнен|"
    r"complejidad|complexit|复杂度|計算量|сложност|critic|推广|一般化|議論"
)

_OPERAND_CHARS = frozenset(string.ascii_letters + string.digits + "()")
_DIGITS = frozenset(string.digits)

# Saturation scales: value = 1 - exp(-raw / scale).
_SCALES: Mapping[str, float] = MappingProxyType(
    {
        "math": 3.0,
        "code": 3.0,
        "reasoning": 2.0,
        "entities": 6.0,
        "constraints": 4.0,
        "multi_step": 4.0,
        "technical": 2.0,
        "quantities": 5.0,
        "simple_intent": 1.5,
        "creative": 1.5,
    }
)

_LEN_LO = math.log(60.0)
_LEN_HI = math.log(3000.0)
_MAX_OPERATORS = 32
_HEAD_LINES = 6
_LAYOUT_HEAD = 3072  # line-layout regexes look at this many leading characters ...
_LAYOUT_TAIL = 1024  # ... and this many trailing ones


@dataclass(frozen=True, slots=True)
class ComplexityScore:
    """Result of scoring one prompt: overall score and per-dimension values, all in [0, 1]."""

    score: float
    dimensions: Mapping[str, float]


def _sat(raw: float, scale: float) -> float:
    """Monotone saturating map from a non-negative count to ``[0, 1)``."""
    if raw <= 0.0:
        return 0.0
    return 1.0 - math.exp(-raw / scale)


def _length_value(n_chars: int) -> float:
    """Log-scaled length: 0 at <= 60 chars, 1 at >= 3000 chars."""
    if n_chars <= 60:
        return 0.0
    return min(1.0, (math.log(n_chars) - _LEN_LO) / (_LEN_HI - _LEN_LO))


def _window(text: str, max_chars: int) -> str:
    """Head and tail of ``text`` totalling at most ``max_chars`` characters."""
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    return text[:half] + "\n" + text[-half:]


def _is_operand(text: str, i: int, step: int) -> bool:
    """Whether the character next to an operator (skipping one space) looks like an operand."""
    j = i + step
    if 0 <= j < len(text) and text[j] == " ":
        j += step
    if not 0 <= j < len(text):
        return False
    ch = text[j]
    if ch not in _OPERAND_CHARS:
        return False
    if ch.isalpha():  # a single-letter variable, not the edge of a word
        k = j + step
        return not (0 <= k < len(text) and text[k].isalpha())
    return True


def _math_expressions(text: str) -> int:
    """Count operators with operands on both sides (``x^2``, ``3 * 4``, ``a + b``), capped."""
    found = 0
    for n, m in enumerate(_OPERATOR_RE.finditer(text)):
        if n >= _MAX_OPERATORS:
            break
        i = m.start()
        if _is_operand(text, i, -1) and _is_operand(text, i, 1):
            found += 1
    return found


def _flatten(lower: str) -> str:
    """Replace ASCII punctuation by spaces (lone surrogates survive the round trip)."""
    data = lower.encode("utf-8", "surrogatepass").translate(_PUNCT_TO_SPACE)
    return data.decode("utf-8", "surrogatepass")


def _line_openers(flat: str) -> tuple[int, int]:
    """(hard, simple) opener hits among the first few lines and the last line of ``flat``."""
    lines = flat.split("\n", _HEAD_LINES)
    if len(lines) > _HEAD_LINES:  # keep the head lines and the very last line
        rest = lines.pop()
        lines.append(rest[rest.rfind("\n") + 1 :])
    hard = simple = 0
    for line in lines:
        words = line[:48].split(None, 2)
        if not words:
            continue
        pair = " ".join(words[:2])
        if words[0] in _HARD_OPENERS or pair in _HARD_OPENERS:
            hard += 1
        elif words[0] in _SIMPLE_OPENERS or pair in _SIMPLE_OPENERS:
            simple += 1
    return hard, simple


def _word_evidence(raw: dict[str, float], lower: str) -> None:
    """Add vocabulary, word-pair, opener, number and long-word evidence to ``raw``."""
    flat = _flatten(lower)
    tokens = flat.split()
    words = set(tokens)
    for word in _VOCAB_KEYS.intersection(words):
        raw[_VOCAB[word]] += 1.0
    for pair in _BIGRAM_KEYS.intersection(pairwise(tokens)):
        dim, weight = _BIGRAMS[pair]
        raw[dim] += weight
    if not _CREATIVE_VERBS.isdisjoint(words) and not _CREATIVE_NOUNS.isdisjoint(words):
        raw["creative"] += 1.5
    long_words = numbers = 0
    for word in words:
        if word[0] in _DIGITS:
            numbers += 1
        elif len(word) >= 12:
            long_words += 1
    raw["technical"] += 0.5 * min(long_words, 8)
    raw["quantities"] += min(numbers, 20)
    hard, simple = _line_openers(flat)
    raw["reasoning"] += 1.5 * hard
    raw["simple_intent"] += simple


def _layout_window(text: str) -> str:
    """Newline-prefixed head (and tail) of ``text`` used by the line-layout regex."""
    if len(text) <= _LAYOUT_HEAD + _LAYOUT_TAIL:
        return "\n" + text
    return "\n" + text[:_LAYOUT_HEAD] + "\n" + text[-_LAYOUT_TAIL:]


def _structure_evidence(raw: dict[str, float], text: str, lower: str) -> bool:
    """Add symbol/layout evidence to ``raw``; return whether multiple-choice options exist."""
    if "\\" in text or "$" in text or "^{" in text or "_{" in text:
        raw["math"] += 1.5 * min(len(_LATEX_RE.findall(text)), 6)
    raw["math"] += min(_math_expressions(text), 6)
    if not text.isascii():
        raw["math"] += min(len(_MATH_SYM_RE.findall(text)), 4)
        raw["reasoning"] += 1.5 * min(len(_MULTILINGUAL_HARD_RE.findall(lower)), 4)
    code_syms = (
        text.count("{")
        + text.count(";")
        + text.count("==")
        + text.count("()")
        + text.count("->")
        + text.count("=>")
    )
    if "_" in text:
        code_syms += len(_SNAKE_RE.findall(text))
    raw["code"] += 3.0 * min(text.count("```"), 2) + 0.25 * min(code_syms, 16)
    if "o(" in lower:
        raw["code"] += 1.0
    counts = {"mc": 0, "enum": 0, "code": 0}
    if "\n" in text:
        for m in _LINE_RE.finditer(_layout_window(text)):
            kind = m.lastgroup
            if kind is not None:
                counts[kind] += 1
    raw["code"] += min(counts["code"], 6)
    questions = text.count("?") + text.count("？")
    raw["multi_step"] += min(counts["enum"], 8) + max(0, min(questions, 6) - 1)
    names = set(_ENTITY_RE.findall(text))
    raw["entities"] = float(min(sum(1 for n in names if n[1:] not in _ENTITY_STOPWORDS), 20))
    inline_mc = ("(b)" in lower and "(c)" in lower) or "option 2" in lower
    return counts["mc"] >= 2 or inline_mc


def _dimension_values(text: str, true_len: int) -> dict[str, float]:
    """All dimension values in ``[0, 1]``, in ``DIMENSIONS`` order."""
    lower = text.lower()
    raw = dict.fromkeys(_SCALES, 0.0)
    _word_evidence(raw, lower)
    multiple_choice = _structure_evidence(raw, text, lower)
    values = {dim: _sat(raw[dim], scale) for dim, scale in _SCALES.items()}
    # A "simple" phrasing ("what is ...", "how do I ...") only signals an easy task when the
    # prompt carries no math, code or expert content.
    values["simple_intent"] *= 1.0 - max(values["math"], values["code"], values["technical"])
    values["length"] = _length_value(true_len)
    values["multiple_choice"] = 1.0 if multiple_choice else 0.0
    return {dim: values[dim] for dim in DIMENSIONS}


def _validate_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Merge ``weights`` over the defaults; reject unknown names and non-finite values."""
    merged = dict(DEFAULT_WEIGHTS)
    for name, value in weights.items():
        if name not in merged:
            known = ", ".join(DIMENSIONS)
            raise ValueError(f"unknown complexity dimension {name!r} (known: {known})")
        fvalue = float(value)
        if not math.isfinite(fvalue):
            raise ValueError(f"weight for complexity dimension {name!r} must be finite")
        merged[name] = fvalue
    return merged


def _logistic(z: float) -> float:
    """Numerically safe logistic function."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


class ComplexityScorer:
    """Scores how much a prompt needs a strong model; see the module docstring for the formula."""

    __slots__ = ("_max_chars", "_weights")

    def __init__(self, weights: Mapping[str, float] | None = None, max_chars: int = 16000) -> None:
        if isinstance(max_chars, bool) or not isinstance(max_chars, int):
            raise TypeError("max_chars must be an int")
        if max_chars < _MIN_MAX_CHARS:
            raise ValueError(f"max_chars must be >= {_MIN_MAX_CHARS}, got {max_chars}")
        merged = _validate_weights(weights or {})
        self._weights: tuple[tuple[str, float], ...] = tuple((d, merged[d]) for d in DIMENSIONS)
        self._max_chars = max_chars

    @property
    def weights(self) -> Mapping[str, float]:
        """Effective weight per dimension."""
        return MappingProxyType(dict(self._weights))

    @property
    def max_chars(self) -> int:
        """Maximum number of characters analysed per prompt."""
        return self._max_chars

    def score(self, text: str) -> ComplexityScore:
        """Score ``text``; never raises for any ``str`` input."""
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        values = _dimension_values(_window(text, self._max_chars), len(text))
        z = BIAS
        for dim, weight in self._weights:
            z += weight * values[dim]
        return ComplexityScore(score=_logistic(z), dimensions=MappingProxyType(values))
