from datetime import UTC, datetime, timedelta

from connector.simulator.population import AccountKind, Population

NOW = datetime(2026, 11, 28, 6, tzinfo=UTC)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = (Population(s, users=300, now=NOW) for s in (1, 1, 2))
    day = NOW.date() - timedelta(days=1)
    assert a.day_messages(day) == b.day_messages(day)
    assert a.day_signins(day) == b.day_signins(day)
    assert [x.upn for x in a.senders] == [x.upn for x in b.senders]
    assert a.day_messages(day) != c.day_messages(day)


def test_mix_of_accounts() -> None:
    pop = Population(3, users=500, now=NOW)
    kinds = {a.kind for a in pop.senders}
    assert {AccountKind.PRINTER, AccountKind.LOB_OAUTH, AccountKind.COMPROMISED, AccountKind.DISABLED} <= kinds
    legacy = [a for a in pop.senders if any(v in ("TLS1.0", "TLS1.1") for v, _ in a.tls)]
    assert legacy
    assert len({a.domain for a in pop.senders}) == 1 or len(pop.domains) == 1
    multi = Population(3, users=500, now=NOW, domains=("a.com", "b.com", "c.com"))
    assert len({a.domain for a in multi.senders}) == 3


def test_oauth_senders_produce_no_signins_basic_one_per_message() -> None:
    pop = Population(4, users=300, now=NOW)
    day = NOW.date() - timedelta(days=3)
    signins = {s.id for s in pop.day_signins(day)}
    for a in pop.senders:
        messages = pop.account_day(a.index, day)[0]
        for m in messages:
            if m.smtp_auth and m.auth_method == "Basic":
                assert m.signin_id in signins
            else:
                assert m.signin_id is None


def test_compromised_account_spikes_from_a_new_country() -> None:
    pop = Population(5, users=300, now=NOW)
    bad = next(a for a in pop.senders if a.kind is AccountKind.COMPROMISED)
    before = pop.smtp_count(bad.index, NOW.date() - timedelta(days=10))
    after = pop.smtp_count(bad.index, NOW.date() - timedelta(days=1))
    assert after > 5 * max(before, 1)
    ips = {m.client_ip for m in pop.account_day(bad.index, NOW.date() - timedelta(days=1))[0] if m.smtp_auth}
    assert bad.site.ip in ips
    assert len(ips) == 2


def test_smtp_count_matches_generated_messages() -> None:
    pop = Population(6, users=300, now=NOW)
    day = NOW.date() - timedelta(days=2)
    for a in pop.senders:
        smtp = [m for m in pop.account_day(a.index, day)[0] if m.smtp_auth]
        assert len(smtp) == pop.smtp_count(a.index, day)


def test_large_population_is_lazy() -> None:
    pop = Population(7, users=300_000, now=NOW, smtp_share=0.001)
    assert pop.account(299_999).upn.endswith("@contoso.com")
    assert len(pop.senders) == 300
