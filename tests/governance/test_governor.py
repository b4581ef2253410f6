"""The Governor: every refusal with its reason, execution effects, snapshots, and the tally rule (property test)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from tests.ledger.conftest import make_consortium

from fairshare.errors import GovernanceError, TransactionError
from fairshare.governance import GovernanceClient, ProposalAction, Rules
from fairshare.ledger import Chain, GovernanceSettings, LedgerClient, audit, connect, deploy_consortium
from fairshare.ledger.deploy import FOUNDERS_PER_TX, ShareRule


def setup(
    where: Path | Chain, members: int = 4, weighting: int = 0, quorum: int = 5000, threshold: int = 5000, **rules
):
    """A consortium on ``where``: a connected chain (the embedded/anvil fixture), or a folder for a new one."""
    chain = where if isinstance(where, Chain) else connect(None, where)
    accounts = [Account.create() for _ in range(members)]
    outsider = Account.create()
    for a in [*accounts, outsider]:
        chain.fund(a.address, 10**18)
    deployment = deploy_consortium(
        chain,
        name="g",
        treasury=Account.create().address,
        treasury_cut_bps=500,
        oracle=chain.operator,
        governance=GovernanceSettings(
            members=tuple((f"m{k}", a.address) for k, a in enumerate(accounts)),
            weighting=weighting,
            quorum_bps=quorum,
            threshold_bps=threshold,
            voting_period=rules.pop("voting_period", 10),
            timelock=rules.pop("timelock", 3),
            role_timelock=rules.pop("role_timelock", 6),
            execution_window=rules.pop("execution_window", 50),
            price_per_row=7,
            valuation_method="auto",
            **rules,
        ),
        share_rule=ShareRule(share_scale=10**9, round_cap=10**30),
    )
    return chain, accounts, outsider, GovernanceClient(chain, deployment), LedgerClient(chain, deployment)


def record(chain, ledger, accounts, round_id: int, scores: list[int]) -> None:
    ledger.record_round(
        chain.operator,
        round_id=round_id,
        model_hash=round_id.to_bytes(32, "big"),
        method="exact",
        params="{}",
        seed=0,
        members=[a.address for a in accounts],
        scores=scores,
    )


def passed(chain, client, pid: int, voters, support: bool = True) -> None:
    for a in voters:
        client.vote(a, pid, support)
    chain.mine(client.blocks_until_executable(pid))


CUT = ProposalAction("treasury-cut", number=100)
ZERO = "0x" + "00" * 20


@pytest.fixture
def gov(tmp_path: Path):
    chain, accounts, outsider, client, ledger = setup(tmp_path)
    yield chain, accounts, outsider, client, ledger
    chain.close()


def test_a_passed_proposal_changes_the_treasury_cut(gov) -> None:
    chain, accounts, _, client, ledger = gov
    pid = client.propose(accounts[0], CUT, "lower")
    for a in accounts[:3]:
        client.vote(a, pid, True)
    assert client.state(pid) == "active"
    chain.mine(client.blocks_until_executable(pid))
    client.execute(accounts[3], pid)  # anyone may execute
    assert ledger.treasury_cut_bps() == 100 and client.state(pid) == "executed"


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        ("double vote", "Governor: already voted"),
        ("outsider votes", "Governor: caller is not a member"),
        ("outsider proposes", "Governor: caller is not a member"),
        ("vote after deadline", "Governor: voting has ended"),
        ("execute before timelock", "Governor: timelock has not passed"),
        ("execute while voting", "Governor: voting has not ended"),
        ("execute a defeated proposal", "Governor: proposal did not pass"),
        ("execute twice", "Governor: already executed"),
        ("cancel by another", "Governor: caller is not the proposer"),
        ("vote on a canceled proposal", "Governor: proposal canceled"),
    ],
)
def test_refusals_have_clear_reasons(gov, scenario: str, reason: str) -> None:
    chain, accounts, outsider, client, _ = gov
    pid = client.propose(accounts[0], CUT, "x")
    end_wait = client.blocks_until_executable(pid)
    with pytest.raises(GovernanceError, match=reason):
        if scenario == "double vote":
            client.vote(accounts[1], pid, True)
            client.vote(accounts[1], pid, False)
        elif scenario == "outsider votes":
            client.vote(outsider, pid, True)
        elif scenario == "outsider proposes":
            client.propose(outsider, CUT, "x")
        elif scenario == "vote after deadline":
            chain.mine(end_wait)
            client.vote(accounts[1], pid, True)
        elif scenario == "execute before timelock":
            for a in accounts:
                client.vote(a, pid, True)
            chain.mine(client.blocks_until_executable(pid) - 2)
            client.execute(accounts[0], pid)
        elif scenario == "execute while voting":
            client.vote(accounts[1], pid, True)
            client.execute(accounts[0], pid)
        elif scenario == "execute a defeated proposal":
            for a in accounts:
                client.vote(a, pid, False)
            chain.mine(end_wait)
            client.execute(accounts[0], pid)
        elif scenario == "execute twice":
            for a in accounts:
                client.vote(a, pid, True)
            chain.mine(client.blocks_until_executable(pid))
            client.execute(accounts[0], pid)
            client.execute(accounts[0], pid)
        elif scenario == "cancel by another":
            client.cancel(accounts[1], pid)
        elif scenario == "vote on a canceled proposal":
            client.cancel(accounts[0], pid)
            client.vote(accounts[1], pid, True)


def test_owned_contracts_refuse_direct_calls(gov) -> None:
    chain, _, _, _, ledger = gov
    with pytest.raises(TransactionError, match="RevenueShares: caller is not the owner"):
        chain.send(chain.operator, ledger.revenue, "set_treasury_cut", 0)
    with pytest.raises(TransactionError, match="TrainingLog: caller is not the owner"):
        chain.send(chain.operator, ledger.log, "set_role", "oracle", chain.operator.address)


def test_release_price_valuation_admit_remove_and_governance(gov) -> None:
    chain, accounts, _, client, _ = gov
    newcomer = Account.create()
    chain.fund(newcomer.address, 10**18)
    rules = Rules(1, 6000, 5000, 7000, 12, 4, 8, 40)
    actions = [
        ProposalAction("release", digest=b"\x05" * 32),
        ProposalAction("price", number=99),
        ProposalAction("valuation", text="gtg"),
        ProposalAction("admit", account=newcomer.address, text="new-lab"),
        ProposalAction("remove", account=accounts[3].address),
        ProposalAction("governance", number=rules.pack()),
    ]
    for action in actions:
        pid = client.propose(accounts[0], action, action.describe())
        passed(chain, client, pid, accounts[:3])
        client.execute(accounts[0], pid)
    policy = client.policy()
    assert policy.released_model == b"\x05" * 32 and policy.price_per_row == 99
    assert policy.valuation_method == "gtg" and policy.members == 4
    assert policy.rules == rules
    with pytest.raises(GovernanceError, match="Governor: caller is not a member"):
        client.propose(accounts[3], CUT, "removed members cannot propose")


def test_share_weighted_votes_use_the_snapshot(tmp_path: Path) -> None:
    chain, accounts, _, client, ledger = setup(tmp_path, members=3, weighting=1, quorum=1, threshold=5000)
    record(chain, ledger, accounts, 1, [10, 1, 1])
    pid = client.propose(accounts[1], CUT, "small holders want it")
    record(chain, ledger, accounts, 2, [0, 100, 100])
    client.vote(accounts[1], pid, True)
    client.vote(accounts[2], pid, True)
    client.vote(accounts[0], pid, False)
    chain.mine(client.blocks_until_executable(pid))
    assert client.state(pid) == "defeated"  # 2 for vs 10 against at the snapshot; later shares did not count
    chain.close()


@settings(max_examples=15, deadline=None)
@given(
    votes=st.lists(st.sampled_from([None, True, False]), min_size=5, max_size=5),
    quorum=st.sampled_from([1, 2000, 5000, 8000]),
    threshold=st.sampled_from([5000, 6600]),
)
def test_outcome_equals_the_tally_rule(tmp_path_factory: pytest.TempPathFactory, votes, quorum, threshold) -> None:
    chain, accounts, _, client, _ = setup(tmp_path_factory.mktemp("g"), members=5, quorum=quorum, threshold=threshold)
    pid = client.propose(accounts[0], CUT, "x")
    for account, vote in zip(accounts, votes, strict=True):
        if vote is not None:
            client.vote(account, pid, vote)
    chain.mine(client.blocks_until_executable(pid))
    yes, no = votes.count(True), votes.count(False)
    cast = yes + no
    expected = cast > 0 and cast * 10_000 >= 5 * quorum and yes * 10_000 > cast * threshold
    assert client.state(pid) == ("ready" if expected else "defeated")
    chain.close()


# issue 18: attacks on governance, each on the embedded chain and on anvil -----------------------------------


def test_a_proposal_keeps_the_rule_it_was_opened_under(chain: Chain) -> None:
    """Opened under one member one vote, it is not passed by one member's shares after the switch to shares."""
    chain, accounts, _, client, ledger = setup(chain, members=3, quorum=5000)
    record(chain, ledger, accounts, 1, [90, 5, 5])
    switch = client.propose(accounts[0], ProposalAction("governance", number=_rules(client, weighting=1)), "shares")
    passed(chain, client, switch, accounts)
    grab = client.propose(accounts[0], CUT, "opened under member voting")
    client.execute(accounts[0], switch)
    assert client.policy().weighting == 1
    client.vote(accounts[0], grab, True)  # 90% of the shares, but 1 of 3 members
    chain.mine(client.blocks_until_executable(grab))
    assert client.state(grab) == "defeated"
    with pytest.raises(GovernanceError, match="Governor: proposal did not pass"):
        client.execute(accounts[0], grab)
    chain.close()


