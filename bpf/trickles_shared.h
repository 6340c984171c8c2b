/* What the XDP program and user space share. The single source of truth:
 * crates/trickles-wire/src/marker.rs mirrors the marker values and
 * crates/trickles-xdp/src/shared.rs the map layout; each has a test that
 * parses this file and compares.
 * Wire format: docs/protocol.md section 1. */
#ifndef TRICKLES_SHARED_H
#define TRICKLES_SHARED_H

/* RFC 6994 shared experimental TCP option, first option of every
 * Trickles segment: kind 253, length 4, ExID 0x5452 ("TR"). */
#define TRICKLES_OPT_KIND 253
#define TRICKLES_OPT_LEN 4
#define TRICKLES_EXID 0x5452
/* Offset of the marker from the start of the TCP header. */
#define TRICKLES_MARKER_OFFSET 20
/* Most VLAN tags the classifier skips. */
#define TRICKLES_MAX_VLAN_TAGS 2

/* Maps (names as in the object file):
 *   trickles_xsks   XSKMAP, key = receive queue index, value = AF_XDP socket
 *   trickles_ports  HASH, key = TCP destination port (u16, host order),
 *                   value = u8 (non-zero: served)
 *   trickles_stats  PERCPU_ARRAY of u64, key = one of the counters below */
#define TRICKLES_MAX_QUEUES 64
#define TRICKLES_MAX_PORTS 256

/* Counters: one per verdict, so user space and the tests see why each
 * frame went where it went. The PASS_* reasons are those of
 * trickles_wire::classify::PassReason. */
#define TRICKLES_STAT_STEERED 0
#define TRICKLES_STAT_STEER_NO_SOCKET 1
#define TRICKLES_STAT_PASS_NOT_IP 2
#define TRICKLES_STAT_PASS_MALFORMED 3
#define TRICKLES_STAT_PASS_FRAGMENT 4
#define TRICKLES_STAT_PASS_NOT_TCP 5
#define TRICKLES_STAT_PASS_NOT_MARKED 6
#define TRICKLES_STAT_PASS_PORT_NOT_SERVED 7
#define TRICKLES_STAT_COUNT 8

#endif /* TRICKLES_SHARED_H */
