"""Rule-based prompt complexity scorer for routing between a weak and a strong model tier.

Each prompt is reduced to a handful of *dimensions*, each in ``[0, 1]`` (see ``DIMENSIONS``),
which are combined by a logistic model::

    z     = BIAS + sum(weight[d] * value[d] for d in DIMENSIONS)
    score = 1 / (1 + exp(-z))

A score ``>= DEFAULT_THRESHOLD`` means "send to the strong tier". The default weights and bias
were fitted on per-prompt *outcomes* of weak/strong model pairs, and only ``length`` survived
(see ``DEFAULT_WEIGHTS`` and ``docs/complexity-scorer.md``); the other dimensions are there for
configured weights and as features of learned scorers.

Hot-path design (2-2.4x faster on short prompts than the earlier dict-based version, with
bit-identical scores, see ``tests/unit/test_complexity_golden.py``): every table and regex is
built at import time. A call lower-cases and tokenises the text once (``bytes.translate`` +
``split``) and accumulates raw evidence in a list indexed like ``DIMENSIONS``; the result
mapping is built once, from a dict display. Words and word pairs are looked up by frozenset
intersection, and only the words outside the vocabulary are looped over for numbers and long
words. Every structural feature sits behind ``in`` tests, mostly on single characters, which
cost a fraction of a regex call or ``str.count``, so on most prompts most regexes never run;
operators in ASCII text are found with ``bytes.translate`` + ``bytes.find`` rather than a regex
scan; caps use conditional expressions, not ``min``/``max`` calls. The float arithmetic is
unchanged (same operations, weighted sum in ``DIMENSIONS`` order). At most ``max_chars``
characters (head + tail) are analysed, so the cost is bounded whatever the input size;
``length`` still uses the true length.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from itertools import islice, pairwise
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

#: Logistic weights per dimension, fitted on *outcomes* (which prompts the strong model
#: actually answered better; ``scripts/fit-default-scorer.py``, ``docs/complexity-scorer.md``):
#: only ``length`` carries weight. No other dimension helped on every outcome file, and the
#: combinations that helped most flipped signs between model pairs, which is how the earlier
#: author-label fit fell below random on held-out traffic. Set weights in the config to use
#: the other dimensions, or train a ``learned`` rule on your own outcomes.
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "math": 0.0,
        "code": 0.0,
        "reasoning": 0.0,
        "length": 10.0,
        "entities": 0.0,
        "constraints": 0.0,
        "multi_step": 0.0,
        "technical": 0.0,
        "quantities": 0.0,
        "simple_intent": 0.0,
        "creative": 0.0,
        "multiple_choice": 0.0,
    }
)

#: Intercept: the score crosses ``DEFAULT_THRESHOLD`` at 416 characters, where 30% of the
#: outcome prompts (each file weighted equally) are longer.
BIAS: float = -5.1984

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

# Evidence is accumulated in a list indexed like ``DIMENSIONS``.
_INDEX: Mapping[str, int] = MappingProxyType({dim: i for i, dim in enumerate(DIMENSIONS)})
_MATH = _INDEX["math"]
_CODE = _INDEX["code"]
_REASONING = _INDEX["reasoning"]
_LENGTH = _INDEX["length"]
_ENTITIES = _INDEX["entities"]
_CONSTRAINTS = _INDEX["constraints"]
_MULTI_STEP = _INDEX["multi_step"]
_TECHNICAL = _INDEX["technical"]
_QUANTITIES = _INDEX["quantities"]
_SIMPLE = _INDEX["simple_intent"]
_CREATIVE = _INDEX["creative"]
_MULTIPLE_CHOICE = _INDEX["multiple_choice"]

# Word pairs: (first, second) -> (dimension index, weight).
_BIGRAMS: dict[tuple[str, str], tuple[int, float]] = {}


def _add_bigrams(dim: str, weight: float, phrases: str) -> None:
    """Register comma-separated two-word phrases for ``dim``."""
    for phrase in phrases.split(","):
        first, second = phrase.split()
        _BIGRAMS[(first, second)] = (_INDEX[dim], weight)


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
_BIGRAM_FIRST: frozenset[str] = frozenset(first for first, _ in _BIGRAMS)


def _build_vocab(groups: Iterable[tuple[str, Iterable[str]]]) -> dict[str, int]:
    """Map each word to its dimension index; the first group that claims a word wins."""
    vocab: dict[str, int] = {}
    for dim, words in groups:
        for word in words:
            vocab.setdefault(word, _INDEX[dim])
    return vocab


_VOCAB: dict[str, int] = _build_vocab(
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
_LONG_VOCAB: frozenset[str] = frozenset(word for word in _VOCAB if len(word) >= 12)

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
# _OPERATOR_RE's characters -> NUL, and NUL itself -> SOH (used on ASCII text only).
_OPERATORS_TO_NUL = bytes.maketrans(b"^=<>+*/\x00", b"\x00" * 7 + b"\x01")
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
_OPERAND_LETTERS = frozenset(string.ascii_letters)
_DIGITS = frozenset(string.digits)
_ENTITY_STOPNAMES: frozenset[str] = frozenset(" " + word for word in _ENTITY_STOPWORDS)

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
# (index, scale) of the saturating dimensions; ``length`` and ``multiple_choice`` are set directly.
_SATURATING: tuple[tuple[int, float], ...] = tuple((_INDEX[d], s) for d, s in _SCALES.items())

# log-scaled length over 8 .. 16,000 characters: strictly increasing over real prompts, so
# a length-only score ranks prompts exactly as the length rule does (no tied blocks)
_LEN_MIN_CHARS = 8
_LEN_LO = math.log(_LEN_MIN_CHARS)
_LEN_SPAN = math.log(16000.0) - _LEN_LO
_MAX_OPERATORS = 32
_HEAD_LINES = 6
_LAYOUT_HEAD = 3072  # line-layout regexes look at this many leading characters ...
_LAYOUT_TAIL = 1024  # ... and this many trailing ones


class ComplexityScore:
    """Result of scoring one prompt: overall score and per-dimension values, all in [0, 1].

    Built once per request, so it stays cheap: the per-dimension mapping is made only
    when someone reads ``dimensions`` (the routing rules read only ``score``), and when the
    score depends on length alone the dimension values themselves are computed on first read.
    """

    __slots__ = ("_n_chars", "_text", "_values", "score")

    def __init__(self, score: float, values: Sequence[float] | None,
                 text: str = "", n_chars: int = 0) -> None:
        self.score = score
        self._values = values  # in DIMENSIONS order; None until first read (length-only)
        self._text = text
        self._n_chars = n_chars

    def _dimension_values(self) -> Sequence[float]:
        if self._values is None:
            self._values = _dimension_values(self._text, self._n_chars)
            self._text = ""
        return self._values

    @property
    def dimensions(self) -> Mapping[str, float]:
        return _as_mapping(self._dimension_values())

    @property
    def values(self) -> tuple[float, ...]:
        """Dimension values in ``DIMENSIONS`` order."""
        return tuple(self._dimension_values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ComplexityScore):
            return NotImplemented
        return self.score == other.score and self.values == other.values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ComplexityScore(score={self.score!r}, dimensions={dict(self.dimensions)!r})"


def _length_value(true_len: int) -> float:
    """The ``length`` dimension (see ``_dimension_values``)."""
    if true_len <= _LEN_MIN_CHARS:
        return 0.0
    length = (math.log(true_len) - _LEN_LO) / _LEN_SPAN
    return length if length < 1.0 else 1.0


def _window(text: str, max_chars: int) -> str:
    """Head and tail of ``text`` totalling at most ``max_chars`` characters."""
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    return text[:half] + "\n" + text[-half:]


def _operator_positions(text: str) -> list[int]:
    """Positions of the first ``_MAX_OPERATORS`` characters matched by ``_OPERATOR_RE``."""
    if not text.isascii():
        return [m.start() for m in islice(_OPERATOR_RE.finditer(text), _MAX_OPERATORS)]
    # ASCII: byte offsets are character offsets, and bytes.find() walks the NUL-marked
    # operators much faster than the regex engine scans the text.
    marked = text.encode().translate(_OPERATORS_TO_NUL)
    positions: list[int] = []
    i = marked.find(0)
    while i >= 0 and len(positions) < _MAX_OPERATORS:
        positions.append(i)
        i = marked.find(0, i + 1)
    return positions


def _math_expressions(text: str) -> int:
    """Count operators with operands on both sides (``x^2``, ``3 * 4``, ``a + b``), capped.

    An operand is the character next to the operator, skipping one space; a letter counts only
    when it is a single-letter variable, not the edge of a word. Only the first
    ``_MAX_OPERATORS`` operators are looked at.
    """
    found = 0
    end = len(text)
    for i in _operator_positions(text):
        j = i - 1  # left operand
        if j >= 0 and text[j] == " ":
            j -= 1
        if j < 0 or text[j] not in _OPERAND_CHARS:
            continue
        if text[j] in _OPERAND_LETTERS and j > 0 and text[j - 1].isalpha():
            continue
        j = i + 1  # right operand
        if j < end and text[j] == " ":
            j += 1
        if j >= end or text[j] not in _OPERAND_CHARS:
            continue
        if text[j] in _OPERAND_LETTERS and j + 1 < end and text[j + 1].isalpha():
            continue
        found += 1
    return found


def _line_openers(flat: str) -> tuple[int, int]:
    """(hard, simple) opener hits among the first few lines and the last line of ``flat``."""
    if "\n" in flat:
        lines = flat.split("\n", _HEAD_LINES)
        if len(lines) > _HEAD_LINES:  # keep the head lines and the very last line
            rest = lines.pop()
            lines.append(rest[rest.rfind("\n") + 1 :])
    else:
        lines = [flat]
    hard = simple = 0
    for line in lines:
        words = line[:48].split(None, 2)
        if not words:
            continue
        first = words[0]
        if first in _HARD_OPENERS:
            hard += 1
            continue
        pair = first + " " + words[1] if len(words) > 1 else first
        if pair in _HARD_OPENERS:
            hard += 1
        elif first in _SIMPLE_OPENERS or pair in _SIMPLE_OPENERS:
            simple += 1
    return hard, simple


def _word_evidence(raw: list[float], lower: str) -> None:
    """Add vocabulary, word-pair, opener, number and long-word evidence to ``raw``."""
    # ASCII punctuation becomes a space; lone surrogates survive the non-ASCII round trip.
    if lower.isascii():
        flat = lower.encode().translate(_PUNCT_TO_SPACE).decode()
    else:
        data = lower.encode("utf-8", "surrogatepass").translate(_PUNCT_TO_SPACE)
        flat = data.decode("utf-8", "surrogatepass")
    tokens = flat.split()
    words = set(tokens)
    hits = _VOCAB_KEYS.intersection(words)
    for word in hits:
        raw[_VOCAB[word]] += 1.0
    if not _BIGRAM_FIRST.isdisjoint(words):
        for pair in _BIGRAM_KEYS.intersection(pairwise(tokens)):
            dim, weight = _BIGRAMS[pair]
            raw[dim] += weight
    if not _CREATIVE_VERBS.isdisjoint(words) and not _CREATIVE_NOUNS.isdisjoint(words):
        raw[_CREATIVE] += 1.5
    # Vocabulary words are not numbers, and the long ones are known: loop over the others only.
    long_words = 0 if _LONG_VOCAB.isdisjoint(hits) else len(_LONG_VOCAB.intersection(hits))
    words.difference_update(hits)
    numbers = 0
    for word in words:
        if word[0] in _DIGITS:
            numbers += 1
        elif len(word) >= 12:
            long_words += 1
    if long_words:
        raw[_TECHNICAL] += 0.5 * (long_words if long_words < 8 else 8)
    if numbers:
        raw[_QUANTITIES] += numbers if numbers < 20 else 20
    hard, simple = _line_openers(flat)
    if hard:
        raw[_REASONING] += 1.5 * hard
    if simple:
        raw[_SIMPLE] += simple


def _layout_window(text: str) -> str:
    """Newline-prefixed head (and tail) of ``text`` used by the line-layout regex."""
    if len(text) <= _LAYOUT_HEAD + _LAYOUT_TAIL:
        return "\n" + text
    return "\n" + text[:_LAYOUT_HEAD] + "\n" + text[-_LAYOUT_TAIL:]


def _structure_evidence(raw: list[float], text: str, lower: str) -> bool:
    """Add symbol/layout evidence to ``raw``; return whether multiple-choice options exist.

    Every feature sits behind ``in`` tests, mostly on single characters: on short prompts they
    cost far less than a regex call or ``str.count``, and most features are absent.
    """
    eq = "=" in text
    gt = ">" in text
    paren = "(" in text
    caret = "^" in text
    underscore = "_" in text
    if "\\" in text or "$" in text or (caret and "^{" in text) or (underscore and "_{" in text):
        latex = len(_LATEX_RE.findall(text))
        raw[_MATH] += 1.5 * (latex if latex < 6 else 6)
    if eq or gt or caret or "+" in text or "/" in text or "*" in text or "<" in text:
        expressions = _math_expressions(text)  # the guard lists the characters of _OPERATOR_RE
        raw[_MATH] += expressions if expressions < 6 else 6
    if not text.isascii():
        symbols = len(_MATH_SYM_RE.findall(text))
        raw[_MATH] += symbols if symbols < 4 else 4
        hard = len(_MULTILINGUAL_HARD_RE.findall(lower))
        raw[_REASONING] += 1.5 * (hard if hard < 4 else 4)
    code_syms = 0  # occurrences of { ; == () -> => and snake_case
    if "{" in text:
        code_syms += text.count("{")
    if ";" in text:
        code_syms += text.count(";")
    if eq:
        code_syms += text.count("==") + (text.count("=>") if gt else 0)
    if paren:
        code_syms += text.count("()")
    if gt:
        code_syms += text.count("->")
    if underscore:
        code_syms += len(_SNAKE_RE.findall(text))
    if code_syms:
        raw[_CODE] += 0.25 * (code_syms if code_syms < 16 else 16)
    if "```" in text:
        fences = text.count("```")
        raw[_CODE] += 3.0 * (fences if fences < 2 else 2)
    if paren and "o(" in lower:
        raw[_CODE] += 1.0
    mc_lines = 0
    if "\n" in text:
        enum_lines = code_lines = 0
        for m in _LINE_RE.finditer(_layout_window(text)):
            kind = m.lastgroup
            if kind == "mc":
                mc_lines += 1
            elif kind == "enum":
                enum_lines += 1
            elif kind == "code":
                code_lines += 1
        raw[_CODE] += code_lines if code_lines < 6 else 6
        raw[_MULTI_STEP] += enum_lines if enum_lines < 8 else 8
    questions = text.count("?") if "?" in text else 0
    if "？" in text:
        questions += text.count("？")
    if questions > 1:
        raw[_MULTI_STEP] += (questions if questions < 6 else 6) - 1
    names = _ENTITY_RE.findall(text)
    if names:
        distinct = set(names)
        distinct.difference_update(_ENTITY_STOPNAMES)
        raw[_ENTITIES] += len(distinct) if len(distinct) < 20 else 20
    inline_mc = paren and "(b)" in lower and "(c)" in lower
    return mc_lines >= 2 or inline_mc or "option 2" in lower


def _dimension_values(text: str, true_len: int) -> list[float]:
    """All dimension values in ``[0, 1]``, in ``DIMENSIONS`` order."""
    lower = text.lower()
    values = [0.0] * len(DIMENSIONS)  # raw evidence first, saturated in place below
    _word_evidence(values, lower)
    multiple_choice = _structure_evidence(values, text, lower)
    for i, scale in _SATURATING:
        raw = values[i]
        if raw:
            values[i] = 1.0 - math.exp(-raw / scale)
    # A "simple" phrasing ("what is ...", "how do I ...") only signals an easy task when the
    # prompt carries no math, code or expert content.
    if values[_SIMPLE]:
        values[_SIMPLE] *= 1.0 - max(values[_MATH], values[_CODE], values[_TECHNICAL])
    values[_LENGTH] = _length_value(true_len)  # log-scaled: 0 at <= 8 chars, 1 at >= 16,000
    if multiple_choice:
        values[_MULTIPLE_CHOICE] = 1.0
    return values


def _as_mapping(v: Sequence[float]) -> Mapping[str, float]:
    """Read-only ``DIMENSIONS`` -> value mapping; a dict display is faster than ``dict(zip())``.

    The keys must follow ``DIMENSIONS`` order (the golden-output test checks it).
    """
    return MappingProxyType(
        {
            "math": v[0],
            "code": v[1],
            "reasoning": v[2],
            "length": v[3],
            "entities": v[4],
            "constraints": v[5],
            "multi_step": v[6],
            "technical": v[7],
            "quantities": v[8],
            "simple_intent": v[9],
            "creative": v[10],
            "multiple_choice": v[11],
        }
    )


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


class ComplexityScorer:
    """Scores how much a prompt needs a strong model; see the module docstring for the formula."""

    __slots__ = ("_length_only", "_max_chars", "_weight_values")

    def __init__(self, weights: Mapping[str, float] | None = None, max_chars: int = 16000) -> None:
        if isinstance(max_chars, bool) or not isinstance(max_chars, int):
            raise TypeError("max_chars must be an int")
        if max_chars < _MIN_MAX_CHARS:
            raise ValueError(f"max_chars must be >= {_MIN_MAX_CHARS}, got {max_chars}")
        merged = _validate_weights(weights or {})
        self._weight_values: tuple[float, ...] = tuple(merged[d] for d in DIMENSIONS)
        self._max_chars = max_chars
        # only length weighs (the default): skip the other dimensions until someone reads them
        self._length_only = all(w == 0.0 for d, w in merged.items() if d != "length")

    @property
    def weights(self) -> Mapping[str, float]:
        """Effective weight per dimension."""
        return MappingProxyType(dict(zip(DIMENSIONS, self._weight_values, strict=True)))

    @property
    def max_chars(self) -> int:
        """Maximum number of characters analysed per prompt."""
        return self._max_chars

    def score(self, text: str) -> ComplexityScore:
        """Score ``text``; never raises for any ``str`` input."""
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        n_chars = len(text)
        if n_chars > self._max_chars:
            text = _window(text, self._max_chars)
        if self._length_only:
            return ComplexityScore(
                _logistic(BIAS + self._weight_values[_LENGTH] * _length_value(n_chars)),
                None, text, n_chars,
            )
        v = _dimension_values(text, n_chars)
        w = self._weight_values
        # BIAS + sum(w[i] * v[i]) in DIMENSIONS order, unrolled: a loop costs twice as much.
        z = (
            BIAS + w[0] * v[0] + w[1] * v[1] + w[2] * v[2] + w[3] * v[3] + w[4] * v[4]
            + w[5] * v[5] + w[6] * v[6] + w[7] * v[7] + w[8] * v[8] + w[9] * v[9]
            + w[10] * v[10] + w[11] * v[11]
        )  # fmt: skip
        return ComplexityScore(_logistic(z), v)


def _logistic(z: float) -> float:
    if z >= 0.0:  # numerically safe
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)
