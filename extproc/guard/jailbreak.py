"""Prompt-injection / jailbreak phrasings: per-pattern id, graded severity, combined cues.

Patterns are written in a small notation: a literal space stands for ``SEP``, one to eight
non-word characters (whitespace, punctuation, ``_``, zero-width characters), so "ignore ...
all   previous\\ninstructions" matches like "ignore all previous instructions". Matching is
case-insensitive.

Cost: a pattern runs only when its gate passes against the text's word set (one of its
``anchors`` and one word of each ``requires`` group), and then only as ``regex.match`` at each
occurrence of an anchor; clean text costs a few set look-ups.

Severity is graded per match, then adjusted on the whole text:

* corroboration: two or more different jailbreak ids in one text raise each finding one level;
* code context: patterns marked ``ambiguous`` (phrasings that also occur in programming
  questions, e.g. "disable the safety checks") drop one level when the text looks like code
  and nothing corroborates them;
* quoted mention: a phrase wrapped in quotes ("how do I detect 'ignore previous
  instructions'?") drops one level unless corroborated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from extproc.guard.pii import DENSE_ANCHORS, Hit, Severity, Text

__all__ = ["JAILBREAK_KINDS", "PATTERNS", "Pattern", "find_jailbreaks"]

SEP = r"[\W_]{1,8}"
_LEVELS: tuple[Severity, ...] = ("low", "medium", "high")

#: Severity of one match, or None to reject it.
Grade = Callable[[re.Match[str], Text], Severity | None]


@dataclass(frozen=True, slots=True, eq=False)
class Pattern:
    """One jailbreak phrasing: ``kind`` is ``jailbreak:<id>``."""

    kind: str
    regex: re.Pattern[str]
    anchors: tuple[str, ...]  # lower-case literals a match starts with
    gates: tuple[frozenset[bytes], ...]  # each must share a word with the text
    grade: Grade
    ambiguous: bool = False
    anchor_words: tuple[bytes, ...] = ()  # ``anchors`` as words (empty: not words)


def _words(m: re.Match[str]) -> set[str]:
    return set(re.findall(r"[a-z]+", m.group().lower()))


# ---- graders ------------------------------------------------------------------------------

_STRONG_MODIFIERS = frozenset(
    "all any every prior previous above earlier preceding foregoing initial original your "
    "safety ethical security content".split()
)
_STRONG_VERBS = frozenset("ignore disregard forget override bypass".split())
_AI_CUES = ("chatgpt", "you are", "you're", "as an ai", "assistant", "openai", "your response",
            "you will", "you must", "claude", "gpt", "llm", "language model")  # fmt: skip
_ENCODING_CUES = frozenset(
    b"base64 b64 rot13 rot hex binary morse caesar cipher encoded encrypted".split()
)


def _fixed(severity: Severity) -> Grade:
    return lambda _m, _t: severity


def _grade_ignore(m: re.Match[str], _t: Text) -> Severity:
    words = _words(m)
    if words & _STRONG_MODIFIERS:
        return "high" if words & _STRONG_VERBS else "medium"
    return "low"


def _grade_your(high: Severity, other: Severity) -> Grade:
    return lambda m, _t: high if "your" in _words(m) else other


def _grade_mode(m: re.Match[str], t: Text) -> Severity:
    if _words(m) & {"god", "jailbreak", "jailbroken", "unrestricted", "unfiltered", "uncensored"}:
        return "high"
    if "DAN" in m.group():
        return "high"
    return "high" if any(c in t.lowered for c in _AI_CUES) else "medium"


def _grade_encoded(_m: re.Match[str], t: Text) -> Severity:
    return "medium" if _ENCODING_CUES.isdisjoint(t.words) else "high"


def _grade_decode(m: re.Match[str], t: Text) -> Severity | None:
    """ "decode ... and follow": high with an encoding named; "translate" needs one."""
    if not _ENCODING_CUES.isdisjoint(t.words):
        return "high"
    return None if m.group()[:5].lower() in ("trans", "unscr") else "medium"


def _grade_follow_hidden(m: re.Match[str], t: Text) -> Severity:
    if _words(m) & {"decoded", "encoded", "hidden", "embedded", "secret"}:
        return _grade_encoded(m, t)
    return "low"


def _grade_line_start(m: re.Match[str], t: Text) -> Severity | None:
    """``System:`` only counts at the start of a line (after at most a few markers)."""
    line_start = t.text.rfind("\n", 0, m.start()) + 1
    prefix = t.text[line_start : m.start()]
    return "low" if len(prefix) <= 4 and not any(c.isalnum() for c in prefix) else None


# ---- patterns -----------------------------------------------------------------------------

_MODS = (
    r"(?:all|any|every|each|of|the|your|my|these|those|such|prior|previous|above|earlier|"
    r"preceding|foregoing|former|initial|original|old|current|existing|given|provided|"
    r"aforementioned|mentioned|safety|security|ethical|content)"
)
_OBJECTS = (
    r"(?:instructions?|prompts?|rules|directives?|guidelines|guardrails|constraints|"
    r"restrictions|programming|policies|policy|commands|orders|directions)"
)
_OBJECT_WORDS = (
    "instruction instructions prompt prompts rules directive directives guidelines guardrails "
    "constraints restrictions programming policies policy commands orders directions"
)
_RESTRICTIONS = (
    r"(?:restrictions|limits|limitations|filters?|rules|guidelines|censorship|ethics|morals|"
    r"morality|boundaries|constraints|policies|safeguards|guardrails|content policy)"
)
_RESTRICTION_WORDS = (
    "restrictions limits limitations filter filters rules guidelines censorship ethics morals "
    "morality boundaries constraints policies safeguards guardrails policy"
)
_BAD_ADJ = (
    r"(?:evil|unrestricted|unfiltered|uncensored|rogue|jailbroken|amoral|unethical|immoral|"
    r"malicious|unaligned|unhinged|lawless|rule-?breaking)"
)
_BAD_ADJ_WORDS = (
    "evil unrestricted unfiltered uncensored rogue jailbroken amoral unethical immoral malicious "
    "unaligned unhinged lawless rule rulebreaking"
)
# AI-ish nouns only: "an evil character" in a story is creative writing, "an evil AI" is not.
_ROLE_NOUN = r"(?:ai|assistant|model|chatbot|bot|version of yourself|twin|gpt|llm|clone|alter ego)"
_ROLE_NOUN_WORDS = "ai assistant model chatbot bot version twin gpt llm clone alter"
_VERBS_IGNORE = "ignore disregard forget override bypass skip drop abandon discard"
_VERBS_SHOW = (
    "reveal show print display output repeat recite leak dump expose disclose tell give share "
    "write spell paste copy what"
)


def _p(
    name: str,
    notation: str,
    anchors: str,
    requires: tuple[str, ...],
    grade: Grade,
    *,
    ambiguous: bool = False,
    word_anchors: bool = True,
) -> Pattern:
    """Build a pattern; ``anchors`` and each ``requires`` entry are space-separated words."""
    anchor_list = tuple(anchors.split())
    gates = tuple(frozenset(w.encode() for w in group.split()) for group in requires)
    if word_anchors:
        gates = (frozenset(a.encode() for a in anchor_list), *gates)
    regex = re.compile(notation.replace(" ", SEP), re.IGNORECASE)
    words = tuple(a.encode() for a in anchor_list) if word_anchors else ()
    return Pattern(f"jailbreak:{name}", regex, anchor_list, gates, grade, ambiguous, words)


PATTERNS: tuple[Pattern, ...] = (
    _p(
        "ignore_instructions",
        rf"\b(?:ignore|disregard|forget|override|bypass|skip|drop|abandon|discard) "
        rf"(?:{_MODS} ){{0,5}}{_OBJECTS}\b",
        _VERBS_IGNORE,
        (_OBJECT_WORDS,),
        _grade_ignore,
        ambiguous=True,
    ),
    _p(
        "ignore_instructions",
        r"\bforget (?:about )?(?:everything|all(?: of)?(?: that)?|anything|what) "
        r"(?:(?:that|which) )?(?:you(?:'ve|'re)?|was|I|we) (?:(?:have|were|was|been|previously|"
        r"just|ve) ){0,3}(?:told|said|given|taught|instructed|programmed|written|learned)\b"
        r"|\bforget (?:everything|all) (?:above|before|so far|prior)\b",
        "forget",
        ("everything all anything what",),
        _fixed("high"),
    ),
    _p(
        "system_prompt_override",
        r"\b(?:ignore|disregard|forget|override|bypass|replace|overwrite|discard) "
        r"(?:(?:the|your|my|this|that|any|all|original|current|initial|hidden|default) ){0,3}"
        r"(?:system|developer|dev|initial|original|hidden|base) "
        r"(?:prompts?|messages?|instructions?|rules|directives?)\b",
        "ignore disregard forget override bypass replace overwrite discard",
        (
            "system developer dev initial original hidden base",
            "prompt prompts message messages instruction instructions rules directive directives",
        ),
        _fixed("high"),
    ),
    _p("dan", r"\bdo anything now\b", "do", ("anything", "now"), _fixed("high")),
    _p(
        "dan",
        r"\b(?:you are|you're|you will be|act as|pretend to be|become|play the role of|"
        r"roleplay as|role-play as) (?:(?:now|called|named|a|an|the) ){0,3}"
        r"(?:(?-i:DAN|STAN|DUDE|AIM)|mongo tom|antigpt|betterdan|evilbot|devmode)\b",
        "you act pretend become play roleplay role",
        ("dan stan dude aim mongo antigpt betterdan evilbot devmode",),
        _fixed("high"),
    ),
    _p(
        "dan",
        r"\b(?-i:DAN) (?:mode|prompt|jailbreak)\b",
        "dan",
        ("mode prompt jailbreak",),
        _fixed("high"),
    ),
    _p(
        "developer_mode",
        r"\b(?:developer|dev|god|jailbreak|jailbroken|unrestricted|unfiltered|uncensored|"
        r"(?-i:DAN)) mode (?:(?:(?:is|has|been|now) ){0,3}(?:enabled|activated|engaged|"
        r"unlocked)|(?:is|now) (?:on|active))\b",
        "developer dev god jailbreak jailbroken unrestricted unfiltered uncensored dan",
        ("mode", "enabled activated on engaged unlocked active"),
        _grade_mode,
        ambiguous=True,
    ),
    _p(
        "developer_mode",
        r"\b(?:enable|activate|enter|switch to|turn on|unlock) (?:(?:the|your) )?"
        r"(?:developer|dev|god|jailbreak|unrestricted|unfiltered|uncensored) mode\b",
        "enable activate enter switch turn unlock",
        ("mode",),
        _grade_mode,
        ambiguous=True,
    ),
    _p(
        "no_restrictions",
        rf"\b(?:pretend|imagine|act|behave|respond|answer|assume|suppose) "
        rf"(?:(?:as|if|like|that|though) ){{0,2}}you (?:(?:have|had|are|were|don't|do|not|"
        rf"lack|possess) ){{1,2}}(?:(?:no|any|zero|free|from|of|without|all|your|the|bound|by) )"
        rf"{{0,3}}{_RESTRICTIONS}\b",
        "pretend imagine act behave respond answer assume suppose",
        ("you", _RESTRICTION_WORDS),
        _fixed("high"),
    ),
    _p(
        "no_restrictions",
        r"\byou(?:'re| are| will be)? (?:now )?(?:(?:completely|totally|fully|an?) ){0,2}"
        r"(?:unrestricted|unfiltered|uncensored|unbound|unchained|jailbroken|liberated)\b",
        "you",
        ("unrestricted unfiltered uncensored unbound unchained jailbroken liberated",),
        _fixed("high"),
    ),
    _p(
        "no_restrictions",
        rf"\byou(?:'re| are| will be)? (?:now )?(?:no longer|not) (?:bound|restricted|"
        rf"limited|constrained|governed) by (?:(?:any|the|your|its|all|openai's|anthropic's) )"
        rf"{{0,2}}(?:{_RESTRICTIONS}|openai|anthropic)",
        "you",
        ("bound restricted limited constrained governed", "longer not"),
        _fixed("high"),
    ),
    _p(
        "no_restrictions",
        r"\b(?:without|with no|free of|free from) (?:any )?(?:(?:ethical|moral|content|safety) )?"
        r"(?:restrictions|filters|censorship|guidelines|limitations|safeguards|guardrails)\b",
        "without with free",
        ("restrictions filters censorship guidelines limitations safeguards guardrails",),
        _fixed("low"),
    ),
    _p(
        "reveal_system_prompt",
        r"\b(?:reveal|show|print|display|output|repeat|recite|leak|dump|expose|disclose|tell me|"
        r"give me|share|write out|spell out|paste|copy|what (?:is|are|was|were)) "
        r"(?:(?:me|us|out|back|verbatim|exactly|all|of|the|your|full|entire|complete|whole|"
        r"exact|word|for) ){0,5}"
        r"(?:system (?:prompts?|messages?|instructions)"
        r"|(?:initial|original|hidden|secret|internal) (?:prompts?|instructions)"
        r"|developer (?:messages?|instructions)|pre-?prompt|(?:instructions|prompt) you were given)"
        r"\b",
        _VERBS_SHOW,
        ("prompt prompts instructions message messages preprompt",),
        _grade_your("high", "medium"),
        ambiguous=True,
    ),
    _p(
        "reveal_system_prompt",
        r"\b(?:reveal|show|print|display|output|repeat|recite|leak|dump|disclose|tell me|"
        r"give me|what (?:is|are|was|were)) your (?:(?:exact|full|original|initial|hidden|"
        r"secret|entire|complete) ){0,2}(?:prompts?|instructions|rules|directives)\b",
        _VERBS_SHOW,
        ("your", "prompt prompts instructions rules directives"),
        _fixed("high"),
        ambiguous=True,
    ),
    _p(
        "reveal_system_prompt",
        r"\b(?:repeat|print|output|write|copy) (?:(?:all|the|of|everything|text|words|content|"
        r"lines|sentences|back|out|verbatim) ){0,4}(?:above|before this)\b",
        "repeat print output write copy",
        ("above before",),
        _fixed("medium"),
    ),
    _p(
        "roleplay_bypass",
        rf"\b(?:pretend|imagine|act|role-?play|play|behave|you are|you're|become) "
        rf"(?:(?:as|to|be|like|that|you|are|the|role|of|a|an|now) ){{0,5}}"
        rf"{_BAD_ADJ} (?:(?:and|or|[a-z]+) ){{0,2}}{_ROLE_NOUN}\b",
        "pretend imagine act roleplay role play behave you become",
        (_BAD_ADJ_WORDS, _ROLE_NOUN_WORDS),
        _fixed("high"),
    ),
    _p(
        "roleplay_bypass",
        r"\b(?:dead|deceased|late|dying) (?:grandma|grandmother|granny|nana)\b"
        r".{0,80}?\b(?:used to|would) (?:tell|read|recite|sing|explain|give)",
        "dead deceased late dying",
        ("grandma grandmother granny nana",),
        _fixed("medium"),
    ),
    _p(
        "roleplay_bypass",
        r"\bhypothetical(?:ly)? (?:(?:world|scenario|story|universe|setting) )?(?:where|in which) "
        r"(?:(?:there are|there's|you have|ai has|it is|it's|everything is) ){1,2}"
        r"(?:no rules|no restrictions|no laws|no limits|no ethics|legal|allowed)\b",
        "hypothetical hypothetically",
        ("where which",),
        _fixed("medium"),
    ),
    _p(
        "roleplay_bypass",
        r"\b(?:stay|remain) in character (?:no matter what|at all costs|whatever happens)\b"
        r"|\b(?:never|don't|do not|must not) (?:break|leave|drop) character\b",
        "stay remain never don do must",
        ("character",),
        _fixed("medium"),
    ),
    _p(
        "encoded_instructions",
        r"\b(?:decode|decipher|decrypt|unscramble|translate)\b.{0,60}?"
        r"\b(?:and|then)\W{1,8}(?:then )?(?:follow|execute|obey|comply with|do|run|perform|"
        r"carry out|act on|apply)\b",
        "decode decipher decrypt unscramble translate",
        ("follow execute obey comply do run perform carry act apply", "and then"),
        _grade_decode,
    ),
    _p(
        "encoded_instructions",
        r"\b(?:follow|execute|obey|carry out|act on|comply with) (?:(?:the|these|its|hidden|"
        r"decoded|encoded|embedded|secret|following) ){1,3}(?:instructions|commands|message|"
        r"orders|text)\b",
        "follow execute obey carry act comply",
        ("instructions commands message orders text",),
        _grade_follow_hidden,
    ),
    _p(
        "role_injection",
        r"<\|(?:im_start|im_end|system|endoftext|start_header_id|end_header_id|eot_id)\|>"
        r"|\[/?(?:INST|SYS)\]|<</?SYS>>",
        "<| [inst] [/inst] [sys] [/sys] <<sys>> <</sys>>",
        ("im start end system endoftext header eot inst sys",),
        _fixed("medium"),
        word_anchors=False,
    ),
    _p(
        "role_injection",
        r"\b(?:system|developer)(?: (?:prompt|message|override|instructions?))?[\x20\t]{0,2}:",
        "system developer",
        (),
        _grade_line_start,
    ),
    _p(
        "disable_safety",
        r"\b(?:disable|turn off|switch off|deactivate|remove|bypass|circumvent|evade|get around|"
        r"override|ignore) (?:(?:all|any|your|the|its|of|those|these|built-in|internal|"
        r"openai's) ){0,3}(?:safety|content|ethical|moral|censorship|nsfw|moderation) "
        r"(?:filters?|guidelines|guardrails|restrictions|protocols|policies|policy|settings|"
        r"measures|checks|mechanisms|features|layers?|training)\b",
        "disable turn switch deactivate remove bypass circumvent evade get override ignore",
        (
            "safety content ethical moral censorship nsfw moderation",
            "filter filters guidelines guardrails restrictions protocols policies policy settings "
            "measures checks mechanisms features layer layers training",
        ),
        _grade_your("high", "medium"),
        ambiguous=True,
    ),
    _p(
        "disable_safety",
        r"\b(?:disable|turn off|bypass|circumvent|evade|get around) (?:your|all your) "
        r"(?:filters|guardrails|restrictions|safeguards|limitations)\b",
        "disable turn bypass circumvent evade get",
        ("your", "filters guardrails restrictions safeguards limitations"),
        _fixed("high"),
    ),
    _p(
        "new_instructions",
        r"(?:(?<=\byour\x20)|(?<=\bthe\x20))new "
        r"(?:(?:system|real|actual|updated|primary|only) ){0,2}"
        r"(?:instructions|prompt|rules|directives|task|objective|goal|purpose) (?:is|are)\b"
        r"|\bnew system (?:prompt|message|instructions)\b",
        "new",
        ("instructions prompt rules directives task objective goal purpose message",),
        _fixed("medium"),
    ),
    _p(
        "new_instructions",
        r"\bfrom now on,? you (?:will|must|shall|are going to|should) (?:only )?"
        r"(?:obey|follow|ignore|answer without|respond without|comply)\b",
        "from",
        ("now", "you", "obey follow ignore without comply"),
        _fixed("low"),
    ),
)

#: Every kind this module can emit.
JAILBREAK_KINDS: frozenset[str] = frozenset(p.kind for p in PATTERNS)
_GATE_WORDS: frozenset[bytes] = frozenset().union(*(g for p in PATTERNS for g in p.gates))

_QUOTES = frozenset("\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb")
_CODE_CUES = ("```", "def ", "traceback", "#include", "function(", "function ", "stack trace",
              "error:", "exception", "import ", "console.", "=>", "();", "public static",
              "fn main", "unsafe {")  # fmt: skip


def _shift(severity: Severity, by: int) -> Severity:
    return _LEVELS[max(0, min(2, _LEVELS.index(severity) + by))]


def _strength(hit: tuple[Pattern, int, int, Severity, str]) -> tuple[int, int]:
    return _LEVELS.index(hit[3]), hit[2] - hit[1]


def _preview(raw: str) -> str:
    """The phrase, whitespace collapsed, at most 60 characters; tokens that may carry data
    (an ``@``, three or more digits, 20+ characters: a payload, a number, an address caught
    inside a long match) become ``***``."""
    flat = " ".join("***" if _MASKED_TOKEN.search(w) or len(w) >= 20 else w for w in raw.split())
    return flat if len(flat) <= 60 else flat[:57] + "..."


_MASKED_TOKEN = re.compile(r"@|[0-9][^0-9]*[0-9][^0-9]*[0-9]")


_ORDER = {id(p): i for i, p in enumerate(PATTERNS)}
# word -> patterns whose last (most specific) gate contains it; see _candidates.
_BY_LAST_GATE: dict[bytes, list[Pattern]] = {}
for _pattern in PATTERNS:
    for _word in _pattern.gates[-1]:
        _BY_LAST_GATE.setdefault(_word, []).append(_pattern)


def _candidates(present: frozenset[bytes]) -> list[Pattern]:
    """Patterns whose every gate shares a word with ``present``, in ``PATTERNS`` order."""
    seen: set[int] = set()
    out: list[Pattern] = []
    for word in present:
        for pattern in _BY_LAST_GATE.get(word, ()):
            if id(pattern) in seen:
                continue
            seen.add(id(pattern))
            for gate in pattern.gates:
                if gate.isdisjoint(present):
                    break
            else:
                out.append(pattern)
    out.sort(key=lambda p: _ORDER[id(p)])
    return out


def _matches(pattern: Pattern, t: Text) -> Iterator[re.Match[str]]:
    """Matches of ``pattern`` starting at its anchors (only anchors the text contains)."""
    anchors = (
        tuple(a for a, w in zip(pattern.anchors, pattern.anchor_words, strict=True) if w in t.words)
        if pattern.anchor_words
        else pattern.anchors
    )
    counts = [t.lowered.count(a) for a in anchors]
    if sum(counts) > DENSE_ANCHORS:
        yield from pattern.regex.finditer(t.text)
        return
    for anchor, count in zip(anchors, counts, strict=True):
        i = t.lowered.find(anchor) if count else -1
        while i >= 0:
            m = pattern.regex.match(t.text, i)
            i = t.lowered.find(anchor, max(m.end(), i + 1) if m is not None else i + 1)
            if m is not None:
                yield m


def find_jailbreaks(
    t: Text, disabled: frozenset[str] = frozenset(), limit: int = 1_000
) -> Iterator[Hit]:
    """Jailbreak hits in ``t``, with severities adjusted for corroboration and code context."""
    present = t.words & _GATE_WORDS
    if not present:
        return
    raw_hits: list[tuple[Pattern, int, int, Severity, str]] = []
    for pattern in _candidates(present):
        if pattern.kind in disabled or len(raw_hits) >= limit:
            continue
        for m in _matches(pattern, t):
            severity = pattern.grade(m, t)
            if severity is not None:
                raw_hits.append((pattern, m.start(), m.end(), severity, _preview(m.group())))
                if len(raw_hits) >= limit:
                    break
    if not raw_hits:
        return
    # Overlapping hits of one kind: keep the most severe (then the longest) of each chain.
    raw_hits.sort(key=lambda h: (h[0].kind, h[1]))
    kept: list[tuple[Pattern, int, int, Severity, str]] = []
    chain_end = -1
    for hit in raw_hits:
        last = kept[-1] if kept else None
        if last is not None and last[0].kind == hit[0].kind and hit[1] < chain_end:
            chain_end = max(chain_end, hit[2])
            if _strength(hit) > _strength(last):
                kept[-1] = hit
            continue
        kept.append(hit)
        chain_end = hit[2]
    corroborated = len({h[0].kind for h in kept}) >= 2
    code = any(c in t.lowered for c in _CODE_CUES)
    for pattern, start, end, severity, preview in sorted(kept, key=lambda h: h[1]):
        if corroborated:
            severity = _shift(severity, +1)
        elif (code and pattern.ambiguous) or _quoted(t.text, start, end):
            severity = _shift(severity, -1)
        yield pattern.kind, start, end, severity, preview


def _quoted(text: str, start: int, end: int) -> bool:
    """The phrase is mentioned in quotes ("translate 'ignore previous instructions'")."""
    return start > 0 and end < len(text) and text[start - 1] in _QUOTES and text[end] in _QUOTES
