"""Local stack: a real Envoy + the router + demo upstreams as child processes."""
