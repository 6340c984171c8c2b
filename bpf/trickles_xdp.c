// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Trickles steering program (docs/protocol.md section 1).
 *
 * Redirects to the AF_XDP socket of the receive queue exactly the frames
 * that trickles_wire::classify::classify steers: Ethernet (at most two
 * VLAN tags), unfragmented IPv4 or IPv6 without extension headers, TCP
 * whose first option is the Trickles marker and whose destination port
 * is in trickles_ports. Every other frame, malformed ones included, goes
 * to the kernel (XDP_PASS). One per-CPU counter per verdict.
 *
 * Built with: clang -O2 -g -target bpf -c trickles_xdp.c
 * (crates/trickles-xdp/build.rs or `cargo xtask bpf`). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "trickles_shared.h"

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, TRICKLES_MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} trickles_xsks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRICKLES_MAX_PORTS);
    __type(key, __u16);
    __type(value, __u8);
} trickles_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TRICKLES_STAT_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} trickles_stats SEC(".maps");

#define ETH_HEADER_LEN 14
#define VLAN_TAG_LEN 4
#define IPV4_MIN_HEADER_LEN 20
#define IPV6_HEADER_LEN 40
#define TCP_MIN_HEADER_LEN 20
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86DD
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88A8
#define TRICKLES_MARKER                                                        \
    ((__u32)TRICKLES_OPT_KIND << 24 | (__u32)TRICKLES_OPT_LEN << 16 |          \
     (__u32)TRICKLES_EXID)

static __always_inline int count(__u32 stat, int action)
{
    __u64 *value = bpf_map_lookup_elem(&trickles_stats, &stat);
    if (value)
        *value += 1;
    return action;
}

static __always_inline int pass(__u32 stat)
{
    return count(stat, XDP_PASS);
}

static __always_inline __u16 load_be16(const __u8 *p)
{
    return (__u16)p[0] << 8 | p[1];
}

SEC("xdp")
int trickles_steer(struct xdp_md *ctx)
{
    const __u8 *data = (const __u8 *)(long)ctx->data;
    const __u8 *end = (const __u8 *)(long)ctx->data_end;

    if (data + ETH_HEADER_LEN > end)
        return pass(TRICKLES_STAT_PASS_MALFORMED);
    __u16 ethertype = load_be16(data + 12);
    const __u8 *l3 = data + ETH_HEADER_LEN;

#pragma unroll
    for (int tag = 0; tag < TRICKLES_MAX_VLAN_TAGS + 1; tag++) {
        if (ethertype != ETHERTYPE_VLAN && ethertype != ETHERTYPE_QINQ)
            break;
        if (tag == TRICKLES_MAX_VLAN_TAGS)
            return pass(TRICKLES_STAT_PASS_NOT_IP);
        if (l3 + VLAN_TAG_LEN > end)
            return pass(TRICKLES_STAT_PASS_MALFORMED);
        ethertype = load_be16(l3 + 2);
        l3 += VLAN_TAG_LEN;
    }

    const __u8 *seg;
    const __u8 *seg_end;
    if (ethertype == ETHERTYPE_IPV4) {
        if (l3 + IPV4_MIN_HEADER_LEN > end)
            return pass(TRICKLES_STAT_PASS_MALFORMED);
        if (l3[0] >> 4 != 4)
            return pass(TRICKLES_STAT_PASS_MALFORMED);
        __u32 header_len = (__u32)(l3[0] & 0x0f) * 4;
        __u32 total_len = load_be16(l3 + 2);
        if (header_len < IPV4_MIN_HEADER_LEN || total_len < header_len)
            return pass(TRICKLES_STAT_PASS_MALFORMED);
        if (l3 + total_len > end)
            return pass(TRICKLES_STAT_PASS_MALFORMED);
        if (load_be16(l3 + 6) & 0x3fff)
            return pass(TRICKLES_STAT_PASS_FRAGMENT);
        if (l3[9] != IPPROTO_TCP)
            return pass(TRICKLES_STAT_PASS_NOT_TCP);
        seg = l3 + header_len;
        seg_end = l3 + total_len;
    } else if (ethertype == ETHERTYPE_IPV6) {
        if (l3 + IPV6_HEADER_LEN > end)
            return pass(TRICKLES_STAT_PASS_MALFORMED);
        if (l3[0] >> 4 != 6)
            return pass(TRICKLES_STAT_PASS_MALFORMED);
        __u32 payload_len = load_be16(l3 + 4);
        if (l3 + IPV6_HEADER_LEN + payload_len > end)
            return pass(TRICKLES_STAT_PASS_MALFORMED);
        if (l3[6] != IPPROTO_TCP)
            return pass(TRICKLES_STAT_PASS_NOT_TCP);
        seg = l3 + IPV6_HEADER_LEN;
        seg_end = seg + payload_len;
    } else {
        return pass(TRICKLES_STAT_PASS_NOT_IP);
    }

    /* The segment is [seg, seg_end), inside the frame (checked above).
     * The verifier needs every load bounded by `end` as well. */
    if (seg + TCP_MIN_HEADER_LEN > seg_end || seg + TCP_MIN_HEADER_LEN > end)
        return pass(TRICKLES_STAT_PASS_MALFORMED);
    __u32 tcp_header_len = (__u32)(seg[12] >> 4) * 4;
    if (tcp_header_len < TCP_MIN_HEADER_LEN || seg + tcp_header_len > seg_end)
        return pass(TRICKLES_STAT_PASS_MALFORMED);
    const __u8 *marker = seg + TRICKLES_MARKER_OFFSET;
    if (tcp_header_len < TRICKLES_MARKER_OFFSET + TRICKLES_OPT_LEN ||
        marker + TRICKLES_OPT_LEN > end)
        return pass(TRICKLES_STAT_PASS_NOT_MARKED);
    __u32 word = (__u32)marker[0] << 24 | (__u32)marker[1] << 16 |
                 (__u32)marker[2] << 8 | marker[3];
    if (word != TRICKLES_MARKER)
        return pass(TRICKLES_STAT_PASS_NOT_MARKED);

    __u16 port = load_be16(seg + 2);
    __u8 *served = bpf_map_lookup_elem(&trickles_ports, &port);
    if (!served || !*served)
        return pass(TRICKLES_STAT_PASS_PORT_NOT_SERVED);

    __u32 queue = ctx->rx_queue_index;
    if (!bpf_map_lookup_elem(&trickles_xsks, &queue))
        return pass(TRICKLES_STAT_STEER_NO_SOCKET);
    return count(TRICKLES_STAT_STEERED,
                 bpf_redirect_map(&trickles_xsks, queue, XDP_PASS));
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
