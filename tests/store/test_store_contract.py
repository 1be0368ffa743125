"""The Store contract (``honing.testing.StoreContract``) on the built-in stores."""

from __future__ import annotations

from honing.store import MemoryStore, SQLiteStore
from honing.testing import StoreContract


class TestMemoryStore(StoreContract):
    def setup_method(self) -> None:
        self._stores: dict = {}

    def make_store(self, location):
        return self._stores.setdefault(location, MemoryStore())


class TestSQLiteStore(StoreContract):
    def make_store(self, location):
        return SQLiteStore.for_run_dir(location)


def test_the_contract_catches_a_store_that_breaks_it(tmp_path):
    """A store that forgets the evaluator identity and reorders evaluations fails the matching tests."""
    import pytest

    class Careless(MemoryStore):
        def open(self, header, session, **options):
            run = super().open(header, session, evaluator_changed_ok=True)
            run.evaluations.reverse()
            return run

    class Suite(StoreContract):
        def make_store(self, location, _stores={}):  # noqa: B006 - one store per location, on purpose
            return _stores.setdefault(location, Careless())

    with pytest.raises(AssertionError):
        Suite().test_records_come_back_equal_and_in_write_order(tmp_path / "a")
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        Suite().test_a_changed_evaluator_is_refused_unless_accepted(tmp_path / "b")
