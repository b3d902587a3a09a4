"""Mail leaves the request (issue 18): the portal queues it, the worker sends it, once."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import timedelta

from provisioner.clock import utc_now
from provisioner.outbox import OutboxSettings, deliver_due
from provisioner.private_services.process import free_port
from provisioner.resources import get_portal
from provisioner.store import outbox

from job_helpers import make_worker
from portal_actions import VOLUNTEER_PASSWORD, deliver_outbox


def waiting(app) -> list[outbox.QueuedMail]:
    with app.extensions["store"].begin() as connection:
        return outbox.waiting(connection)


def test_a_registration_queues_its_mail_and_sends_nothing_itself(app, visitor, inbox):
    response = visitor.register()
    assert response.status_code == 302
    assert "on its way" in visitor.client.get(response.location).get_data(as_text=True)
    assert inbox.messages(deliver=False) == []
    (queued,) = waiting(app)
    assert (queued.template, queued.recipient, queued.attempts) == ("verify", "vera@example.org", 0)


def test_the_worker_sends_a_queued_mail_once_and_forgets_it(app, directory, visitor, inbox):
    visitor.register()
    worker = make_worker(app, directory, sends_mail=True)
    worker.run_once()
    worker.run_once()
    assert len(inbox.messages("vera@example.org", deliver=False)) == 1
    assert waiting(app) == []


def test_two_workers_at_once_send_each_mail_once(any_store_app, inbox):
    app = any_store_app
    with app.app_context():
        mailer = get_portal().mailer
        for number in range(30):
            mailer.send(f"p{number}@example.org", "username_taken", uid=f"p{number}", display_name="P",
                        register_link="http://localhost/register")
    start = threading.Barrier(2)
    sent: list[int] = []

    def work(name: str) -> None:
        start.wait()
        sent.append(deliver_due(app.extensions["store"], app.extensions["mailer"], name, now=utc_now(),
                                settings=OutboxSettings(batch=5)))

    workers = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=60)
    assert sum(sent) == 30
    recipients = sorted(str(mail["To"]) for mail in inbox.messages(deliver=False))
    assert recipients == sorted(f"p{number}@example.org" for number in range(30))
    assert waiting(app) == []


def test_a_mail_the_server_did_not_take_is_sent_on_a_later_try_and_nothing_secret_is_logged(
        app, visitor, inbox, caplog):
    visitor.register()
    down = replace(app.extensions["mailer"], port=free_port())   # nothing listens there
    store, now = app.extensions["store"], utc_now()
    with caplog.at_level(logging.INFO, logger="provisioner"):
        assert deliver_due(store, down, "worker-a", now=now) == 0
        (queued,) = waiting(app)
        assert queued.attempts == 1
        # Not due again before its retry time, even with the server back.
        assert deliver_outbox(app, now=now + timedelta(seconds=10)) == 0
        assert deliver_outbox(app, now=now + timedelta(seconds=31)) == 1
    assert waiting(app) == []
    mail = inbox.only_message("vera@example.org")
    link = inbox.link_in("vera@example.org")
    assert "mail not sent" in caplog.text and "mail sent" in caplog.text
    for secret in (link, link.rsplit("/", 1)[1], "vera@example.org", VOLUNTEER_PASSWORD):
        assert secret not in caplog.text
    assert "Confirm your email" in mail["Subject"]
    assert visitor.confirm(link).status_code == 200


def test_a_mail_never_taken_is_dropped_after_its_last_try(app, visitor):
    visitor.register()
    down = replace(app.extensions["mailer"], port=free_port())
    settings, now = OutboxSettings(max_attempts=2), utc_now()
    deliver_due(app.extensions["store"], down, "worker-a", now=now, settings=settings)
    assert len(waiting(app)) == 1
    deliver_due(app.extensions["store"], down, "worker-a", now=now + timedelta(hours=1), settings=settings)
    assert waiting(app) == []
