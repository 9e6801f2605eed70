"""Schemathesis hooks for Vigil's north API: an admin token obtained by
logging in, and obtained again whenever Vigil answers 401 (the fuzzer may
log itself out, revoke its own token, or change its own role)."""

import os

import requests
import schemathesis


@schemathesis.auth(refresh_interval=None)
class AdminToken:
    def get(self, case, context):
        res = requests.post(
            os.environ["VIGIL_URL"] + "/api/v1/auth/login",
            json={"username": "admin", "password": os.environ["VIGIL_ADMIN_PASSWORD"]},
            verify=os.environ["VIGIL_CA"],
            timeout=10,
        )
        res.raise_for_status()
        return res.json()["token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["x-access-token"] = data


@schemathesis.hook
def before_call(context, case, kwargs):
    """The fuzzer may delete, demote or re-password any user but the one it
    signs in as (user 1, the first administrator): it would lock itself out
    for the rest of the run. Those calls go to a user that does not exist."""
    # Links the stateful phase infers from a nullable field (a token's
    # `device_id`, say) can carry null into a path, which no client could
    # send: such a parameter becomes an id no object has.
    for name, value in list((case.path_parameters or {}).items()):
        if value is None:
            case.path_parameters[name] = 0
    if case.operation.path.startswith("/api/v1/users/{id}"):
        if str((case.path_parameters or {}).get("id")) == "1":
            case.path_parameters["id"] = 0
    # A command sent with ?wait=N is held up to N seconds when nobody
    # answers: the fuzzer's requests would time out. One second is enough
    # to exercise it.
    if case.operation.path == "/api/v1/devices/{id}/commands" and case.method.upper() == "POST":
        wait = (case.query or {}).get("wait")
        if isinstance(wait, int) and 1 <= wait <= 60:
            case.query["wait"] = 1
