"""Backups of the live SQLite database, and restore."""

from __future__ import annotations

import sqlite3
import threading

from locator.cli.backup import backup_database, check_backup
from locator.store.sqlite import SQLiteStore


def test_backup_while_another_thread_writes_is_consistent(app, roster, tmp_path):
    """A backup taken while a writer thread keeps updating is an openable database passing integrity_check."""
    store: SQLiteStore = roster.store
    stop = threading.Event()
    writes = []

    def writer():
        while not stop.is_set():
            station = store.list(limit=1)[0]
            updated = station.__class__(**{**station.__dict__, "note": f"edit {len(writes)}"})
            store.update(updated, expected_version=station.version, actor="t", via="edit")
            writes.append(1)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(writes) < 5:
            pass
        target = tmp_path / "backup.sqlite3"
        for _ in range(3):
            backup_database(store.path, target)
            assert check_backup(target) == 200
    finally:
        stop.set()
        thread.join()
        store.close()
    assert len(writes) >= 5
    conn = sqlite3.connect(target)
    try:
        version = conn.execute("SELECT value FROM meta WHERE key='data_version'").fetchone()[0]
        audits = conn.execute("SELECT count(*) FROM audit WHERE via='edit'").fetchone()[0]
    finally:
        conn.close()
    assert version == 1 + audits  # every write in the copy has its audit record: a consistent snapshot


def test_backup_and_restore_commands(app, runner, roster, tmp_path):
    """`backup PATH` then a change then `restore PATH --yes` brings the roster back; without --yes it refuses."""
    target = tmp_path / "b.sqlite3"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 0 and "200 stations" in result.output
    first = roster.store.list()[0]
    roster.store.delete(first.id, expected_version=None, actor="t", via="edit")
    assert roster.store.count() == 199
    refused = runner.invoke(args=["restore", str(target)])
    assert refused.exit_code == 2 and "--yes" in refused.output
    assert runner.invoke(args=["restore", str(target), "--yes"]).exit_code == 0
    assert roster.store.count() == 200 and roster.store.get(first.id) == first


def test_restore_refuses_a_file_that_is_not_a_backup(runner, tmp_path, roster):
    """Restoring garbage fails with a message and leaves the database alone."""
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    result = runner.invoke(args=["restore", str(junk), "--yes"])
    assert result.exit_code == 1 and "not a locator database" in result.output
    assert roster.store.count() == 200
