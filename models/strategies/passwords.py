"""What makes a new password too weak, in the words of the document's 400 texts.

The Strategies API's documents give ``This password is too short. It must contain at
least 8 characters.`` and name three more rules (too common, too similar to the email);
these are Django's default password validators, whose texts are used here, together with
their fourth (entirely numeric). "Too common" also covers a listed word with digits or
symbols around it and passwords of fewer than four distinct characters. Every rule that
fails is reported, as Django does. Reusing the current password is refused by the
password change itself (``models.strategies.customers.check_new_password``).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

MIN_LENGTH = 8
MAX_SIMILARITY = 0.7
MIN_DISTINCT = 4  # fewer distinct characters than this is "too common"
_AFFIXES = re.compile(r"^[\d\W_]+|[\d\W_]+$")

# The most common passwords of the public breach lists (a short list: the long tail is the
# length rule's job).
COMMON_PASSWORDS = frozenset(
    """
    123456 123456789 12345678 password qwerty123 qwerty1 111111 12345 secret 123123
    1234567890 1234567 000000 qwerty abc123 password1 iloveyou 11111111 dragon monkey
    123123123 1q2w3e4r 654321 superman qwertyuiop 1qaz2wsx 7777777 sunshine princess
    football baseball welcome shadow master letmein trustno1 passw0rd starwars whatever
    michael jennifer hunter2 freedom charlie computer zaq12wsx asdfghjkl 987654321
    88888888 q1w2e3r4t5 password123 admin123 administrator changeme loveme pokemon
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


def weak_password_problems(password: str, *, email: str) -> list[str]:
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(
            f"This password is too short. It must contain at least {MIN_LENGTH} characters."
        )
    if _common(password):
        problems.append("This password is too common.")
    if password.isdigit():
        problems.append("This password is entirely numeric.")
    if _too_similar(password, email):
        problems.append("The password is too similar to the email address.")
    return problems


def _common(password: str) -> bool:
    """On the list; or a listed word with digits or symbols added before or after it
    (``password1234``); or so few distinct characters (``aaaaaaaaaaaa``, ``abababab``)
    that it is guessed as fast as a listed one."""
    lowered = password.lower().strip()
    stripped = _AFFIXES.sub("", lowered)
    return (
        lowered in COMMON_PASSWORDS
        or stripped in COMMON_PASSWORDS
        or len(set(lowered)) < MIN_DISTINCT
    )


def _too_similar(password: str, email: str) -> bool:
    """Django's rule: the email, or any word of it, matches the password 70% or more."""
    lowered = password.lower()
    email = email.lower()
    for part in [email, *re.split(r"\W+", email)]:
        matcher = SequenceMatcher(a=lowered, b=part)
        if part and matcher.quick_ratio() >= MAX_SIMILARITY <= matcher.ratio():
            return True
    return False
