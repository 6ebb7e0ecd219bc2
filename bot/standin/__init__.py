"""A stand-in for Telegram's Bot API on 127.0.0.1, simulated users and demo wards.

The test suite drives the real bot through these, and `wardvoice try` lets a person chat
with the bot in a terminal through the same stand-in: no Telegram account or token.
"""
