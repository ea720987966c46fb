"""A tenant's business profile and where it stopped in onboarding (table tenant_profiles, migration 0029, under
row-level security). A tenant without a row (made by the operator) is at the profile step, as a new one is."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import asyncpg

from db.pool import tenant_transaction

# the seed's six steps, in order; a tenant's row holds the one it is at, or DONE
STEPS = ("account", "profile", "services", "credentials", "agent", "automations")
DONE = "done"
STEP_TITLES = {
    "account": "Your account",
    "profile": "Business profile",
    "services": "Connect services",
    "credentials": "Credentials",
    "agent": "Personal agent",
    "automations": "First automations",
}
INDUSTRIES = (
    "Retail and e-commerce",
    "Professional services",
    "Hospitality and food",
    "Health and wellbeing",
    "Education",
    "Media and publishing",
    "Manufacturing",
    "Non-profit",
    "Other",
)
GOALS = {
    "sell": "Sell more online",
    "customers": "Keep customers coming back",
    "admin": "Spend less time on admin",
    "numbers": "Understand my numbers",
    "content": "Publish content regularly",
}


@dataclass(frozen=True)
class Profile:
    details: str = ""
    industry: str = ""
    goals: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    personal_agent: bool = False
    onboarding_step: str = "profile"


COLUMNS = ", ".join(f.name for f in fields(Profile))


def step_index(step: str) -> int:
    return len(STEPS) if step == DONE else STEPS.index(step)


def later(a: str, b: str) -> str:
    return a if step_index(a) >= step_index(b) else b


async def load_profile(pool: asyncpg.Pool, tenant_id: str) -> Profile:
    async with tenant_transaction(pool, tenant_id) as conn:
        row = await conn.fetchrow(f"SELECT {COLUMNS} FROM tenant_profiles")
    return Profile(**row) if row else Profile()


def personal_agent_on(profile: Profile) -> bool:
    """Whether the tenant's personal agent answers chat. Only the tenant's own answer to step 5 counts: a tenant that
    has not answered it (one made by the operator or the API, or still before that step) has its personal agent, so
    the column's default (false, from migration 0029) is not read as "off" (docs/decisions.md)."""
    return profile.personal_agent or step_index(profile.onboarding_step) <= step_index("agent")


async def onboarding_step(pool: asyncpg.Pool, tenant_id: str) -> str:
    return (await load_profile(pool, tenant_id)).onboarding_step


async def save_profile(pool: asyncpg.Pool, tenant_id: str, done: str, **changes: object) -> Profile:
    """Store what a step changed and move the tenant past `done` (never back: revisiting a step keeps its place)."""
    async with tenant_transaction(pool, tenant_id) as conn:
        row = await conn.fetchrow(f"SELECT {COLUMNS} FROM tenant_profiles FOR UPDATE")
        current = Profile(**row) if row else Profile()
        following = STEPS[STEPS.index(done) + 1] if done != STEPS[-1] else DONE
        updated = {**current.__dict__, **changes, "onboarding_step": later(current.onboarding_step, following)}
        names = list(updated)
        await conn.execute(
            f"INSERT INTO tenant_profiles (tenant_id, {', '.join(names)}) "
            f"VALUES ($1, {', '.join(f'${i + 2}' for i in range(len(names)))}) "
            f"ON CONFLICT (tenant_id) DO UPDATE SET {', '.join(f'{n} = EXCLUDED.{n}' for n in names)}, "
            "updated_at = now()",
            tenant_id,
            *updated.values(),
        )
    return Profile(**updated)
