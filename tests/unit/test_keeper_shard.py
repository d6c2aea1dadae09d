"""Keys splitting the lending book (`KeeperSettings.shard`): every borrower has exactly one owner
among `count` keys, whatever the addresses; a bad shard is refused in one line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keepers.config import ConfigError, ShardConfig, load_settings

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())


@given(address=addresses, count=st.integers(1, 64))
def test_every_borrower_has_exactly_one_shard(address, count):
    owners = [i for i in range(count) if ShardConfig(index=i, count=count).owns(address)]
    assert len(owners) == 1
    assert ShardConfig(index=owners[0], count=count).owns(address.upper().replace("0X", "0x"))


@given(address=addresses)
def test_one_shard_owns_everything(address):
    assert ShardConfig().owns(address)


def test_shards_split_sequential_addresses_evenly_enough():
    # anvil-style borrowers 0xB0B00000 + i: a plain `address mod count` would follow the
    # counter; keccak spreads them
    borrowers = [f"0x{0xB0B0_0000 + i:040x}" for i in range(1_000)]
    for count in (2, 3, 5):
        sizes = [sum(ShardConfig(index=i, count=count).owns(b) for b in borrowers)
                 for i in range(count)]  # fmt: skip
        assert sum(sizes) == len(borrowers)
        assert min(sizes) > 0.8 * len(borrowers) / count, sizes


def test_a_shard_index_not_below_its_count_is_refused_in_one_line(monkeypatch):
    monkeypatch.setenv("BALLAST_KEEPER_SHARD__INDEX", "2")
    monkeypatch.setenv("BALLAST_KEEPER_SHARD__COUNT", "2")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value) == "shard: Value error, shard index 2 is not below count 2"


def test_shard_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("BALLAST_KEEPER_SHARD__INDEX", "1")
    monkeypatch.setenv("BALLAST_KEEPER_SHARD__COUNT", "3")
    assert load_settings().shard == ShardConfig(index=1, count=3)
