"""Demo OpenAI-compatible upstreams for `extproc-router up` and the tests."""
