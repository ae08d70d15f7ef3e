# SPDX-License-Identifier: MIT
"""/metrics on warden's HTTP endpoint (warden(7), warden-metrics(7)): the exposition of
warden ctl metrics, text format 0.0.4 unless Accept prefers OpenMetrics, clean for promtool;
and a real Prometheus server (Debian's prometheus, on loopback) that scrapes warden and
answers its query API with the values warden exports. warden is PID 1 of a pid namespace."""

import json
import os
import signal
import subprocess
import urllib.parse
import urllib.request

import pytest

from conftest import wait_for
from ctllib import EXIT_OK, Ctl, describe, pid1_harness
from httpc import free_port, request, wait_serving
from test_metrics import FAMILIES, Metrics, promtool_clean, scrape

pytestmark = pytest.mark.timeout(180)

PROMETHEUS = "/usr/bin/prometheus"
TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# What Prometheus 2.42 sends when it scrapes.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                     "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


@pytest.fixture
def wh():
    yield from pid1_harness()


def start(wh, services):
    """A supervisor-mode warden with http = on a free loopback port; (Ctl, port)."""
    port = free_port()
    w = Ctl(wh, f"[warden]\nhttp = 127.0.0.1:{port}\n" + services)
    wait_serving(port, w.run)
    return w, port


def get_metrics(port, accept=None, method="GET"):
    headers = [f"Accept: {accept}"] if accept else []
    r = request(port, "/metrics", method=method, headers=headers)
    assert r.status == 200, r.raw[:500]
    return r


def test_metrics_over_http(wh):
    w, port = start(wh, """
[web]
command = sleep 1000
[once]
type = oneshot
command = true
""")
    w.wait_state("web", "running")
    w.wait_state("once", "exited")

    r = get_metrics(port)
    assert r.headers["content-type"] == TEXT, r.headers
    m = Metrics(r.text)
    assert {n: t for n, (t, _) in m.families.items()} == FAMILIES
    assert m.value("warden_service_up", service="web") == 1
    assert m.value("warden_service_up", service="once") == 0
    assert m.value("warden_service_ready", service="once") == 1
    assert m.value("warden_service_exits_total", service="once", how="exited-zero") == 1
    promtool_clean(r.text)
    # The same series as warden ctl metrics; an HTTP scrape is not a control request.
    c = Metrics(scrape(w.sock))
    assert set(c.samples) == set(m.samples)
    assert c.value("warden_control_requests_total", verb="metrics") == 1

    # HEAD: the same head, no body.
    hd = get_metrics(port, method="HEAD")
    assert hd.headers["content-type"] == TEXT and hd.body == b""

    # OpenMetrics when Accept prefers it, as Prometheus' own Accept does.
    for accept in ("application/openmetrics-text;version=1.0.0", PROMETHEUS_ACCEPT,
                   "text/plain;q=0.2, application/openmetrics-text;q=0.9"):
        om = get_metrics(port, accept)
        assert om.headers["content-type"] == OPENMETRICS, (accept, om.headers)
        assert om.text.endswith("\n# EOF\n") and om.text.count("# EOF") == 1, om.text[-200:]
        a = Metrics(om.text[:-len("# EOF\n")], om=True)
        assert set(a.samples) == set(m.samples)
    # Anything else gets the text format: an Accept that prefers it, or knows nothing else.
    for accept in ("text/plain;version=0.0.4", "*/*",
                   "application/openmetrics-text;q=0.1, text/plain;q=0.5",
                   "application/json", "application/openmetrics-text;q=0"):
        assert get_metrics(port, accept).headers["content-type"] == TEXT, accept

    # Nothing but GET and HEAD.
    r = request(port, "/metrics", method="POST")
    assert r.status == 405 and r.headers["allow"] == "GET, HEAD", r.raw[:300]
    assert w.stop() == 0


# --- a real Prometheus ----------------------------------------------------------------------

class Prometheus:
    """Debian's prometheus, scraping TARGET every second, its API on a loopback port."""

    def __init__(self, wh, target):
        self.port = free_port()
        conf = wh.path("prometheus.yml")
        conf.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: warden\n"
            f"    static_configs:\n      - targets: ['{target}']\n")
        self.log = open(wh.path("prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={conf}", f"--storage.tsdb.path={wh.path('tsdb')}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_SETMASK, []))

    def query(self, expr):
        """The instant vector of EXPR: {frozenset(labels): value}, or None while the
        server does not answer."""
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.proc.returncode}")
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?" +
               urllib.parse.urlencode({"query": expr}))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                doc = json.loads(r.read())
        except OSError:  # not listening yet, or 503 while it starts
            return None
        assert doc["status"] == "success", doc
        return {frozenset((k, v) for k, v in x["metric"].items() if k not in ("job", "instance", "__name__")):
                float(x["value"][1]) for x in doc["data"]["result"]}

    def wait(self, expr, want, timeout=60):
        """Waits until EXPR gives WANT ({labels dict as tuple pairs: value})."""
        want = {frozenset(k): v for k, v in want.items()}
        last = []

        def pred():
            got = self.query(expr)
            last[:] = [got]
            return got == want
        try:
            wait_for(pred, timeout, f"prometheus: {expr} = {want}")
        except AssertionError:
            raise AssertionError(f"{expr}: got {last}, want {want}; log: "
                                 f"{open(self.log.name, 'rb').read()[-2000:]!r}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def test_prometheus_scrapes_warden(wh):
    assert os.access(PROMETHEUS, os.X_OK), "the prometheus package is not installed"
    w, port = start(wh, """
[web]
command = sleep 1000
[worker]
command = sleep 1000
""")
    w.wait_state("web", "running")
    w.wait_state("worker", "running")
    p = Prometheus(wh, f"127.0.0.1:{port}")
    try:
        p.wait('up{job="warden"}', {(): 1})
        p.wait("warden_service_up", {(("service", "web"),): 1, (("service", "worker"),): 1})
        # A counter, as the server stored it.
        p.wait('warden_service_restarts_total{service="web"}', {(("service", "web"),): 0})
        r = w.ctl("stop", "worker")
        assert r.returncode == EXIT_OK, describe(r)
        w.wait_state("worker", "stopped")
        p.wait("warden_service_up", {(("service", "web"),): 1, (("service", "worker"),): 0})
        p.wait('warden_service_state{service="worker",state="stopped"}',
               {(("service", "worker"), ("state", "stopped")): 1})
        # Scrapes cost warden no control request and no error: the target stays up.
        p.wait('up{job="warden"}', {(): 1})
        scrapes = p.query('scrape_samples_scraped{job="warden"}')
        assert scrapes and list(scrapes.values())[0] > 50, scrapes
    finally:
        p.close()
    assert w.stop() == 0
