"""One proxied read and the "may I?" question: resolve the client and the subject, decide per category,
fetch and filter the upstream's record, and record the access in the ledger before anything is released.
"""
