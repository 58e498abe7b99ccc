"""The ext_proc wire: gRPC server, per-stream state machine, response builders."""
