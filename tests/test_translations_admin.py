"""The sysadmin's pages in Spanish: a sysadmin who switched to Spanish decides requests, reads a
job and the dashboard in it, flashed outcomes and refusals included, dates and numbers as
Spanish writes them; on the real slapd and store. English, the source, is what the other
admin tests read."""

from __future__ import annotations

import html
import re

from babel.dates import format_date

from provisioner.clock import utc_now

from job_helpers import add_volunteers

JOB_LINK = re.compile(r'href="/admin/jobs/(\d+)"')


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def followed(visitor, response) -> str:
    """The page a form's redirect leads to, with what it flashed."""
    assert response.status_code == 302, response.status_code
    return page(visitor.client.get(response.location))


def test_a_sysadmin_in_spanish_decides_requests_and_reads_jobs_and_the_dashboard_in_it(
        sysadmin, verified, directory):
    verified("vera")
    verified("rosa")
    switched = sysadmin.submit("/admin/requests", {"language": "es", "next": "/admin/requests"},
                               action="/language")
    assert switched.location == "/admin/requests" and directory.people.get("sam").language == "es"

    queue = page(sysadmin.client.get("/admin/requests"))
    assert '<html lang="es">' in queue and "Solicitudes pendientes de aprobación" in queue
    for spanish in ("1–2 de 2 solicitudes verificadas", "Aprobar vera", "Rechazar rosa", "Cocina",
                    "Un día", "Último día de la cuenta (vacío: ninguno)"):
        assert spanish in queue, spanish

    approved = followed(sysadmin, sysadmin.approve("vera", ["kitchen"]))
    assert "Se ha aprobado a vera." in approved
    again = followed(sysadmin, sysadmin.approve("vera", ["kitchen"]))   # the lifecycle's refusal
    assert "vera: activa; no se puede aprobar" in again
    refused = followed(sysadmin, sysadmin.approve("rosa", ["kitchen", "nowhere"]))
    assert "rosa: no se ha aprobado: 1 de estos no son grupos de trabajo" in refused
    rejected = followed(sysadmin, sysadmin.reject("rosa", "We are full this month."))
    assert "Se ha rechazado la solicitud de rosa y se le ha explicado el motivo." in rejected
    assert "No hay solicitudes verificadas" in rejected
    people = page(sysadmin.client.get("/admin/people?status=active"))
    assert "Suspender a vera" in people and '<option value="active" selected>activa</option>' in people
    audit = page(sysadmin.client.get("/admin/audit?first_day=2026-13-01"))
    assert "un día como 2026-11-30: no se muestra nada hasta que se corrija el filtro." in audit

    (job_id,) = {int(found) for found in JOB_LINK.findall(page(sysadmin.client.get("/admin/jobs")))}
    job = page(sysadmin.client.get(f"/admin/jobs/{job_id}"))
    for spanish in (f"Tarea n.º {job_id}: dar acceso", "En espera", "Todavía no se ha ejecutado nada.",
                    f"sam, {format_date(utc_now(), 'medium', locale='es')}", "vera (kitchen)"):
        assert spanish in job, spanish
    assert sysadmin.client.get(f"/admin/jobs/{job_id}.json").json["state_label"] == "En espera"
    cancelled = followed(sysadmin, sysadmin.submit(f"/admin/jobs/{job_id}", {},
                                                   action=f"/admin/jobs/{job_id}/cancel"))
    assert f"Se ha cancelado la tarea {job_id}." in cancelled and "Cancelado" in cancelled
    again = followed(sysadmin, sysadmin.submit(f"/admin/jobs/{job_id}", {},
                                               action=f"/admin/jobs/{job_id}/cancel"))
    assert f"La tarea {job_id} ya ha terminado." in again


def test_the_dashboard_in_spanish_counts_and_dates_as_spanish_writes_them(sysadmin, directory):
    add_volunteers(directory, 3, groups=("kitchen",))
    sysadmin.submit("/admin", {"language": "es", "next": "/admin"}, action="/language")
    dashboard = page(sysadmin.client.get("/admin"))
    for spanish in ("Panel", "3 personas activas están en grupos de trabajo.",
                    "Todavía no se ha hecho ninguna comprobación de desajustes",
                    "Listas de correo: Con acceso 0, En espera 3, Falló 0",
                    "Tareas de los últimos 14 días", "0 con éxito y 0 con fallos",
                    format_date(utc_now(), "long", locale="es")):
        assert spanish in dashboard, spanish
    assert 'class="bar-waiting"' in dashboard   # the chart's classes stay English
