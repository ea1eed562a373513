"""One module per benchmark; each exposes `run(*, quick: bool) -> dict` and is run by `consentry bench`."""
