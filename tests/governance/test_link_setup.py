"""Where the links come from and how they are explained: the deploy config refuses values that
would break them, a second deploy run declares nothing again, and `explain_link` says in one
sentence which two parameters a change would drive apart."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from ballast.config import DeployConfig
from ballast.deploy import deploy_system
from ballast.params import LinkView, describe_link, explain_link, explain_links, link_holds

LOCAL_CONFIG = "deployments/config/local.yaml"


@pytest.fixture(scope="module")
def local_yaml(repo_root) -> dict:
    return yaml.safe_load((repo_root / LOCAL_CONFIG).read_text())


def _with(local_yaml: dict, **values: int) -> dict:
    config = copy.deepcopy(local_yaml)
    for spec in config["parameters"]:
        if spec["name"] in values:
            spec["value"] = values[spec["name"]]
    return config


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lend.ltvBps.gold": 7_500},
         "collateral 'gold': lend.ltvBps.gold 7500 is equal to lend.liqThresholdBps.gold 7500"),
        ({"oracle.maxStaleness": 259_200},
         "oracle.maxStaleness 259200 s is not below vault.strikeMaxWait 259200 s: a strike past "
         "the wait could charge the stale haircut on a fresh price"),
        ({"oracle.confirmDelay": 86_400, "vault.strikeMaxWait": 86_400,
          "oracle.maxStaleness": 3_600},
         "oracle.confirmDelay 86400 s is not below vault.strikeMaxWait 86400 s: redemptions would "
         "take the stale haircut before a price move could be confirmed"),
        ({"vault.maxSleeveBps.tbill": 1_000, "vault.maxSleeveBps.gold": 1_000},
         "vault.idleBufferBps 500 + the sleeve caps 8000 is below 10000 bps: the vault could not "
         "place all its assets within its caps"),
    ],
)  # fmt: skip
def test_the_config_refuses_values_that_break_a_link(local_yaml, values, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DeployConfig.model_validate(_with(local_yaml, **values))
    # exactly on the edge of the sum: accepted
    edge = {"vault.maxSleeveBps.tbill": 1_500, "vault.maxSleeveBps.gold": 2_000}  # 500 + 9 500
    DeployConfig.model_validate(_with(local_yaml, **edge))


def test_a_second_deploy_run_declares_no_link_again(repo_root, deployer):
    config = DeployConfig.load(repo_root / LOCAL_CONFIG)
    first_messages: list[str] = []
    first = deploy_system(config, deployer, report=first_messages.append)
    assert "links: 10 declared, 0 already on chain" in first_messages
    messages: list[str] = []
    nonce = deployer.nonce
    deploy_system(config, deployer, previous=first, report=messages.append)
    assert "links: 0 declared, 10 already on chain" in messages
    assert deployer.nonce == nonce


LTV = LinkView(1, ("lend.ltvBps.gold", "lend.liqThresholdBps.gold"), 0)
BONUS = LinkView(2, ("lend.liqThresholdBps.gold", "lend.liqBonusBps.gold"), 10_000)
CAPS = LinkView(3, ("vault.idleBufferBps", "vault.maxSleeveBps.a", "vault.maxSleeveBps.b"), 10_000)
WINDOW = LinkView(4, ("agent.evalWindow", "vault.rebalanceCooldown"), 120)
VALUES = {
    "lend.ltvBps.gold": 7_000, "lend.liqThresholdBps.gold": 7_500, "lend.liqBonusBps.gold": 800,
    "vault.idleBufferBps": 500, "vault.maxSleeveBps.a": 6_000, "vault.maxSleeveBps.b": 3_500,
    "agent.evalWindow": 7 * 86_400, "vault.rebalanceCooldown": 86_400,
}  # fmt: skip


@pytest.mark.parametrize(
    ("link", "change", "sentence"),
    [
        (LTV, {"lend.ltvBps.gold": 7_500},
         "lend.ltvBps.gold 7,500 must stay below lend.liqThresholdBps.gold 7,500: change both in "
         "one proposal"),
        (BONUS, {"lend.liqBonusBps.gold": 4_000},
         "lend.liqThresholdBps.gold 7,500 x (1 + lend.liqBonusBps.gold 4,000 bps) = 10,500 is "
         "above 10,000: lower one of the two"),
        (CAPS, {"vault.maxSleeveBps.b": 3_000},
         "vault.idleBufferBps + vault.maxSleeveBps.a + vault.maxSleeveBps.b = 9,500 would fall "
         "below 10,000: raise another of them in the same proposal"),
        (WINDOW, {"vault.rebalanceCooldown": 3_600},
         "agent.evalWindow 7d must stay at most 120 x vault.rebalanceCooldown 1h: lower "
         "agent.evalWindow or raise vault.rebalanceCooldown in the same proposal"),
    ],
)  # fmt: skip
def test_a_broken_link_is_one_sentence_naming_both_parameters(link, change, sentence):
    assert link_holds(link, VALUES) and explain_link(link, VALUES) is None
    after = VALUES | change
    assert not link_holds(link, after)
    assert explain_link(link, after) == sentence
    assert explain_links([LTV, BONUS, CAPS, WINDOW], after) == [sentence]


def test_links_hold_exactly_at_their_edges():
    assert link_holds(LTV, VALUES | {"lend.ltvBps.gold": 7_499})
    assert link_holds(BONUS, VALUES | {"lend.liqThresholdBps.gold": 8_000,
                                       "lend.liqBonusBps.gold": 2_500})  # fmt: skip
    assert not link_holds(BONUS, VALUES | {"lend.liqThresholdBps.gold": 8_000,
                                           "lend.liqBonusBps.gold": 2_501})  # fmt: skip
    assert link_holds(CAPS, VALUES)  # 500 + 6 000 + 3 500: exactly 100 %
    assert not link_holds(CAPS, VALUES | {"vault.maxSleeveBps.b": 3_499})
    assert link_holds(WINDOW, VALUES | {"vault.rebalanceCooldown": 5_040})  # 120 x 1h24m = 7d
    assert not link_holds(WINDOW, VALUES | {"vault.rebalanceCooldown": 5_039})
    assert describe_link(WINDOW) == "agent.evalWindow <= 120 x vault.rebalanceCooldown"
    assert link_holds(LinkView(0, LTV.names, 0), VALUES | {"lend.ltvBps.gold": 9_999})  # removed
