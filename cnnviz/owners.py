"""Who owns a run or an upload on a shared server: the students' secret tokens and the teacher's key.

A class shares one server. Each browser session gets a **secret token** (:func:`new_token`,
24 URL-safe characters, 144 random bits: unguessable). What is stored on disk is never the
token but its **owner id** (:func:`owner_id`, a SHA-256 of it): a run's ``settings.json`` and
an upload's side file keep the owner id, so reading the disk does not give anyone a token
that opens someone else's work. A :class:`Viewer` is who is looking: a student (their owner
id) or the teacher (who may see and manage everything). The teacher's key comes from
``CNNVIZ_TEACHER_KEY`` (:func:`teacher_key_ok`, compared in constant time); without it
there is no teacher and nobody sees everything.

Work without an owner (written by the command line, or by a version before owners) belongs
to the teacher: only the teacher's viewer (:data:`TEACHER`, also what the CLI uses) sees it.

Light: the standard library, ``cnnviz.settings``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from cnnviz import settings

ENV_TEACHER_KEY = "CNNVIZ_TEACHER_KEY"
TOKEN_BYTES = 18                                  # 144 bits → 24 URL-safe characters
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{24}")      # what new_token makes, and all a URL may bring
OWNER_RE = re.compile(r"[0-9a-f]{32}")


def new_token() -> str:
    """A fresh secret token for one student (24 URL-safe characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def valid_token(token: object) -> bool:
    """Whether ``token`` has the shape :func:`new_token` makes (anything else from a URL is ignored)."""
    return isinstance(token, str) and TOKEN_RE.fullmatch(token) is not None


def owner_id(token: str) -> str:
    """What the disk keeps of a token: 32 hex digits of its SHA-256 (the token cannot be read back)."""
    return hashlib.sha256(("cnnviz-owner:" + token).encode()).hexdigest()[:32]


def valid_owner(owner: object) -> bool:
    return isinstance(owner, str) and OWNER_RE.fullmatch(owner) is not None


def owner_label(owner: str | None) -> str:
    """A short, stable name of an owner for the teacher's lists ("student-3fa9c1"); "—" for none."""
    return f"student-{owner[:6]}" if valid_owner(owner) else "—"


def teacher_key() -> str | None:
    """``CNNVIZ_TEACHER_KEY``, or None when the teacher set none (then nobody is the teacher)."""
    return settings.env_raw(ENV_TEACHER_KEY)


def teacher_key_ok(key: object) -> bool:
    """Whether ``key`` is the teacher's key (constant-time compare); False when no key is set."""
    expected = teacher_key()
    if not expected or not isinstance(key, str) or not key:
        return False
    return hmac.compare_digest(key.encode(), expected.encode())


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a student (``owner``: their owner id) or the teacher (sees everything)."""

    owner: str | None = None
    teacher: bool = False

    def may(self, owner: str | None) -> bool:
        """Whether this viewer may see, stop, download or reuse what ``owner`` owns."""
        if self.teacher:
            return True
        return self.owner is not None and owner is not None and hmac.compare_digest(self.owner, owner)


#: The teacher (and the command line, run by whoever has the server's shell).
TEACHER = Viewer(teacher=True)


def student(token: str) -> Viewer:
    """The viewer a student's token makes."""
    return Viewer(owner=owner_id(token))


__all__ = ["ENV_TEACHER_KEY", "Viewer", "TEACHER", "new_token", "valid_token", "owner_id", "valid_owner",
           "owner_label", "teacher_key", "teacher_key_ok", "student"]
