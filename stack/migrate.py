"""Apply the alembic migrations: `python -m stack.migrate` (uses DATABASE_URL) or `upgrade(url)`."""

from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str | None = None) -> None:
    """Bring the database to the latest revision. Runs its own event loop: call it outside one."""
    command.upgrade(alembic_config(database_url), "head")


if __name__ == "__main__":
    upgrade()
