"""Sigma field names and logsources mapped to ECS.

An explicit table, applied when a rule is compiled (:func:`mamori.detect.compile.compile_rule`
takes it as ``fields``). Field names not in the table are used as written, so a rule may name ECS
fields directly (``process.executable``). The same table is offered as a pySigma
:class:`~sigma.processing.pipeline.ProcessingPipeline` (:func:`ecs_pipeline`) for tools that
convert rules with a pySigma backend. docs/detection.md shows both tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation
from sigma.rule import SigmaLogSource

ECS_FIELDS: Mapping[str, str] = {
    # process (Sysmon / Windows process creation, Linux process_creation, auditd EXECVE)
    "Image": "process.executable",
    "CommandLine": "process.command_line",
    "OriginalFileName": "process.pe.original_file_name",
    "ProcessId": "process.pid",
    "CurrentDirectory": "process.working_directory",
    "ParentImage": "process.parent.executable",
    "ParentCommandLine": "process.parent.command_line",
    "ParentProcessId": "process.parent.pid",
    "IntegrityLevel": "winlog.event_data.IntegrityLevel",
    "Hashes": "process.hash",
    "exe": "process.executable",
    "comm": "process.name",
    "pid": "process.pid",
    "ppid": "process.parent.pid",
    # users
    "User": "user.name",
    "SubjectUserName": "user.name",
    "TargetUserName": "user.target.name",
    "SubjectDomainName": "user.domain",
    "TargetDomainName": "user.target.domain",
    "LogonId": "winlog.logon.id",
    "LogonType": "winlog.logon.type",
    "uid": "user.id",
    "euid": "user.effective.id",
    "auid": "user.audit.id",
    # network
    "SourceIp": "source.ip",
    "src_ip": "source.ip",
    "SourceHostname": "source.domain",
    "SourcePort": "source.port",
    "src_port": "source.port",
    "DestinationIp": "destination.ip",
    "dst_ip": "destination.ip",
    "DestinationHostname": "destination.domain",
    "DestinationPort": "destination.port",
    "dst_port": "destination.port",
    "IpAddress": "source.ip",
    "IpPort": "source.port",
    "Protocol": "network.transport",
    "proto": "network.transport",
    "Initiated": "network.direction",
    # files
    "TargetFilename": "file.path",
    "FileName": "file.name",
    "ObjectName": "file.path",
    "name": "file.path",
    # DNS
    "QueryName": "dns.question.name",
    "query": "dns.question.name",
    "QueryType": "dns.question.type",
    "answer": "dns.answers.data",
    "record_type": "dns.question.type",
    # web / proxy (W3C extended log format names used by Sigma's web rules)
    "c-uri": "url.original",
    "c-uri-query": "url.query",
    "c-uri-stem": "url.path",
    "c-uri-extension": "url.extension",
    "c-useragent": "user_agent.original",
    "c-ip": "source.ip",
    "cs-method": "http.request.method",
    "cs-host": "url.domain",
    "cs-referrer": "http.request.referrer",
    "cs-cookie": "http.request.cookie",
    "cs-uri-query": "url.query",
    "sc-status": "http.response.status_code",
    "r-dns": "destination.domain",
    # host, events
    "ComputerName": "host.name",
    "Computer": "host.name",
    "Hostname": "host.hostname",
    "EventID": "event.code",
    "EventType": "event.action",
    "Provider_Name": "event.provider",
    "Channel": "winlog.channel",
    "ServiceName": "service.name",
    "Message": "message",
    "message": "message",
    "type": "auditd.type",
}
"""Sigma field name → ECS field name."""


@dataclass(frozen=True)
class LogsourceCondition:
    """An ECS condition standing for a Sigma logsource."""

    description: str
    """For docs and messages, e.g. ``log.syslog.appname in (sshd, sshd-session)``."""
    test: Callable[[Mapping[str, object]], bool]
    """The test, over a flattened event (see :func:`mamori.detect.compile.flatten`)."""


def _any_of(field: str, *values: str) -> LogsourceCondition:
    wanted = frozenset(v.lower() for v in values)

    def test(ev: Mapping[str, object]) -> bool:
        v = ev.get(field)
        if isinstance(v, list):
            return any(isinstance(x, str) and x.lower() in wanted for x in v)
        return isinstance(v, str) and v.lower() in wanted

    return LogsourceCondition(f"{field} in ({', '.join(values)})", test)


def _either(a: LogsourceCondition, b: LogsourceCondition) -> LogsourceCondition:
    return LogsourceCondition(
        f"{a.description} or {b.description}", lambda ev: a.test(ev) or b.test(ev)
    )


_SSHD = _either(
    _any_of("log.syslog.appname", "sshd", "sshd-session"),
    _any_of("process.name", "sshd", "sshd-session"),
)


def _own_audit() -> LogsourceCondition:
    # mamori's own audit events (mamori.audit.audit_doc) carry event.module "mamori" and no
    # mamori.receiver; every received event is stamped with mamori.receiver (syslog, tail), so
    # a sender that writes event.module "mamori" into its own JSON is not taken for mamori.
    module = _any_of("event.module", "mamori")

    def test(ev: Mapping[str, object]) -> bool:
        return module.test(ev) and ev.get("mamori.receiver") is None

    return LogsourceCondition(f"{module.description} and mamori.receiver absent", test)


LOGSOURCES: Mapping[tuple[str | None, str | None, str | None], LogsourceCondition] = {
    # (product, category, service); None matches a logsource that leaves the key out
    ("linux", None, "sshd"): _SSHD,
    ("linux", None, "auth"): _any_of("event.category", "authentication", "session"),
    ("linux", None, "sudo"): _any_of("log.syslog.appname", "sudo"),
    ("linux", None, "cron"): _any_of("log.syslog.appname", "cron", "crond", "CRON"),
    ("linux", None, "syslog"): _any_of("mamori.receiver", "syslog-udp", "syslog-tcp", "syslog-tls"),
    ("linux", None, "auditd"): _any_of("event.module", "auditd"),
    ("linux", "process_creation", None): _any_of("event.category", "process"),
    ("linux", "network_connection", None): _any_of("event.category", "network"),
    ("linux", "file_event", None): _any_of("event.category", "file"),
    ("windows", "process_creation", None): _any_of("event.category", "process"),
    ("windows", None, "security"): _any_of("winlog.channel", "Security"),
    (None, "dns", None): _any_of("event.category", "network", "dns"),
    (None, "firewall", None): _any_of("event.category", "network"),
    (None, "proxy", None): _any_of("event.category", "web", "network"),
    (None, "webserver", None): _any_of("event.category", "web"),
    ("zeek", None, "conn"): _any_of("event.dataset", "zeek.conn"),
    ("zeek", None, "dns"): _any_of("event.dataset", "zeek.dns"),
    ("zeek", None, "http"): _any_of("event.dataset", "zeek.http"),
    ("suricata", None, "eve"): _any_of("event.dataset", "suricata.eve"),
    ("aws", None, "vpcflow"): _any_of("event.dataset", "aws.vpcflow"),
    ("mamori", None, "audit"): _own_audit(),
    ("mamori", None, "tail"): _any_of("event.dataset", "mamori.tail"),
    (None, "database", None): _any_of("event.category", "database"),
}
"""Sigma logsource → ECS condition. A logsource not in the table has no condition: under
``--match-logsource`` (and in the live engine) such a rule applies to no event (fail closed)."""


def logsource_condition(logsource: SigmaLogSource) -> LogsourceCondition | None:
    """The ECS condition for a rule's logsource, or None when mamori has no mapping for it."""
    return LOGSOURCES.get((logsource.product, logsource.category, logsource.service))


def _mapping() -> dict[str | None, str | list[str]]:
    return {k: v for k, v in ECS_FIELDS.items()}


def ecs_pipeline() -> ProcessingPipeline:
    """:data:`ECS_FIELDS` as a pySigma processing pipeline, for pySigma backends."""
    return ProcessingPipeline(
        name="mamori ECS field mapping",
        priority=20,
        items=[
            ProcessingItem(
                identifier="mamori_ecs_fields",
                transformation=FieldMappingTransformation(_mapping()),
            )
        ],
    )
