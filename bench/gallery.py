"""The gallery at 100,000 assets: keyset pages against OFFSET pages, measured in one run.

The baseline is the same query paged with OFFSET, the way a naive gallery pages; the ratio
says how many times faster a deep keyset page is. Also counts the SQL statements one page
costs (no N+1: the same for 12 items as for 96).
"""

import argparse
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path

import psycopg
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.orm import Session, selectinload

from app.assets.models import Asset, AssetStatus, Tag, asset_tags
from app.assets.service import AssetFilter, asset_page
from app.brands.models import Brand
from app.db import make_engine
from app.migrate import db_upgrade
from bench.timing import median_seconds

TAGS = [
    "tote",
    "clutch",
    "scarf",
    "pump",
    "loafer",
    "belt",
    "wallet",
    "hat",
    "burgundy",
    "ivory",
    "navy",
    "cognac",
    "calfskin",
    "suede",
    "silk twill",
    "canvas",
]
PAGE = 48
REPEAT = 7  # timed calls per measurement; the median is reported


def _fill(engine: Engine, n: int) -> Brand:
    with Session(engine, expire_on_commit=False) as session:
        brand = Brand(slug="bench", name="Bench")
        session.add(brand)
        session.flush()
        tags = [Tag(brand_id=brand.id, name=name) for name in TAGS]
        session.add_all(tags)
        session.flush()
        statuses = list(AssetStatus)
        for start in range(0, n, 10_000):
            rows = [
                {
                    "brand_id": brand.id,
                    "sha256": f"{i:064x}",
                    "filename": f"img-{i}.jpg",
                    "format": "JPEG",
                    "mode": "RGB",
                    "width": 800,
                    "height": 800,
                    "size_bytes": 120_000,
                    "caption": f"product {i} in {TAGS[i % 16]}",
                    "status": statuses[i % 3],
                }
                for i in range(start, min(n, start + 10_000))
            ]
            session.execute(insert(Asset), rows)
        ids = session.scalars(select(Asset.id).order_by(Asset.id)).all()
        links = [
            {"asset_id": a, "tag_id": tags[(a + k * 5) % 16].id} for a in ids for k in range(2)
        ]
        for start in range(0, len(links), 20_000):
            session.execute(insert(asset_tags), links[start : start + 20_000])
        session.commit()
        session.expunge(brand)
        return brand


def _offset_page(engine: Engine, brand: Brand, depth: int, filters: AssetFilter) -> None:
    with Session(engine) as session:
        query = select(Asset).where(Asset.brand_id == brand.id).options(selectinload(Asset.tags))
        if filters.status:
            query = query.where(Asset.status == filters.status)
        list(session.scalars(query.order_by(Asset.id.desc()).offset(depth).limit(PAGE)))


def _ids(engine: Engine, brand: Brand, filters: AssetFilter) -> list[int]:
    with Session(engine) as session:
        query = select(Asset.id).where(Asset.brand_id == brand.id)
        if filters.status:
            query = query.where(Asset.status == filters.status)
        return list(session.scalars(query.order_by(Asset.id.desc())))


def _keyset_page(engine: Engine, brand: Brand, cursor: str | None, filters: AssetFilter) -> None:
    with Session(engine) as session:
        asset_page(session=session, brand=brand, filters=filters, cursor=cursor, limit=PAGE)


def _statements(engine: Engine, brand: Brand, limit: int) -> int:
    count = 0

    def counter(*_: object) -> None:
        nonlocal count
        count += 1

    event.listen(engine, "before_cursor_execute", counter)
    with Session(engine) as session:
        asset_page(session=session, brand=brand, filters=AssetFilter(), cursor=None, limit=limit)
    event.remove(engine, "before_cursor_execute", counter)
    return count


def run(engine: Engine, n: int, backend: str) -> None:
    started = time.perf_counter()
    brand = _fill(engine, n)
    with engine.begin() as connection:  # fresh planner statistics, as a live database has
        connection.exec_driver_sql("ANALYZE")
    print(
        f"[{backend}] {n:,} assets with 2 tags each, filled in {time.perf_counter() - started:.1f}s"
    )
    print(f"{'page':<34}{'keyset ms':>10}{'OFFSET ms':>11}{'OFFSET/keyset':>15}")
    for label, filters in [
        ("all", AssetFilter()),
        ("status=approved", AssetFilter(status=AssetStatus.approved)),
    ]:
        ids = _ids(engine, brand, filters)
        for depth in (0, len(ids) // 2, len(ids) - PAGE):
            cursor = str(ids[depth - 1]) if depth else None
            keyset = median_seconds(partial(_keyset_page, engine, brand, cursor, filters), REPEAT)
            offset = median_seconds(partial(_offset_page, engine, brand, depth, filters), REPEAT)
            print(
                f"{label + f' at row {depth:,}':<34}{keyset * 1e3:>10.2f}{offset * 1e3:>11.2f}"
                f"{offset / keyset:>14.1f}x"
            )
    ids = _ids(engine, brand, AssetFilter())
    page = partial(_keyset_page, engine, brand)
    first = median_seconds(lambda: page(None, AssetFilter()), REPEAT)
    deep = median_seconds(lambda: page(str(ids[-PAGE - 1]), AssetFilter()), REPEAT)
    tagged = median_seconds(lambda: page(None, AssetFilter(tag="suede")), REPEAT)
    print(f"deep keyset page / first page: {deep / first:.2f}x (flat is 1.0)")
    print(f"tag-filtered first page: {tagged * 1e3:.2f} ms ({tagged / first:.2f}x the unfiltered)")
    print(
        f"SQL statements per page: {_statements(engine, brand, 12)} for 12 items, "
        f"{_statements(engine, brand, 96)} for 96 items"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench gallery", description=__doc__)
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args(argv)
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            db_upgrade(url)
            engine = make_engine(url)
            run(engine, args.assets, "sqlite")
            engine.dispose()
    if args.backend in ("postgresql", "both"):
        name = f"atelier_bench_{uuid.uuid4().hex[:8]}"
        admin = "postgresql://postgres@127.0.0.1:5432/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
            db_upgrade(url)
            engine = make_engine(url)
            run(engine, args.assets, "postgresql")
            engine.dispose()
        finally:
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
