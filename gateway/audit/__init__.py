"""The gateway's side of the ledger for auditors: opening it with the checkpoint keys, signed checkpoints
at every published size, and the index of ledger events by subject that the access log searches.
"""
