"""Rule-based prompt complexity scorer for routing between a weak and a strong model tier.

Each prompt is reduced to a handful of *dimensions*, each in ``[0, 1]`` (see ``DIMENSIONS``).
They are combined by a logistic model::

    z     = BIAS + sum(weight[d] * value[d] for d in DIMENSIONS)
    score = 1 / (1 + exp(-z))

A score ``>= DEFAULT_THRESHOLD`` means "send to the strong tier". Weights and the bias were
fitted on the ``train`` split of ``tests/data/complexity_prompts.jsonl`` (see
``docs/complexity-scorer.md``). Three dimensions carry negative weights because they mark
prompts that small models handle well: ``simple_intent``, ``creative`` and ``multiple_choice``.

Everything is precompiled at import time; a call does a bounded number of regex passes over at
most ``max_chars`` characters (head and tail of longer prompts), so the cost is O(max_chars)
whatever the input size. The ``length`` dimension still uses the true length.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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

#: Logistic weights per dimension (fitted on the train split, then rounded).
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "math": 2.75,
        "code": 2.0,
        "reasoning": 3.5,
        "length": 1.5,
        "entities": 0.25,
        "constraints": 1.75,
        "multi_step": 0.25,
        "technical": 2.5,
        "quantities": 2.0,
        "simple_intent": -2.5,
        "creative": -1.5,
        "multiple_choice": -1.5,
    }
)

#: Intercept of the logistic model.
BIAS: float = -1.75

#: Score at or above which a prompt should go to the strong tier.
DEFAULT_THRESHOLD: float = 0.5

_MIN_MAX_CHARS = 64

# --------------------------------------------------------------------------------------------
# Vocabularies: word -> (dimension, weight). Matched on lower-cased ``[a-z]+`` tokens, each
# distinct word counted once, so repetition in long pasted text does not inflate a dimension.
# --------------------------------------------------------------------------------------------

_MATH_WORDS = """
integer integers prime primes polynomial polynomials equation equations integral integrals
derivative derivatives probability probabilities remainder divisible divisor divisors matrix
matrices eigenvalue eigenvalues theorem lemma modulo mod gcd lcm factorial permutation
permutations combinations combinatorics sequence sequences series converge convergent
convergence diverge divergent limit triangle circle radius diameter perimeter parabola
hexagon polygon hypotenuse digit digits coefficient coefficients roots root logarithm log
exponent exponential sqrt irrational rational real reals complex subsets subset lattice
inscribed circumscribed circumscribing vertices vertex tangent sine cosine sin cos tan
determinant homomorphism homomorphisms abelian group isomorphic field recurrence
expectation variance infinitely infinity asymptotic bound lower upper maximise maximize
minimise minimize maximum minimum ordered pairs solutions solve compute evaluate simplify
express fraction fractions ratio percent area volume geometric arithmetic quadratic cubic
""".split()

_CODE_WORDS = """
python javascript typescript java rust golang go c++ cpp haskell kotlin swift sql bash
function functions implement implementation algorithm algorithms complexity recursion
recursive iterative array arrays string strings list dict hashmap hash heap trie tree
trees graph graphs node nodes pointer pointers queue stack thread threads concurrency
concurrent mutex lock async await asyncio callback callbacks api regex query queries
schema index indexes indices database compile compiler runtime debug bug bugs refactor
parser parse kernel cuda class method methods decorator exception exceptions memory leak
cache lru latency throughput microservices kubernetes docker dp dynamic programming
bitmask bitmasks binary code program script useeffect react node.js sort sorted
""".split()

_REASONING_WORDS = """
prove proof proofs derive derivation justify justification why analyse analyze analysis
analyses evaluate evaluation critique critically compare comparison contrast tradeoff
tradeoffs implications assess reasoning reason rigorous rigorously counterexample deduce
infer inference hypothesis argument valid invalid validity optimal optimise optimize
efficient efficiently determine discuss mechanism mechanisms consequences diagnose
diagnostic explain design strategy edge cases identifying assumptions assumption
formally prove demonstrate generalise generalize
""".split()

_CONSTRAINT_WORDS = """
must exactly least most without never avoid only each every ensure constraint constraints
requirement requirements require requires limit limited capped cap exclude excluding
unless except neither nor no not don't cannot within under per strictly distinct
""".split()

_MULTI_STEP_WORDS = """
first then next finally afterwards additionally also step steps stage phase phased second
third subsequently extend
""".split()

_TECHNICAL_WORDS = """
quantum entropy thermodynamics relativity momentum wavefunction hamiltonian renormalization
stoichiometry enthalpy oxidation molarity equilibrium hybridization catalytic nucleophile
solvation enzyme allele genotype phenotype transcription crispr amyloid inhibitors
pathophysiology pharmacology contraindication diagnosis prognosis inr warfarin guidelines
tort jurisdiction statute plaintiff defendant precedent constitutional amendment treaty
conveyance perpetuities liability gdpr compliance elasticity macroeconomic monetary fiscal
arbitrage inflation recession keynesian monetarist equilibria liquidity portfolio
preference dilution valuation amortization regression heteroskedasticity bayesian posterior
likelihood estimator causal econometrics meta-analysis confounding distributed consensus
paxos raft replication partition partitions idempotent serializable transactional
cryptography encryption hashing salt protocol topological asymptotically epistemology
ontology utilitarian deontological kantian paradigm jurisprudence semantics
legal lawsuit litigation contract tenant landlord tax taxes refinancing mortgage undecidable
decidable np-complete invariant
""".split()

_SIMPLE_WORDS = """
hi hello hey thanks thank joke jokes pun puns recommend suggest suggestion favourite
favorite fun funny quick quickly simple simply briefly cozy tips idea ideas spell spelled
plural synonym synonyms translate translation summarise summarize summary tl dr rewrite
rephrase shorter title caption meaning mean define definition abbreviation stand
""".split()

_CREATIVE_WORDS = """
poem poems poetry haiku limerick story stories bedtime slogan caption tweet blog letter
note message email invitation song lyrics pretend imagine roleplay role-play act describe
birthday greeting quote names cheerful upbeat rhyming vivid
""".split()


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

# --------------------------------------------------------------------------------------------
# Regexes (compiled once).
# --------------------------------------------------------------------------------------------

_WORD_RE = re.compile(r"[a-z][a-z+#'-]*")
_LONG_WORD_RE = re.compile(r"[a-z]{12,}")
_LATEX_RE = re.compile(r"\\[A-Za-z]+|\$[\\A-Za-z{(]|\^\{|_\{")
_MATH_SYM_RE = re.compile(r"[∑∫√≤≥≠≈π∞±×÷∈∀∃≡∂∇θλ²³]")
_MATH_EXPR_RE = re.compile(
    r"(?<![A-Za-z])[a-zA-Z]\s?[\^=<>]\s?[\w(]"  # x^2, x = 3, a < b
    r"|\d\s?[\^*/=<>]\s?[\w(]"  # 3^5, 2*x, 7 = y
    r"|(?<![A-Za-z])\d*[a-z]\s[+-]\s\d*[a-z0-9](?![A-Za-z])"  # 2x + 3, a + b
    r"|(?<![A-Za-z])[a-zA-Z]\([a-z0-9]"  # f(x), P(1)
    r"|\|[a-z0-9]|\b(?:mod|log|sqrt|sin|cos|tan)\s?\(?\d"
)
_MATH_PHRASE_RE = re.compile(
    r"\b(?:positive|negative|consecutive|odd|even|distinct|real|whole) (?:integers?|numbers?|"
    r"divisors?|roots?|solutions?)\b|\bhow many (?:ways|positive|integers?|distinct|ordered|"
    r"subsets|solutions)\b|\b(?:largest|smallest|greatest|least) (?:possible|positive|integer|"
    r"value)\b|\bperfect (?:squares?|cubes?)\b|\bcommon fraction\b|\bsimplest (?:radical )?form\b"
)
_CODE_FENCE_RE = re.compile(r"```")
_CODE_LINE_RE = re.compile(
    r"(?m)^\s*(?:def |class |import |from \S+ import|#include|public |private |return\b|"
    r"for\s*\(|if\s*\(|while\s*\(|const |let |var |function\b|fn |func |SELECT\b|\"\"\"|>>> )"
)
_CODE_SYM_RE = re.compile(r"[{};]|=>|->|==|!=|\+\+|&&|\|\||\w\(\)|\w\.\w+\(|\b[a-z]+_[a-z_]+\b")
_CODE_PHRASE_RE = re.compile(
    r"\b(?:write|implement|code|give)\s+(?:a|an|the|me a|some)?\s*(?:\w+\s){0,3}"
    r"(?:function|program|class|script|query|kernel|parser|decorator)\b"
    r"|\btime complexity\b|\bo\([^)]{1,12}\)|\bthread-safe\b|\block-free\b"
)
_REASONING_PHRASE_RE = re.compile(
    r"^\s*(?:prove|derive|show|implement|design|analy[sz]e|critically|solve|find all|determine)\b"
    r"|\bshow that\b|\bstep by step\b|\bexplain (?:why|how)\b|\bwhat (?:would )?happens?\b|"
    r"\bhow would you\b|\btrade-offs?\b|\bwhy (?:is|does|do|are|it)\b|\bin light of\b|"
    r"\bwell-defined\b|\bno faster\b|\bcompare\b"
)
_MULTILINGUAL_HARD_RE = re.compile(
    r"d[ée]montr|prouve|beweis|demuestr|demostr|dimostr|докаж|доказ|证明|証明|"
    r"algoritm|algorithm|算法|アルゴリズム|алгоритм|реализ|analis|analys|анализ|分析|"
    r"probabil|wahrscheinlich|вероятн|概率|確率|方程|ecuaci|équation|gleichung|уравнен|"
    r"complejidad|complexit|复杂度|計算量|сложност|crit|推广|一般化|議論"
)
_HARD_SUBJECT_RE = re.compile(
    r"\b(?:abstract algebra|formal logic|econometrics|machine learning|electrical engineering|"
    r"college (?:mathematics|physics|chemistry|computer science|medicine)|moral scenarios|"
    r"professional (?:law|medicine|accounting)|high school (?:mathematics|physics|statistics|"
    r"chemistry)|clinical knowledge|jurisprudence|virology|conceptual physics|"
    r"number theory|real analysis|linear algebra|organic chemistry|quantum mechanics)\b"
)
_CONSTRAINT_PHRASE_RE = re.compile(
    r"\b(?:at (?:least|most)|no more than|fewer than|less than|more than|do not|don't|"
    r"must not|such that|no two|in which case|under \d+|exactly \w+|\d+\s?words?)\b"
)
_ENUM_RE = re.compile(r"(?m)^\s*(?:\d{1,2}[.)]|[-*•])\s+\S|\(\d\)\s")
_QUESTION_RE = re.compile(r"[?？]")
_SIMPLE_PHRASE_RE = re.compile(
    r"^\s*(?:hi|hello|hey|thanks|thank you|good (?:morning|night|evening))\b"
    r"|^\s*(?:what|who|when|where|which)(?:'s| is| was| are| were| does| did| do)\b"
    r"|\bwhat does .{1,40} (?:mean|stand for)\b|\bin one (?:line|sentence)\b"
    r"|\b(?:for|to) a \d+[- ]year[- ]old\b|\bin simple (?:words|terms)\b|\bjust\b"
    r"|\bhow (?:do|can) i\b|\bhow many \w+ (?:are|is) in\b|\bfun fact|\byes or no\b"
)
_CREATIVE_PHRASE_RE = re.compile(
    r"\b(?:write|draft|compose|create|give me|come up with)\b[^.?!\n]{0,40}?"
    r"\b(?:poem|story|limerick|haiku|slogan|caption|tweet|blog|letter|note|email|message|"
    r"paragraph|product description|song|speech|names?)\b"
    r"|\b(?:pretend|imagine) you\b|\bact as\b|\brole-?play\b"
)
_MC_OPTION_RE = re.compile(r"(?m)^\s*(?:\(?[A-Da-d][).:]|option\s?\d|Option\s?\d)\s*\S")
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
_ENTITY_RE = re.compile(r"(?<=[a-z0-9,;:)] )[A-Z][\w'-]+|\b[A-Z]{2,}\d*\b")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")

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


@dataclass(frozen=True, slots=True)
class ComplexityScore:
    """Result of scoring one prompt."""

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


def _raw_counts(text: str) -> dict[str, float]:
    """Raw (unsaturated) evidence per dimension for an already-windowed text."""
    lower = text.lower()
    raw = dict.fromkeys(_SCALES, 0.0)
    for word in _VOCAB_KEYS.intersection(_WORD_RE.findall(lower)):
        raw[_VOCAB[word]] += 1.0
    raw["math"] += (
        1.5 * min(len(_LATEX_RE.findall(text)), 6)
        + min(len(_MATH_SYM_RE.findall(text)), 4)
        + min(len(_MATH_EXPR_RE.findall(text)), 6)
        + 1.5 * min(len(_MATH_PHRASE_RE.findall(lower)), 4)
    )
    raw["code"] += (
        3.0 * min(len(_CODE_FENCE_RE.findall(text)), 2)
        + min(len(_CODE_LINE_RE.findall(text)), 6)
        + 0.25 * min(len(_CODE_SYM_RE.findall(text)), 16)
        + 1.5 * min(len(_CODE_PHRASE_RE.findall(lower)), 2)
    )
    raw["reasoning"] += 1.5 * min(len(_REASONING_PHRASE_RE.findall(lower)), 4) + 1.5 * min(
        len(_MULTILINGUAL_HARD_RE.findall(lower)), 4
    )
    raw["technical"] += 0.5 * min(len(set(_LONG_WORD_RE.findall(lower))), 8) + 2.0 * min(
        len(_HARD_SUBJECT_RE.findall(lower)), 2
    )
    raw["constraints"] += 1.5 * min(len(_CONSTRAINT_PHRASE_RE.findall(lower)), 8)
    raw["multi_step"] += min(len(_ENUM_RE.findall(text)), 8) + max(
        0, min(len(_QUESTION_RE.findall(text)), 6) - 1
    )
    raw["simple_intent"] += min(len(_SIMPLE_PHRASE_RE.findall(lower)), 4)
    raw["creative"] += 1.5 * min(len(_CREATIVE_PHRASE_RE.findall(lower)), 3)
    raw["quantities"] = float(min(len(set(_NUMBER_RE.findall(text))), 20))
    raw["entities"] = float(min(len(set(_ENTITY_RE.findall(text))), 20))
    return raw


def _dimension_values(text: str, true_len: int) -> dict[str, float]:
    """All dimension values in ``[0, 1]``, in ``DIMENSIONS`` order."""
    raw = _raw_counts(text)
    values = {dim: _sat(raw[dim], scale) for dim, scale in _SCALES.items()}
    # A "simple" phrasing ("what is ...", "how do I ...") only signals an easy task when the
    # prompt carries no math, code or expert content.
    hard = max(values["math"], values["code"], values["technical"])
    values["simple_intent"] *= 1.0 - hard
    values["length"] = _length_value(true_len)
    values["multiple_choice"] = 1.0 if len(_MC_OPTION_RE.findall(text)) >= 2 else 0.0
    return {dim: values[dim] for dim in DIMENSIONS}


def _validate_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Merge ``weights`` over the defaults; reject unknown names and non-finite values."""
    merged = dict(DEFAULT_WEIGHTS)
    for name, value in weights.items():
        if name not in merged:
            raise ValueError(f"unknown complexity dimension {name!r}; known: {', '.join(DIMENSIONS)}")
        fvalue = float(value)
        if not math.isfinite(fvalue):
            raise ValueError(f"weight for complexity dimension {name!r} must be finite")
        merged[name] = fvalue
    return merged


