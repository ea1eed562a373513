"""Attribute schemas of the kinds the issue names: age, income in cents, day numbers, city, fault code."""

from zkp import AttributeSchema

AGE = AttributeSchema.integer("age", 8)
INCOME_CENTS = AttributeSchema.integer("income_cents", 48)
BIRTH_DAY = AttributeSchema.integer("birth_day_number", 32)
CITY = AttributeSchema.categorical("city")
FAULT_CODE = AttributeSchema.categorical("fault_code")
