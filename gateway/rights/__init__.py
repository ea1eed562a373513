"""The customer's rights over their data: consents and their receipts, the log of who accessed it, export
(portability), erasure, value-for-data points and custody of the customer's DID key.

Plain functions shared by the REST routes (`/v1/me/...`) and the portal, so both answer alike; their
failures are `CustomerRightsError`s carrying the problem type they become.
"""