class ComplexityScorer:
    """Scores how much a prompt needs a strong model; see the module docstring for the formula."""

    __slots__ = ("_max_chars", "_weights")

    def __init__(self, weights: Mapping[str, float] | None = None, max_chars: int = 16000) -> None:
        if isinstance(max_chars, bool) or not isinstance(max_chars, int):
            raise TypeError("max_chars must be an int")
        if max_chars < _MIN_MAX_CHARS:
            raise ValueError(f"max_chars must be >= {_MIN_MAX_CHARS}, got {max_chars}")
        merged = _validate_weights(weights or {})
        self._weights: tuple[float, ...] = tuple(merged[d] for d in DIMENSIONS)
        self._max_chars = max_chars

    @property
    def weights(self) -> Mapping[str, float]:
        """Effective weights per dimension."""
        return MappingProxyType(dict(zip(DIMENSIONS, self._weights, strict=True)))

    def score(self, text: str) -> ComplexityScore:
        """Score ``text``; never raises for any ``str`` input."""
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        values = _dimension_values(_window(text, self._max_chars), len(text))
        z = BIAS + sum(w * values[d] for w, d in zip(self._weights, DIMENSIONS, strict=True))
        return ComplexityScore(score=_logistic(z), dimensions=MappingProxyType(values))


def _logistic(z: float) -> float:
    """Numerically safe logistic function."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)
