"""Constants shared by the credentials tests (a unique module name: `conftest` is ambiguous across test dirs)."""

# vc-di-eddsa TestVectors/keyPair.json
VECTOR_PUBLIC = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
VECTOR_PRIVATE = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"
ISSUER_DID = "did:web:consentry.example"
DOMAIN = "consentry.example"
