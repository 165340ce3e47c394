"""Benign corpus, part 2: SQL that SQLAlchemy 2's ORM emits for PostgreSQL.

Real ORM constructs (selects with joins, eager loads, correlated EXISTS and counts, CTEs,
window functions, UNION, JSONB and ARRAY operators, inserts with RETURNING, multi-row inserts,
updates, deletes, upserts, FOR UPDATE, empty IN lists) compiled against the PostgreSQL
dialects: with literal values rendered in (what psycopg2's client-side interpolation sends)
or with ``$n`` placeholders (asyncpg, psycopg 3's server-side binding). Some carry the
sqlcommenter suffix or an ORM prefix comment, as instrumented applications send them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Table,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    aliased,
    contains_eager,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
    subqueryload,
)
from sqlalchemy.sql import ClauseElement

from tests.dbguard.sqlcorpus import PRODUCTS, STATUSES, WORDS, person


class Base(DeclarativeBase):
    pass


product_tags = Table(
    "product_tags",
    Base.metadata,
    Column("product_id", ForeignKey("products.id"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id"), primary_key=True),
)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    addresses: Mapped[list[Address]] = relationship(back_populates="user")
    orders: Mapped[list[Order]] = relationship(back_populates="user")


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    city: Mapped[str] = mapped_column(String(100))
    postcode: Mapped[str] = mapped_column(String(20))
    user: Mapped[User] = relationship(back_populates="addresses")


class Category(Base):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50))


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    keywords: Mapped[list[str]] = mapped_column(ARRAY(String))
    category: Mapped[Category] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=product_tags)


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(20))
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    placed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    user: Mapped[User] = relationship(back_populates="orders")
    items: Mapped[list[OrderItem]] = relationship(back_populates="order")


class OrderItem(Base):
    __tablename__ = "order_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    order: Mapped[Order] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()


_LITERAL = postgresql.dialect(paramstyle="named")  # type: ignore[no-untyped-call]
_ASYNCPG = asyncpg_dialect()  # type: ignore[no-untyped-call]


def render(stmt: ClauseElement, *, literal_values: bool) -> str:
    """The SQL the server receives: values rendered in, or $n placeholders."""
    if literal_values:
        return str(stmt.compile(dialect=_LITERAL, compile_kwargs={"literal_binds": True}))
    return str(stmt.compile(dialect=_ASYNCPG, compile_kwargs={"render_postcompile": True}))


def orm_statements(rng: random.Random, count: int) -> Iterator[tuple[str, str]]:
    """`count` ORM statements, ("orm.literal" | "orm.bound", sql)."""
    makers = _makers(rng)
    for _ in range(count):
        stmt = rng.choice(makers)()
        literal_values = rng.random() < 0.5
        sql = render(stmt, literal_values=literal_values)
        r = rng.random()
        if r < 0.1:
            route = rng.choice(("users", "orders", "products", "checkout"))
            sql += (
                f" /*action='{rng.choice(('index', 'show', 'update'))}',controller='{route}',"
                "db_driver='psycopg2',framework='flask%3A3.0.3',"
                f"traceparent='00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-01'*/"
            )
        elif r < 0.15:
            sql = f"/* request_id={rng.getrandbits(64):016x} */ {sql}"
        yield ("orm.literal" if literal_values else "orm.bound"), sql


def _makers(rng: random.Random) -> list[Callable[[], ClauseElement]]:
    def uid() -> int:
        return rng.randint(1, 250000)

    def ids(n: int) -> list[int]:
        return [uid() for _ in range(n)]

    def when() -> dt.datetime:
        return dt.datetime(2025, rng.randint(1, 12), rng.randint(1, 28), tzinfo=dt.UTC)

    def word() -> str:
        return rng.choice(WORDS)

    def money() -> Decimal:
        return Decimal(rng.randint(100, 99999)) / 100

    order_alias = aliased(Order)

    return [
        lambda: select(User).where(User.id == uid()),
        lambda: select(User).where(User.email == person(rng)[1]),
        lambda: select(User).where(User.name == person(rng)[0], User.is_active.is_(True)),
        lambda: (
            select(User)
            .options(joinedload(User.addresses))
            .where(User.name.ilike(f"%{word()}%"))
            .limit(rng.choice((10, 20, 50)))
            .offset(rng.randint(0, 5) * 20)
        ),
        lambda: select(User).options(selectinload(User.orders)).where(User.id.in_(ids(5))),
        lambda: select(Address).where(Address.user_id.in_(ids(rng.randint(1, 30)))),
        lambda: select(Order).options(subqueryload(Order.items)).where(Order.user_id == uid()),
        lambda: (
            select(Order)
            .join(Order.user)
            .where(User.id == uid(), Order.status.in_(rng.sample(STATUSES, 2)))
            .order_by(Order.placed_at.desc())
        ),
        lambda: (
            select(Order)
            .join(Order.user)
            .options(contains_eager(Order.user))
            .where(Order.placed_at >= when())
        ),
        lambda: (
            select(Product)
            .where(Product.price.between(money(), money() + 100), Product.category_id == uid() % 40)
            .order_by(Product.price)
        ),
        lambda: select(Product).where(Product.name == rng.choice(PRODUCTS)),
        lambda: select(Product).where(Product.name.contains(rng.choice(PRODUCTS)[:6])),
        lambda: select(func.count(Order.id)).where(Order.user_id == uid()),
        lambda: select(func.count()).select_from(User).where(User.created_at > when()),
        lambda: (
            select(Product.category_id, func.avg(Product.price), func.count())
            .group_by(Product.category_id)
            .having(func.count() > rng.randint(2, 20))
        ),
        lambda: select(User).where(User.orders.any(Order.total > money())),
        lambda: select(User).where(~User.addresses.any()),
        lambda: select(User).where(
            exists().where(Order.user_id == User.id, Order.status == rng.choice(STATUSES))
        ),
        lambda: select(User.id, User.name).where(
            select(func.count(Order.id)).where(Order.user_id == User.id).scalar_subquery()
            > rng.randint(1, 9)
        ),
        lambda: select(
            Order.id,
            Order.total,
            func.row_number().over(partition_by=Order.user_id, order_by=Order.placed_at.desc()),
        ).where(Order.placed_at > when()),
        lambda: _recent_orders(rng, when()),
        lambda: union_all(
            select(User.email.label("address")).where(User.is_active.is_(True)),
            select(literal(person(rng)[1]).label("address")),
        ),
        lambda: (
            select(User.email)
            .where(User.id.in_(ids(3)))
            .union(select(User.email).where(User.name == person(rng)[0]))
        ),
        lambda: select(User).where(User.settings["theme"].astext == rng.choice(("dark", "light"))),
        lambda: select(Product).where(Product.keywords.contains([word()])),
        lambda: select(Product).where(Product.tags.any(Tag.label == word())),
        lambda: select(User).where(User.id.in_([])),
        lambda: select(User).where(User.id.not_in([]), User.is_active.is_(True)),
        lambda: select(User).where(or_(User.name == person(rng)[0], User.email == person(rng)[1])),
        lambda: select(User).where(
            and_(User.is_active.is_(True), or_(User.created_at.is_(None), User.created_at < when()))
        ),
        lambda: select(Order).where(Order.id == uid()).with_for_update(),
        lambda: (
            select(Order)
            .where(Order.status == "pending")
            .order_by(Order.placed_at)
            .limit(10)
            .with_for_update(skip_locked=True)
        ),
        lambda: (
            select(Order.user_id, Order.placed_at)
            .ext(distinct_on(Order.user_id))
            .order_by(Order.user_id, Order.placed_at.desc())
        ),
        lambda: (
            select(Order, order_alias)
            .join(
                order_alias, and_(order_alias.user_id == Order.user_id, order_alias.id != Order.id)
            )
            .where(Order.id == uid())
        ),
        lambda: select(Category).where(Category.parent_id.is_(None)).order_by(Category.name),
        lambda: (
            insert(User)
            .values(name=person(rng)[0], email=person(rng)[1], created_at=when())
            .returning(User.id)
        ),
        lambda: (
            insert(Order)
            .values(
                [
                    {"user_id": uid(), "status": "pending", "total": money(), "placed_at": when()}
                    for _ in range(rng.randint(2, 6))
                ]
            )
            .returning(Order.id)
        ),
        lambda: insert(OrderItem).values(
            order_id=uid(), product_id=uid(), quantity=rng.randint(1, 9), unit_price=money()
        ),
        lambda: update(User).where(User.id == uid()).values(name=person(rng)[0]),
        lambda: (
            update(Order)
            .where(Order.id == uid(), Order.status == "pending")
            .values(status=rng.choice(STATUSES))
        ),
        lambda: (
            update(Product)
            .where(Product.category_id == uid() % 40)
            .values(price=Product.price * Decimal("1.05"))
        ),
        lambda: delete(Address).where(Address.id == uid()),
        lambda: delete(OrderItem).where(OrderItem.order_id == uid()).returning(OrderItem.id),
        lambda: (
            pg_insert(User)
            .values(name=person(rng)[0], email=person(rng)[1], created_at=when())
            .on_conflict_do_update(
                index_elements=[User.email], set_={"name": person(rng)[0], "created_at": when()}
            )
        ),
        lambda: pg_insert(Tag).values(label=word()).on_conflict_do_nothing(),
        lambda: (
            select(Product)
            .join(Product.category)
            .where(Category.name == rng.choice(("Lamps", "Chairs", "Books")))
            .order_by(Product.name)
            .limit(24)
        ),
    ]


def _recent_orders(rng: random.Random, since: dt.datetime) -> ClauseElement:
    recent = (
        select(Order.user_id, func.sum(Order.total).label("spent"))
        .where(Order.placed_at > since)
        .group_by(Order.user_id)
        .cte("recent")
    )
    return (
        select(User.name, recent.c.spent)
        .join(recent, recent.c.user_id == User.id)
        .order_by(recent.c.spent.desc())
        .limit(rng.choice((5, 10)))
    )
