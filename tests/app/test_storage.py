"""Blobs staged on a session follow its transaction, savepoints included."""

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from app.storage import LocalBlobStore, blob_stage


def test_staged_blobs_follow_savepoints_and_the_outer_transaction(
    clean_db: Engine, store: LocalBlobStore
) -> None:
    with Session(clean_db) as session:
        session.execute(text("SELECT 1"))
        blob_stage(session=session, store=store, key="a", data=b"a")
        with session.begin_nested():  # released: "a" is not kept yet, "b" joins it
            blob_stage(session=session, store=store, key="b", data=b"b")
        with pytest.raises(ValueError), session.begin_nested():
            blob_stage(session=session, store=store, key="c", data=b"c")
            raise ValueError  # the savepoint rolls back: its blob goes, the others stay
        assert store.list_keys() == ["a", "b"]
        session.rollback()  # the whole transaction: every blob of it goes
        assert store.list_keys() == []

        session.execute(text("SELECT 1"))
        blob_stage(session=session, store=store, key="d", data=b"d")
        with session.begin_nested():
            blob_stage(session=session, store=store, key="e", data=b"e")
        session.commit()
        session.rollback()  # nothing left to undo
        assert store.list_keys() == ["d", "e"]
