"""Node functions, one module per family. Each is `(state, runtime) -> dict` and returns the
`event` it raised; the compiled machine picks the transition."""
