"""Guild settings and the moderation log, on SQLAlchemy's ORM.

This part came later than the rest of the bot and was written against the ORM;
it reads its own URL, ``SETTINGS_DATABASE_URL`` (an ``postgresql+asyncpg://`` URL).
"""
from __future__ import annotations

import os
from sqlalchemy import BigInteger, Column, DateTime, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import declarative_base, registry

SETTINGS_DATABASE_URL = os.environ["SETTINGS_DATABASE_URL"]

engine = create_async_engine(SETTINGS_DATABASE_URL, pool_size=3, pool_pre_ping=True)
SessionLocal = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

Base = declarative_base()
# the moderation log is mapped through a registry of its own, on the same MetaData
audit_registry = registry(metadata=Base.metadata)


class GuildConfig(Base):
    __tablename__ = "guild_config"

    guild_id = Column(BigInteger, primary_key=True, autoincrement=False)
    prefix = Column(String(5), nullable=False, server_default="!")
    locale = Column(String(10), nullable=False, server_default="en")
    karma_enabled = Column(Integer, nullable=False, server_default="1")
    extras = Column(JSONB, nullable=False, server_default="{}")
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now())


@audit_registry.mapped
class ModAction:
    __tablename__ = "mod_actions"

    id = Column(Integer, primary_key=True)
    guild_id = Column(BigInteger, nullable=False, index=True)
    moderator_id = Column(BigInteger, nullable=False)
    target_id = Column(BigInteger, nullable=False)
    action = Column(String(16), nullable=False)
    note = Column(Text)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())

    def __repr__(self) -> str:
        return f"ModAction({self.action} {self.target_id} by {self.moderator_id})"


async def init_models() -> None:
    """Create the ORM tables when they are missing."""
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


class SettingsDAO:
    """All methods take the caller's session and commit what they change."""

    @staticmethod
    async def get(session: AsyncSession, guild_id: int) -> GuildConfig | None:
        return await session.get(GuildConfig, guild_id)

    @staticmethod
    async def ensure(session: AsyncSession, guild_id: int) -> GuildConfig:
        config = await session.get(GuildConfig, guild_id)
        if config is None:
            config = GuildConfig(guild_id=guild_id)
            session.add(config)
            await session.commit()
            await session.refresh(config)
        return config

    @staticmethod
    async def set_prefix(session: AsyncSession, guild_id: int, prefix: str) -> GuildConfig:
        if not 1 <= len(prefix) <= 5 or " " in prefix:
            raise ValueError("a prefix is 1 to 5 characters without spaces")
        config = await SettingsDAO.ensure(session, guild_id)
        config.prefix = prefix
        await session.commit()
        await session.refresh(config)
        return config

    @staticmethod
    async def log_action(session: AsyncSession, guild_id: int, moderator_id: int, target_id: int,
                         action: str, note: str | None = None) -> ModAction:
        entry = ModAction(guild_id=guild_id, moderator_id=moderator_id, target_id=target_id, action=action, note=note)
        session.add(entry)
        await session.commit()
        await session.refresh(entry)
        return entry

    @staticmethod
    async def recent_actions(session: AsyncSession, guild_id: int, limit: int = 10) -> list[ModAction]:
        from sqlalchemy import select

        result = await session.execute(
            select(ModAction).where(ModAction.guild_id == guild_id).order_by(ModAction.id.desc()).limit(limit)
        )
        return list(result.scalars())

