#!/usr/bin/env python3
"""The latency a refused export adds with sync="blocked" (its record fdatasynced before the 403)
against sync="none", measured through the real proxy on loopback.

    bench/audit/refusal_latency.py build/release/proxy/exportwall [--requests 400] [--runs 2]

For each policy it starts `exportwall serve` on port 0 with its audit trail in a temporary
directory (EXPORTWALL_BENCH_DIR, default the system temp directory), sends refused exports one at
a time on one keep-alive connection (a policy refusal: the client's grant does not cover the
purpose), and prints mean, median and p99 latency. Refusals never reach the CRM, so none runs.
"""

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

POLICY = """
  <route id="contacts" path="/crm/contacts" methods="GET" upstream="crm" entity="contact"
         format="json" records="/value"/>
  <entity id="contact" subject-field="lifecycle" collected-for="essential marketing functional">
    <subject value="customer" type="customer"/>
    <field path="id" category="user.unique_id"/>
    <field path="email" category="user.contact.email"/>
    <field path="lifecycle" category="user.account"/>
    <field path="objection" category="user.privacy_preferences"/>
  </entity>
  <purpose id="invoicing" data-use="essential.service.payment_processing" basis="contract" subjects="customer">
    <fields entity="contact">id email</fields>
  </purpose>
  <purpose id="survey" data-use="functional.service.improve" basis="legitimate-interest" subjects="customer"
           lia="LIA-1" objection-field="objection">
    <fields entity="contact">id email</fields>
  </purpose>
  <destination id="billing" kind="internal" country="BE"/>
  <client id="erp">
    <api-key sha256="52f40f14d15d259f58f1fdb7023c0c4e47bb7765479124bd9f2ef5028e50afc4"/>
    <grant purpose="invoicing" destinations="billing"/>
  </client>
"""  # api key: "itest-erp-key"


def config(work, sync):
    return f"""<?xml version="1.0"?>
<exportwall version="1" mode="enforce">
  <listen address="127.0.0.1" port="0"/>
  <admin address="127.0.0.1" port="0"/>
  <log level="warn" access-log="{work}/access.log"/>
  <audit path="{work}/audit.jsonl" sync="{sync}"/>
  <upstream id="crm" url="http://127.0.0.1:9"/>
{POLICY}</exportwall>
"""


def measure(exportwall, sync, requests):
    work = tempfile.mkdtemp(prefix=f"ew-refusal-{sync}-", dir=os.environ.get("EXPORTWALL_BENCH_DIR"))
    try:
        with open(f"{work}/exportwall.xml", "w") as f:
            f.write(config(work, sync))
        ports = f"{work}/ports.json"
        proc = subprocess.Popen(
            [exportwall, "serve", "--config", f"{work}/exportwall.xml", "--ports-file", ports],
            stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while not (os.path.exists(ports) and os.path.getsize(ports) > 0):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"exportwall did not start (sync={sync})")
                time.sleep(0.01)
            port = json.load(open(ports))["listeners"][0]
            conn = http.client.HTTPConnection("127.0.0.1", port)
            headers = {"Authorization": "Bearer itest-erp-key", "X-Export-Purpose": "survey",
                       "X-Export-Destination": "billing"}
            lat = []
            for _ in range(requests):
                t0 = time.perf_counter()
                conn.request("GET", "/crm/contacts", headers=headers)
                r = conn.getresponse()
                r.read()
                lat.append((time.perf_counter() - t0) * 1e6)
                if r.status != 403:
                    raise SystemExit(f"expected 403, got {r.status}")
        finally:
            proc.terminate()
            proc.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lat.sort()
    return statistics.mean(lat), lat[len(lat) // 2], lat[int(len(lat) * 0.99)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("exportwall")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--runs", type=int, default=2)
    a = ap.parse_args()
    for run in range(1, a.runs + 1):
        res = {s: measure(a.exportwall, s, a.requests) for s in ("none", "blocked")}
        added = res["blocked"][1] - res["none"][1]
        print(f"run {run} (load {os.getloadavg()[0]:.1f}): "
              + "; ".join(f"sync={s}: mean {m:.0f} us, median {md:.0f} us, p99 {p:.0f} us"
                          for s, (m, md, p) in res.items())
              + f"; added (median) {added:.0f} us")


if __name__ == "__main__":
    main()