def test_a_defeated_proposal_stays_defeated_when_the_threshold_falls(chain: Chain) -> None:
    chain, accounts, _, client, _ = setup(chain, members=3, threshold=7000)
    lost = client.propose(accounts[0], CUT, "2 of 3 is not 70%")
    client.vote(accounts[0], lost, True)
    client.vote(accounts[1], lost, True)
    client.vote(accounts[2], lost, False)
    lower = client.propose(accounts[0], ProposalAction("governance", number=_rules(client, threshold_bps=5000)), "x")
    passed(chain, client, lower, accounts)
    client.execute(accounts[1], lower)
    assert client.policy().threshold_bps == 5000
    assert client.state(lost) == "defeated"
    with pytest.raises(GovernanceError, match="Governor: proposal did not pass"):
        client.execute(accounts[0], lost)
    chain.close()


def test_a_passed_proposal_expires_if_not_executed_in_time(chain: Chain) -> None:
    chain, accounts, _, client, _ = setup(chain, members=3, execution_window=10)
    pid = client.propose(accounts[0], CUT, "x")
    passed(chain, client, pid, accounts)
    assert client.state(pid) == "ready"
    chain.mine(10)
    assert client.state(pid) == "expired"
    with pytest.raises(GovernanceError, match="Governor: proposal expired"):
        client.execute(accounts[0], pid)
    chain.close()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"threshold_bps": 10_000}, "threshold must be 5000 to 9999 bps"),
        ({"quorum_bps": 0}, "quorum must be 1 to 10000 bps"),
        ({"quorum_bps": 10_001}, "quorum must be 1 to 10000 bps"),
        ({"super_bps": 4000}, "supermajority must be 5000 to 9999 bps"),
        ({"timelock": 6, "role_timelock": 6}, "role changes need a longer timelock"),
        ({"voting_period": 0}, "voting period out of range"),
        ({"execution_window": 9}, "execution window out of range"),
    ],
)
def test_rules_that_would_brick_governance_are_refused_on_chain(gov, change, reason) -> None:
    chain, accounts, _, client, _ = gov
    fields = {**client.policy().rules.__dict__, **change}
    number = sum(v << (32 * i) for i, v in enumerate(fields[k] for k in Rules.__dataclass_fields__))
    with pytest.raises(TransactionError, match=f"Governor: {reason}"):  # the contract refuses it, whoever sends it
        chain.send(accounts[0], client.governor, "propose", 7, number, ZERO, bytes(32), "", "brick it")
    with pytest.raises(GovernanceError, match=f"governance rules refused: {reason}"):  # and so does the client
        client.propose(accounts[0], ProposalAction("governance", number=number), "brick it")


