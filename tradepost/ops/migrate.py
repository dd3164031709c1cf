"""Apply and inspect Alembic migrations from code (the CLI and the app's start-up)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlmodel import Session

import migrations

SCRIPT_LOCATION = str(Path(migrations.__file__).parent)


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new migration from the models (a developer tool)."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


@cache
def head() -> str | None:
    """The newest revision shipped with this code (read once per process)."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def current_in(session: Session) -> str | None:
    """``current`` on a session's connection (``Database.run_read`` work)."""
    return MigrationContext.configure(session.connection()).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current(engine) == head()
