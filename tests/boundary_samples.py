"""Boundary-log lines from the formats' documentation, shared by the parser, HTTP and service tests."""

from __future__ import annotations

T = "\t"
ZEEK_HEADER = [
    r"#separator \x09",
    "#set_separator" + T + ",",
    "#empty_field" + T + "(empty)",
    "#unset_field" + T + "-",
    "#path" + T + "conn",
    "#open" + T + "2014-05-23-18-02-04",
    "#fields"
    + T
    + (
        "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes "
        "resp_bytes conn_state local_orig missed_bytes history orig_pkts orig_ip_bytes "
        "resp_pkts resp_ip_bytes tunnel_parents"
    ).replace(" ", T),
    "#types"
    + T
    + (
        "time string addr port addr port enum string interval count count string bool count "
        "string count count count count table[string]"
    ).replace(" ", T),
]
ZEEK_ROW_1 = (
    "1258531221.486539 Pii6cUUq1v4 192.168.1.102 68 192.168.1.1 67 udp - 0.163820 301 300 "
    "SF - 0 Dd 1 329 1 328 (empty)"
).replace(" ", T)
ZEEK_ROW_2 = (
    "1258531680.237254 nkCxlvNN8pi 192.168.1.103 137 192.168.1.255 137 udp dns 3.780125 350 "
    "0 S0 - 0 D 7 546 0 0 (empty)"
).replace(" ", T)
ZEEK_CLOSE = "#close" + T + "2014-05-23-18-02-35"
ZEEK_JSON = (
    '{"ts":1258531221.486539,"uid":"Pii6cUUq1v4","id.orig_h":"192.168.1.102","id.orig_p":68,'
    '"id.resp_h":"192.168.1.1","id.resp_p":67,"proto":"udp","duration":0.16382,'
    '"orig_bytes":301,"resp_bytes":300,"conn_state":"SF"}'
)
ZEEK_TSV = "\n".join([*ZEEK_HEADER, ZEEK_ROW_1, ZEEK_ROW_2, ZEEK_CLOSE]) + "\n"

EVE_ALERT = (
    '{"timestamp":"2017-04-07T22:24:37.251547+0100","flow_id":586497171462735,'
    '"pcap_cnt":53381,"event_type":"alert","src_ip":"192.168.2.14","src_port":50096,'
    '"dest_ip":"209.53.113.5","dest_port":80,"proto":"TCP","metadata":{"flowbits":'
    '["http.dottedquadhost"]},"tx_id":4,"alert":{"action":"allowed","gid":1,'
    '"signature_id":2018358,"rev":10,"signature":"ET HUNTING GENERIC SUSPICIOUS POST to '
    'Dotted Quad with Fake Browser 1","category":"Potentially Bad Traffic","severity":2},'
    '"app_proto":"http"}'
)
EVE_FLOW = (
    '{"timestamp":"2017-04-07T22:24:37.251547+0100","flow_id":586497171462735,'
    '"event_type":"flow","src_ip":"192.168.2.14","src_port":50096,"dest_ip":"209.53.113.5",'
    '"dest_port":80,"proto":"TCP","app_proto":"http","flow":{"pkts_toserver":8,'
    '"pkts_toclient":6,"bytes_toserver":1032,"bytes_toclient":12542,'
    '"start":"2017-04-07T22:24:37.251547+0100","end":"2017-04-07T22:24:37.561231+0100",'
    '"age":0,"state":"closed","reason":"shutdown","alerted":true}}'
)

VPC_HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status"
)
VPC_ACCEPT = (
    "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 "
    "1418530010 1418530070 ACCEPT OK"
)
VPC_REJECT = (
    "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 "
    "1418530010 1418530070 REJECT OK"
)
