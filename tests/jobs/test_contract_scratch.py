from __future__ import annotations
import base64
from tests.factories import ApiClient


async def test_probe(api: ApiClient) -> None:
    user = await api.sign_in()
    job = await api.create_job(user, 1)
    for raw in [b"9999-12-31T23:59:59-23:00|x", b"0001-01-01T00:00:00+23:00|x", b"2020-01-01T00:00:00|\x00abc", b"2020-01-01T00:00:00|" + "é".encode()]:
        c = base64.urlsafe_b64encode(raw).decode()
        r = await api.http.get("/jobs", params={"cursor": c}, headers=user.headers)
        print(raw, r.status_code, r.text[:200])
    for path in ["/jobs/%00", "/jobs/a%00b/cancel"]:
        r = await api.http.get(path, headers=user.headers) if "cancel" not in path else await api.http.post(path, headers=user.headers)
        print(path, r.status_code, r.text[:200])
    r = await api.http.post("/jobs", headers={**user.headers, "Content-Type": "application/json"})
    print("empty create", r.status_code, r.text[:200])
    r = await api.http.post(f"/jobs/{job['job_id']}/callback", json={"idx": 0, "status": "failed", "idempotency_key": "a\x00b"}, headers={"X-Callback-Secret": api.callback_secret})
    print("nul key", r.status_code, r.text[:200])
    r = await api.http.post(f"/jobs/{job['job_id']}/callback", json={"idx": True, "status": "failed", "idempotency_key": "ab"}, headers={"X-Callback-Secret": api.callback_secret})
    print("bool idx", r.status_code, r.text[:200])
