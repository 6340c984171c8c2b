/* What the XDP program and user space share. The single source of truth:
 * crates/trickles-wire/src/marker.rs mirrors these values and its test
 * `shared_header_matches` parses this file and compares.
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

#endif /* TRICKLES_SHARED_H */
