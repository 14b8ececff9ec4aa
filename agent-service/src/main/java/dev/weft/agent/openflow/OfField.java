package dev.weft.agent.openflow;

import java.util.HashMap;
import java.util.Map;

/**
 * The match fields the pipeline uses, with their OXM/NXM header (unmasked form) and the rank at which Open vSwitch's
 * {@code nx_put_raw} emits them, so our encoding of a match is byte-for-byte the one {@code ovs-ofctl} produces.
 * Register and conj_id matches are Nicira (NXM_NX, class 0x0001) fields; the rest are OpenFlow basic (class 0x8000).
 */
public enum OfField {
    CONJ_ID(0x00014a04, 1, "conj_id"),
    IN_PORT(0x80000004, 2, "in_port"),
    ETH_SRC(0x80000806, 3, "dl_src"),
    ETH_DST(0x80000606, 4, "dl_dst"),
    ETH_TYPE(0x80000a02, 5, "dl_type"),
    IPV4_SRC(0x80001604, 10, "nw_src"),
    IPV4_DST(0x80001804, 11, "nw_dst"),
    /** The IP header's DSCP (6 bits, the TOS byte shifted right by 2); traceflow tags its packets with it. */
    IP_DSCP(0x80001001, 12, "ip_dscp"),
    IP_PROTO(0x80001401, 12, "nw_proto"),
    TCP_SRC(0x80001a02, 13, "tp_src"),
    TCP_DST(0x80001c02, 14, "tp_dst"),
    UDP_SRC(0x80001e02, 13, "tp_src"),
    UDP_DST(0x80002002, 14, "tp_dst"),
    SCTP_SRC(0x80002202, 13, "tp_src"),
    SCTP_DST(0x80002402, 14, "tp_dst"),
    ARP_OP(0x80002a02, 20, "arp_op"),
    ARP_SPA(0x80002c04, 21, "arp_spa"),
    ARP_TPA(0x80002e04, 22, "arp_tpa"),
    ARP_SHA(0x80003006, 23, "arp_sha"),
    ARP_THA(0x80003206, 24, "arp_tha"),
    TUN_IPV4_SRC(0x00013e04, 30, "tun_src"),
    TUN_IPV4_DST(0x00014004, 31, "tun_dst"),
    REG0(reg(0), 40, "reg0"), REG1(reg(1), 41, "reg1"), REG2(reg(2), 42, "reg2"), REG3(reg(3), 43, "reg3"),
    REG4(reg(4), 44, "reg4"), REG5(reg(5), 45, "reg5"), REG6(reg(6), 46, "reg6"), REG7(reg(7), 47, "reg7"),
    REG8(reg(8), 48, "reg8"), REG9(reg(9), 49, "reg9"), REG10(reg(10), 50, "reg10"), REG11(reg(11), 51, "reg11"),
    REG12(reg(12), 52, "reg12"), REG13(reg(13), 53, "reg13"), REG14(reg(14), 54, "reg14"), REG15(reg(15), 55, "reg15"),
    CT_STATE(0x0001d204, 60, "ct_state"),
    CT_ZONE(0x0001d402, 61, "ct_zone"),
    CT_MARK(0x0001d604, 62, "ct_mark");

    /** Header with hasmask=0. */
    public final int header;
    /** Emission order inside a match (Open vSwitch's). */
    public final int rank;
    /** ovs-ofctl name. */
    public final String ofctlName;

    OfField(int header, int rank, String ofctlName) {
        this.header = header;
        this.rank = rank;
        this.ofctlName = ofctlName;
    }

    private static int reg(int n) {
        return 0x00010004 | (n << 9);
    }

    /** Value length in bytes. */
    public int length() {
        return header & 0xff;
    }

    /** Header with hasmask=1 (value and mask follow). */
    public int maskedHeader() {
        return (header & 0xffffff00) | 0x100 | (length() * 2);
    }

    public static OfField reg(int n, boolean check) {
        if (n < 0 || n > 15) {
            throw new IllegalArgumentException("no register reg" + n + " (reg0-reg15)");
        }
        return values()[REG0.ordinal() + n];
    }

    private static final Map<Integer, OfField> BY_HEADER = new HashMap<>();

    static {
        for (OfField f : values()) {
            BY_HEADER.put(f.header, f);
        }
    }

    /** The field for a header as found on the wire (masked or not), or null if we do not know it. */
    public static OfField byWireHeader(int wireHeader) {
        boolean masked = (wireHeader & 0x100) != 0;
        int len = wireHeader & 0xff;
        int plain = (wireHeader & 0xfffffe00) | (masked ? len / 2 : len);
        return BY_HEADER.get(plain);
    }
}
