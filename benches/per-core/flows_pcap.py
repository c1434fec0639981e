#!/usr/bin/env python3
"""Writes a capture of N UDP flows to a gateway, one 60-byte frame each,
in the manner of Open vSwitch's l2_1kflow capture (flow i from
10.1.mm.ll port 1024 + i // 65536 to 10.2.mm.ll port 5678, mm.ll the low
16 bits of i), all from one MAC, as the many connections of a few
containers come: for the per-core conntrack figures at a million
connections, where the flows outnumber the flow cache.

usage: flows_pcap.py N OUT.pcap GATEWAY_MAC
"""
import struct
import sys


def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


n, out, gateway = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3].replace(":", ""))
assert len(gateway) == 6 and 0 < n <= 1 << 20, "N: 1 to 1,048,576; GATEWAY_MAC: six bytes"
with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i in range(n):
        mid, low = (i >> 8) & 255, i & 255
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 46, 0, 0, 64, 17, 0,
                         bytes([10, 1, mid, low]), bytes([10, 2, mid, low]))
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        udp = struct.pack("!HHHH", 1024 + (i >> 16), 5678, 26, 0) + bytes(18)
        frame = gateway + bytes([2, 0, 1, 0, 0, 1]) + b"\x08\x00" + ip + udp
        f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(frame), len(frame)))
        f.write(frame)
print(f"{n} flows to {sys.argv[3]} in {out}")
