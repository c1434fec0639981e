#!/usr/bin/env python3
"""Writes Open vSwitch's l2_1kflow capture with every frame addressed to a
gateway: the per-core conntrack + SNAT configurations route what they
translate, so the frames must reach the gateway's MAC. Nothing else of a
frame changes (sources, addresses, ports, lengths, order).

usage: gateway_pcap.py IN.pcap OUT.pcap GATEWAY_MAC
"""
import struct
import sys

src, dst, mac = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3].replace(":", ""))
assert len(mac) == 6, "GATEWAY_MAC: six bytes, as 02:47:00:00:00:01"
data = bytearray(open(src, "rb").read())
magic = struct.unpack_from("<I", data, 0)[0]
assert magic in (0xA1B2C3D4, 0xA1B23C4D), "little-endian classic pcap expected"
at, frames = 24, 0
while at + 16 <= len(data):
    caplen = struct.unpack_from("<I", data, at + 8)[0]
    at += 16
    assert caplen >= 14 and at + caplen <= len(data), "truncated record"
    data[at:at + 6] = mac
    at += caplen
    frames += 1
open(dst, "wb").write(data)
print(f"{frames} frames to {sys.argv[3]} in {dst}")
