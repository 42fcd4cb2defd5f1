"""Alembic environment: the engine comes from radius_server (see store/database.py)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from radius_server.store.models import Base
from radius_server.store.unmodelled import include_object

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run migrations on the engine passed in by radius_server, or on sqlalchemy.url."""
    engine = config.attributes.get("engine")
    if engine is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"), hide_parameters=True)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
