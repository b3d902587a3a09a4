"""A login costs the same work whether or not the name exists: the login decoy.

The time itself is measured by the benchmark (bench/login_timing.py); these tests
show the work behind it, in slapd's own state: a login for a name that may not log
in binds to the decoy (ppolicy records the failure there, as it would on an
account), and the decoy can never open the portal.
"""

from __future__ import annotations

import ldap3
import pytest

from provisioner.directory import NewPerson, Status
from provisioner.directory.tree import DECOY_POLICY, PASSWORD_POLICY
from provisioner.resources import get_portal
from provisioner.workflow import initialise_directory, log_in

from ldap_helpers import bound_connection, root_connection
from portal_actions import VOLUNTEER_PASSWORD, Visitor

DECOY_PASSWORD = "the decoy's password, known to this test only"


def entry(slapd_server, dn: str, attributes=("*", "+")) -> dict[str, list[str]]:
    """The entry as the root DN reads it, every value as text, names in lower case; {} when
    it is not there."""
    with root_connection(slapd_server) as conn:
        conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=list(attributes))
        if not conn.response:
            return {}
        return {key.lower(): [value.decode() for value in values]
                for key, values in conn.response[0]["raw_attributes"].items()}


def failures(slapd_server, dn: str) -> int:
    """How many failed binds ppolicy has recorded on the entry."""
    return len(entry(slapd_server, dn, ["pwdFailureTime"]).get("pwdfailuretime", []))


def hash_settings(slapd_server, dn: str) -> str:
    """The scheme and argon2 parameters of the stored hash, without salt or digest."""
    return entry(slapd_server, dn, ["userPassword"])["userpassword"][0].rsplit("$", 2)[0]


def logs_in(app, uid: str, password: str) -> bool:
    """Whether the login workflow lets `uid` in with `password`."""
    with app.app_context():
        return log_in(get_portal(), uid, password) is not None


@pytest.fixture
def accounts(directory):
    """vera (active), pat (a registration request) and sam (suspended), all with passwords."""
    for uid, status, pending in (("vera", Status.ACTIVE, False), ("pat", Status.VERIFIED, True),
                                 ("sam", Status.SUSPENDED, False)):
        directory.people.add(NewPerson(uid=uid, display_name=uid.title(), mail=f"{uid}@example.org",
                                       status=status), pending=pending)
        directory.people.set_password(uid, VOLUNTEER_PASSWORD)
    return directory


def binds(slapd_server, dn: str, password: str) -> bool:
    conn = ldap3.Connection(ldap3.Server(slapd_server.url, get_info=ldap3.NONE), dn, password)
    try:
        return conn.bind()
    finally:
        conn.unbind()


def give_the_decoy_a_known_password(slapd_server, directory) -> None:
    with root_connection(slapd_server) as conn:
        conn.extend.standard.modify_password(user=directory.layout.login_decoy, new_password=DECOY_PASSWORD)


def test_init_directory_makes_a_decoy_hashed_and_counted_like_an_account(slapd_server, accounts):
    layout = accounts.layout
    decoy = entry(slapd_server, layout.login_decoy)
    assert decoy, "no login decoy after init-directory"
    assert "inetorgperson" not in {name.lower() for name in decoy["objectclass"]}
    assert not decoy.get("uid")
    assert not layout.login_decoy.lower().endswith(layout.people.lower())
    assert (hash_settings(slapd_server, layout.login_decoy)
            == hash_settings(slapd_server, layout.person_dn("vera")))
    # Its policy is the people's but for the lock.
    assert decoy["pwdpolicysubentry"][0].lower() == layout.login_decoy_policy.lower()
    policy = entry(slapd_server, layout.login_decoy_policy)
    people_policy = entry(slapd_server, layout.password_policy)
    differing = {name for name in PASSWORD_POLICY if policy[name.lower()] != people_policy[name.lower()]}
    assert differing == {"pwdLockout"}
    assert policy["pwdlockout"] == [DECOY_POLICY["pwdLockout"]] == ["FALSE"]


def test_nobody_reads_the_decoy_not_even_the_portal(slapd_server, accounts):
    dn = accounts.layout.login_decoy
    assert accounts.people.find("login-decoy") is None
    readers = [(slapd_server.service_dn(name), slapd_server.service_passwords[name])
               for name in ("portal", "wiki", "redmine")]
    readers.append((accounts.layout.person_dn("vera"), VOLUNTEER_PASSWORD))
    for reader, password in readers:
        with bound_connection(slapd_server, reader, password, raise_exceptions=False) as conn:
            conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["*"])
            assert not [item for item in conn.response or [] if item["type"] == "searchResEntry"], reader


@pytest.mark.parametrize("uid", ["nobody-here", "pat", "sam"])
def test_a_login_that_cannot_succeed_still_binds_once_to_the_decoy(slapd_server, accounts, app, uid):
    decoy = accounts.layout.login_decoy
    before = failures(slapd_server, decoy)
    assert not logs_in(app, uid, "a wrong guess at it")
    assert failures(slapd_server, decoy) == before + 1
    # Nor does the right password of a request or a suspended account help.
    assert not logs_in(app, uid, VOLUNTEER_PASSWORD)
    assert failures(slapd_server, decoy) == before + 2


def test_a_wrong_password_for_an_account_binds_the_account_not_the_decoy(slapd_server, accounts, app):
    decoy, vera = accounts.layout.login_decoy, accounts.layout.person_dn("vera")
    before = failures(slapd_server, decoy)
    assert not logs_in(app, "vera", "a wrong guess at it")
    assert failures(slapd_server, vera) == 1
    assert failures(slapd_server, decoy) == before
    assert logs_in(app, "vera", VOLUNTEER_PASSWORD)


def test_an_account_locked_by_the_directory_binds_the_decoy(slapd_server, accounts, app):
    """slapd refuses a locked entry without hashing: binding to it would answer quicker."""
    for _ in range(int(PASSWORD_POLICY["pwdMaxFailure"])):
        accounts.people.check_password("vera", "a wrong guess at it")
    assert accounts.people.find("vera").locked_at is not None
    decoy = accounts.layout.login_decoy
    before = failures(slapd_server, decoy)
    assert not logs_in(app, "vera", VOLUNTEER_PASSWORD)
    assert failures(slapd_server, decoy) == before + 1


def test_the_decoy_never_locks_and_its_password_opens_nothing(slapd_server, accounts, app):
    give_the_decoy_a_known_password(slapd_server, accounts)
    decoy = accounts.layout.login_decoy
    for _ in range(int(PASSWORD_POLICY["pwdMaxFailure"]) + 2):
        assert not binds(slapd_server, decoy, "a wrong guess at it")
    # Past the count that locks an account, the decoy still checks passwords (so still hashes).
    assert binds(slapd_server, decoy, DECOY_PASSWORD)
    for uid in ("login-decoy", "nobody-here", "pat", "sam"):
        assert not logs_in(app, uid, DECOY_PASSWORD)
        response = Visitor(app.test_client()).enter_password(uid, DECOY_PASSWORD)
        assert response.status_code == 401


def test_a_second_init_directory_keeps_the_decoy_it_cannot_read(slapd_server, accounts, catalogue):
    decoy = entry(slapd_server, accounts.layout.login_decoy)
    assert initialise_directory(accounts, catalogue, "Occupy Test") == []
    assert entry(slapd_server, accounts.layout.login_decoy)["entryuuid"] == decoy["entryuuid"]

