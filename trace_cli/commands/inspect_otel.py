"""`trace export-otel`: the history as OpenTelemetry GenAI spans, sent to an OTLP/HTTP endpoint or
printed as JSON lines (trace_core.integrations.otel; docs/inspect.md)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from ..declare import Choice, argument, command, flag, option
from ..util import EXIT_USAGE, echo, fail, open_repo

TRACES_PATH = "/v1/traces"


def otlp_endpoint(endpoint: str | None) -> str | None:
    """The OTLP/HTTP traces URL: `endpoint` (a base URL like OTEL_EXPORTER_OTLP_ENDPOINT; /v1/traces
    is added unless it ends so), else the environment's OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (as it
    is) or OTEL_EXPORTER_OTLP_ENDPOINT (plus /v1/traces); None when none is set. The endpoint is
    the user's setting: it never comes from a repository."""
    where = "--endpoint"
    url = endpoint
    if url is None and os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return _checked(os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"],
                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if url is None:
        url, where = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None, \
            "OTEL_EXPORTER_OTLP_ENDPOINT"
    if url is None:
        return None
    url = _checked(url, where)
    return url if url.rstrip("/").endswith(TRACES_PATH) else url.rstrip("/") + TRACES_PATH


def _checked(url: str, where: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        fail(f"{where} {url!r:.80} is not an http:// or https:// URL")
    return url


def _exporter(url: str):
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        fail("sending spans needs opentelemetry-exporter-otlp-proto-http: pip install "
             "'trace-vcs[otel]' (without an endpoint the spans are printed)")
    import logging
    # the exporter logs each failure itself; the command reports it as one error line
    logging.getLogger("opentelemetry.exporter.otlp.proto.http").setLevel(logging.CRITICAL)
    return OTLPSpanExporter(endpoint=url)


def otel_export(obj, revs=(), all_refs=False, endpoint=None, content="carried",
                service="trace") -> None:
    """The body of `trace export-otel` (and of `trace export --otel`)."""
    if all_refs and revs:
        fail("give revisions or --all, not both", EXIT_USAGE)
    url = otlp_endpoint(endpoint)
    from trace_core.integrations.otel import export_spans
    with open_repo(obj) as repo:
        exporter = _exporter(url) if url is not None else None
        try:
            spans = export_spans(repo, list(revs) or None, all_refs=all_refs,
                                 exporter=exporter, content=content, service_name=service)
        finally:
            if exporter is not None:
                exporter.shutdown()
    if url is None:
        for span in spans:
            echo(span.to_json(indent=None))
        return
    traces = len({s.context.trace_id for s in spans})
    echo(f"exported {len(spans)} span{'s' * (len(spans) != 1)} in {traces} "
         f"trace{'s' * (traces != 1)} to {url}")


@command("export-otel",
         flag("--all", dest="all_refs", help="Every ref of this namespace (and each agent "
                                             "namespace not made by spawn, as its own trace)."),
         option("--endpoint", metavar="URL",
                help="OTLP/HTTP endpoint (base URL; /v1/traces is added). Default: "
                     "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT; with "
                     "none, the spans are printed as JSON lines."),
         option("--content", type=Choice(("none", "carried", "full")), default="carried",
                show_default=True,
                help="Message text on the spans: none; the messages each commit added; those "
                     "and, on chat spans, the whole prompt before them."),
         option("--service", default="trace", show_default=True, metavar="NAME",
                help="The service.name resource attribute."),
         argument("revs", nargs=-1))
def export_otel(obj, all_refs=False, endpoint=None, content="carried", service="trace",
                revs=()) -> None:
    """Export the history as OpenTelemetry spans (GenAI semantic conventions), one trace per
    agent tree.

    \b
    trace export-otel                                  HEAD's history, as JSON lines
    trace export-otel --all --endpoint http://localhost:4318
    OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 trace export-otel main
    """
    otel_export(obj, revs, all_refs, endpoint, content, service)