def test_removing_the_last_member_is_refused(chain: Chain) -> None:
    chain, accounts, _, client, _ = setup(chain, members=1, quorum=1)
    with pytest.raises(GovernanceError, match="Governor: cannot remove the last member"):
        client.propose(accounts[0], ProposalAction("remove", account=accounts[0].address), "x")
    chain.close()


def test_a_single_large_holder_cannot_take_a_role(chain: Chain) -> None:
    chain, accounts, outsider, client, ledger = setup(chain, members=3, weighting=1)
    record(chain, ledger, accounts, 1, [70, 20, 10])
    alone = client.propose(accounts[0], ProposalAction("oracle", account=outsider.address), "my puppet")
    client.vote(accounts[0], alone, True)  # 70% of all weight, above the 66.67% supermajority, but 1 of 3 members
    chain.mine(client.blocks_until_executable(alone))
    assert client.state(alone) == "defeated"
    together = client.propose(accounts[0], ProposalAction("oracle", account=outsider.address), "agreed")
    for a in accounts[:2]:
        client.vote(a, together, True)
    ordinary = client.propose(accounts[0], CUT, "x")
    timelocks = {p.proposal_id: p.timelock for p in client.proposals()}
    assert (timelocks[together], timelocks[ordinary]) == (6, 3)  # role changes wait the longer timelock
    chain.mine(client.blocks_until_executable(together))
    client.execute(accounts[2], together)
    assert ledger.log.functions.oracle().call() == outsider.address
    chain.close()


