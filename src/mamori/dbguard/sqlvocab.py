"""The SQL firewall's vocabularies: catalogs, functions, operators and languages that matter
to the injection analysis (:mod:`mamori.dbguard.sqlwalk`). Data only."""

from __future__ import annotations

from typing import Final

from pglast.enums import SQLValueFunctionOp

CATALOG_SCHEMAS: Final = frozenset(
    {
        "pg_catalog",
        "information_schema",
        "mysql",
        "sys",
        "performance_schema",
        "master",
        "sysibm",
        "syscat",
    }
)
CATALOG_TABLES: Final = frozenset(
    {"sqlite_master", "sysobjects", "syscolumns", "sysusers", "all_tables", "all_users",
     "all_tab_columns", "user_tables", "user_tab_columns", "dba_users"}
)  # fmt: skip
"""Other DBMSs' catalogs, which injection tools probe by name whatever the server is."""
NO_DATA_TABLES: Final = frozenset({"dual"})
"""Oracle's one-row table: a SELECT from it reads nothing."""

INFO_FUNCTIONS: Final = frozenset(
    {"version", "current_database", "current_schema", "current_schemas", "current_setting",
     "inet_server_addr", "inet_server_port", "inet_client_addr", "pg_postmaster_start_time",
     "database", "user", "system_user", "schema", "@@version"}
)  # fmt: skip
"""What the server is and who runs it: what a UNION-based injection reads first."""
INFO_VALUE_FUNCTIONS: Final = frozenset(
    {SQLValueFunctionOp.SVFOP_CURRENT_USER, SQLValueFunctionOp.SVFOP_CURRENT_ROLE,
     SQLValueFunctionOp.SVFOP_USER, SQLValueFunctionOp.SVFOP_SESSION_USER,
     SQLValueFunctionOp.SVFOP_CURRENT_CATALOG, SQLValueFunctionOp.SVFOP_CURRENT_SCHEMA}
)  # fmt: skip

TIMING_FUNCTIONS: Final = frozenset(
    {"pg_sleep", "pg_sleep_for", "pg_sleep_until", "sleep", "benchmark", "dbms_lock.sleep",
     "dbms_pipe.receive_message", "waitfor", "randomblob"}
)  # fmt: skip
"""PostgreSQL's sleeps, and the MySQL, Oracle and SQLite ones the same tools send."""

SERVER_ACCESS_FUNCTIONS: Final = frozenset(
    {"lo_import", "lo_export", "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file",
     "pg_ls_logdir", "pg_ls_waldir", "pg_ls_tmpdir", "pg_ls_archive_statusdir",
     "pg_ls_logicalsnapdir", "pg_ls_logicalmapdir", "pg_ls_replslotdir", "pg_file_write",
     "pg_file_rename", "pg_file_unlink", "pg_file_sync", "pg_logdir_ls", "dblink", "dblink_exec",
     "dblink_connect", "dblink_connect_u", "dblink_send_query", "dblink_open", "dblink_get_result"}
)  # fmt: skip
"""Files and programs of the server's machine, other servers: refused on sight (BLOCK)."""

SUSPECT_FUNCTIONS: Final = frozenset(
    {"pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
     "pg_promote", "pg_switch_wal", "query_to_xml", "query_to_xml_and_xmlschema",
     "cursor_to_xml", "table_to_xml", "database_to_xml", "lo_from_bytea", "lo_put", "lo_get",
     "load_file", "extractvalue", "updatexml", "sys_exec", "sys_eval", "xp_cmdshell",
     "xp_dirtree", "utl_http.request", "utl_inaddr.get_host_address",
     "utl_inaddr.get_host_name", "dbms_xmlgen.getxml", "ctxsys.drithsx.sn", "name_const"}
)  # fmt: skip
"""Administration, SQL run from a string, and other DBMSs' file, network and error-based
injection functions: an alert (an administrator may call the first ones)."""

NATIVE_LANGUAGES: Final = frozenset({"c", "internal"})
UNTRUSTED_LANGUAGES: Final = frozenset(
    {"plpythonu", "plpython2u", "plpython3u", "plperlu", "pltclu", "plsh", "plrustu"}
)
RISKY_EXTENSIONS: Final = frozenset(
    {"dblink", "adminpack", "file_fdw", "plpythonu", "plpython2u", "plpython3u", "plperlu",
     "pltclu", "plsh", "lo"}
)  # fmt: skip

PROBE_FUNCTIONS: Final = frozenset(
    {"version", "current_database", "inet_server_addr", "inet_server_port",
     "pg_postmaster_start_time", "database", "user", "system_user", "schema", "@@version"}
)  # fmt: skip
"""Server information an application does not put in its own statements over its data, and
blind injection reads one character at a time (``AND ascii(substr(version(),1,1))>52``)."""

ENCODING_FUNCTIONS: Final = frozenset({"chr", "char", "nchar", "unhex"})
"""Building text from code points (``CHR(113)||CHR(106)``): injection tools avoid quotes so."""

COMPARISON_OPS: Final = frozenset(
    {"=", "<>", "!=", "<", ">", "<=", ">=", "<=>", "~~", "!~~", "~~*", "!~~*"}
)
ARITHMETIC_OPS: Final = frozenset({"+", "-", "*", "/", "%", "^", "&", "|", "#", "<<", ">>", "~"})

KNOWN_OPERATORS: Final = frozenset(
    [
        "!!",
        "!~",
        "!~*",
        "!~~",
        "!~~*",
        "#",
        "##",
        "#-",
        "#<#",
        "#<=#",
        "#=",
        "#>",
        "#>#",
        "#>=#",
        "#>>",
        "%",
        "%#",
        "%%",
        "%>",
        "%>>",
        "&",
        "&&",
        "&<",
        "&<|",
        "&>",
        "*",
        "*<",
        "*<=",
        "*<>",
        "*=",
        "*>",
        "*>=",
        "+",
        "-",
        "->",
        "->>",
        "-|-",
        "/",
        "<",
        "<#>",
        "<%",
        "<->",
        "<->>",
        "<->>>",
        "<<",
        "<<%",
        "<<->",
        "<<<->",
        "<<=",
        "<<|",
        "<=",
        "<=>",
        "<>",
        "<@",
        "<@>",
        "<^",
        "=",
        ">",
        ">=",
        ">>",
        ">>=",
        ">^",
        "?",
        "?#",
        "?&",
        "?-",
        "?-|",
        "?<@",
        "?@",
        "?@>",
        "?|",
        "?||",
        "?~",
        "@",
        "@-@",
        "@>",
        "@?",
        "@@",
        "@@@",
        "^",
        "^<@",
        "^?",
        "^@",
        "^@>",
        "^~",
        "|",
        "|&>",
        "|/",
        "|>>",
        "||",
        "||/",
        "~",
        "~*",
        "~<=~",
        "~<~",
        "~=",
        "~>",
        "~>=~",
        "~>~",
        "~~",
        "~~*",
        "!=",
        "&&&",
        "<<#>>",
        "|=|",
        "<<->>",
    ]
)
"""PostgreSQL 15's operators with contrib's extensions installed (``SELECT DISTINCT oprname FROM
pg_operator``), and PostGIS's. The lexer reads the longest run of operator characters, so
MySQL's ``1=@@version`` arrives as the operator ``=@@``, which PostgreSQL does not have."""

READ_KINDS: Final = frozenset({"select", "show", "explain", "transaction", "set"})
"""Kinds that may follow a query in one simple Query without saying anything."""
