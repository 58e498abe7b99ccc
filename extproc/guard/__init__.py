"""Prompt guard: detection of PII, secrets and jailbreak phrasings in prompt text.

Detection only; what to do with a finding (block, redact, route, log) is the router's call.

```python
from extproc.guard import PromptGuard, redact

guard = PromptGuard()                       # build once; scan() is thread-safe
result = guard.scan(prompt_text)
if result.has("secret", "high"): ...
clean = redact(prompt_text, result)         # spans -> [REDACTED:<kind>]
```
"""

from extproc.guard.scan import ALL_KINDS, CATEGORIES, Finding, PromptGuard, ScanResult, redact

__all__ = ["ALL_KINDS", "CATEGORIES", "Finding", "PromptGuard", "ScanResult", "redact"]