def _rules(client: GovernanceClient, **change: int) -> int:
    return replace(client.policy().rules, **change).pack()


@settings(max_examples=6, stateful_step_count=6, deadline=None)
class GovernanceStillActs(RuleBasedStateMachine):
    """Whatever valid rules, weighting, admissions and removals pass, the members can still pass a role change."""

    @initialize()
    def deploy(self) -> None:
        from tempfile import mkdtemp

        self.chain, self.accounts, self.outsider, self.client, self.ledger = setup(Path(mkdtemp()), members=3)
        self.members = list(self.accounts)
        self.round = 0

    def teardown(self) -> None:
        self.chain.close()

    def _pass(self, action: ProposalAction) -> None:
        pid = self.client.propose(self.members[0], action, "x")
        passed(self.chain, self.client, pid, self.members)
        assert self.client.state(pid) == "ready", action.describe()
        self.client.execute(self.outsider, pid)

    @rule(
        weighting=st.integers(0, 1),
        quorum=st.integers(1, 10_000),
        threshold=st.integers(5000, 9999),
        supermajority=st.integers(5000, 9999),
        period=st.integers(12, 20),  # the embedded chain mines a block per vote: every member must fit in it
        timelock=st.integers(0, 4),
        extra=st.integers(1, 4),
        window=st.integers(10, 20),
    )
    def change_rules(self, weighting, quorum, threshold, supermajority, period, timelock, extra, window) -> None:
        self._pass(
            ProposalAction(
                "governance",
                number=Rules(
                    weighting, quorum, threshold, supermajority, period, timelock, timelock + extra, window
                ).pack(),
            )
        )

    @rule(scores=st.lists(st.integers(-5, 50), min_size=1, max_size=1))
    def a_round_pays_the_first_member(self, scores) -> None:
        self.round += 1
        record(self.chain, self.ledger, self.members[:1], self.round, scores)

    @rule()
    def remove_a_member(self) -> None:
        if len(self.members) > 1:
            self._pass(ProposalAction("remove", account=self.members[-1].address))
            self.members.pop()

    @rule()
    def admit_a_member(self) -> None:
        newcomer = Account.create()
        self.chain.fund(newcomer.address, 10**18)
        self._pass(ProposalAction("admit", account=newcomer.address, text=f"n{len(self.members)}"))
        self.chain.mine(1)
        self.members.append(newcomer)

    @invariant()
    def a_role_change_can_still_pass(self) -> None:
        if hasattr(self, "client"):
            self._pass(ProposalAction("role", account=self.outsider.address, text="operator"))


TestGovernanceStillActs = GovernanceStillActs.TestCase


def test_a_large_consortium_is_founded_in_batches_without_proposals(chain: Chain) -> None:
    c = make_consortium(chain, members=FOUNDERS_PER_TX + 3)
    governor = c.client.governor.functions
    assert governor.member_count().call() == FOUNDERS_PER_TX + 3
    assert all(governor.is_member(m.address).call() for m in c.members[FOUNDERS_PER_TX - 1 :])
    assert int(governor.founder().call(), 16) == 0
    with pytest.raises(TransactionError, match="Governor: founding is sealed"):
        c.chain.send(c.chain.operator, c.client.governor, "add_founders", [c.outsider.address], ["late"])
    assert audit(c.chain, c.deployment).ok
