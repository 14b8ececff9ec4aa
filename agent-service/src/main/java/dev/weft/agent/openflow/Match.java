package dev.weft.agent.openflow;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;
import dev.weft.net.IpPrefix;
import dev.weft.net.MacAddress;
import io.netty.buffer.ByteBuf;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.StringJoiner;

/**
 * An OpenFlow 1.3 match (OXM, with Nicira fields), kept sorted in Open vSwitch's emission order. Prerequisites are
 * the builder's job: {@code tcpDst} adds {@code ip,nw_proto=6}, as {@code ovs-ofctl} does for {@code tcp,tp_dst=80}.
 */
public record Match(List<MatchEntry> entries) {

    public static final int ETH_TYPE_IP = 0x0800;
    public static final int ETH_TYPE_ARP = 0x0806;
    public static final int PROTO_TCP = 6;
    public static final int PROTO_UDP = 17;
    public static final int PROTO_SCTP = 132;

    public static final int CT_NEW = 0x01, CT_EST = 0x02, CT_REL = 0x04, CT_RPL = 0x08, CT_INV = 0x10, CT_TRK = 0x20;

    public Match {
        List<MatchEntry> sorted = new ArrayList<>(entries);
        Collections.sort(sorted);
        for (int i = 1; i < sorted.size(); i++) {
            if (sorted.get(i).field() == sorted.get(i - 1).field()) {
                throw new IllegalArgumentException("field " + sorted.get(i).field().ofctlName + " given twice");
            }
        }
        entries = List.copyOf(sorted);
    }

    public static Builder builder() {
        return new Builder();
    }

    public MatchEntry get(OfField f) {
        for (MatchEntry e : entries) {
            if (e.field() == f) {
                return e;
            }
        }
        return null;
    }

    /** Whether this match requires the register field to hold exactly {@code value}. */
    public boolean requires(RegField field, long value) {
        MatchEntry e = get(field.register());
        if (e == null) {
            return false;
        }
        long mask = e.masked() ? e.mask() : 0xffffffffL;
        return (mask & field.mask()) == field.mask() && ((e.value() & field.mask()) >>> field.start()) == value;
    }

    /** Writes the ofp_match (type OXM), padded to 8 bytes. */
    public void encode(ByteBuf out) {
        int start = out.writerIndex();
        out.writeShort(1);
        out.writeShort(0);
        for (MatchEntry e : entries) {
            int len = e.field().length();
            out.writeInt(e.masked() ? e.field().maskedHeader() : e.field().header);
            writeN(out, e.value(), len);
            if (e.masked()) {
                writeN(out, e.mask(), len);
            }
        }
        int length = out.writerIndex() - start;
        out.setShort(start + 2, length);
        out.writeZero((8 - length % 8) % 8);
    }

    /**
     * Reads an ofp_match at the reader index (consuming its padding); unknown fields are kept in {@code unknown}. The
     * match must lie between the reader index and the writer index (callers hand a slice bounded by the message or
     * entry it is in); anything else, an entry that does not fit its match or a known field with the wrong length, is
     * an {@link OfException} saying which, never an index exception or a read into the next structure.
     */
    public static Match decode(ByteBuf in, List<String> unknown) {
        int start = in.readerIndex();
        int available = in.writerIndex() - start;
        if (available < 4) {
            throw new OfException("malformed match: " + available + " bytes, less than its 4-byte header");
        }
        int type = in.readUnsignedShort();
        int length = in.readUnsignedShort();
        if (type != 1) {
            throw new OfException("malformed match: not an OXM match (type " + type + ")");
        }
        int padded = length + (8 - length % 8) % 8;
        if (length < 4 || padded > available) {
            throw new OfException("malformed match: length " + length + (length < 4 ? " is less than its 4-byte header"
                    : " (padded " + padded + ") but only " + available + " bytes left"));
        }
        int end = start + length;
        List<MatchEntry> entries = new ArrayList<>();
        while (in.readerIndex() < end) {
            int at = in.readerIndex() - start;
            if (end - in.readerIndex() < 4) {
                throw new OfException("malformed match: " + (end - in.readerIndex()) + " bytes at offset " + at
                        + " of a " + length + "-byte match, less than an OXM header");
            }
            int header = in.readInt();
            int len = header & 0xff;
            boolean masked = (header & 0x100) != 0;
            if (len > end - in.readerIndex()) {
                throw new OfException(String.format("malformed match: OXM entry 0x%08x at offset %d claims %d bytes,"
                        + " %d left in the match", header, at, len, end - in.readerIndex()));
            }
            OfField f = OfField.byWireHeader(header);
            if (f == null) {
                byte[] raw = new byte[len];
                in.readBytes(raw);
                unknown.add(String.format("oxm(0x%08x)=%s", header, io.netty.buffer.ByteBufUtil.hexDump(raw)));
                continue;
            }
            int n = f.length();
            if (len != (masked ? 2 * n : n)) {
                throw new OfException("malformed match: " + f.ofctlName + (masked ? " (masked)" : "") + " at offset "
                        + at + " has length " + len + ", expected " + (masked ? 2 * n : n));
            }
            long value = readN(in, n);
            if (masked) {
                entries.add(MatchEntry.masked(f, value, readN(in, n)));
            } else {
                entries.add(MatchEntry.exact(f, value));
            }
        }
        in.readerIndex(start + padded);
        try {
            return new Match(entries);
        } catch (IllegalArgumentException e) {
            throw new OfException("malformed match: " + e.getMessage());
        }
    }

    static void writeN(ByteBuf out, long v, int n) {
        for (int i = n - 1; i >= 0; i--) {
            out.writeByte((int) (v >>> (8 * i)));
        }
    }

    static long readN(ByteBuf in, int n) {
        long v = 0;
        for (int i = 0; i < n; i++) {
            v = (v << 8) | in.readUnsignedByte();
        }
        return v;
    }

    /** ovs-ofctl syntax, e.g. {@code tcp,reg1=0x6,nw_src=10.10.1.0/24,tp_dst=80}. */
    @Override
    public String toString() {
        StringJoiner j = new StringJoiner(",");
        MatchEntry type = get(OfField.ETH_TYPE);
        MatchEntry proto = get(OfField.IP_PROTO);
        boolean protoShown = false;
        if (type != null && type.value() == ETH_TYPE_IP) {
            if (proto != null && proto.value() == PROTO_TCP) {
                j.add("tcp");
                protoShown = true;
            } else if (proto != null && proto.value() == PROTO_UDP) {
                j.add("udp");
                protoShown = true;
            } else if (proto != null && proto.value() == PROTO_SCTP) {
                j.add("sctp");
                protoShown = true;
            } else {
                j.add("ip");
            }
        } else if (type != null && type.value() == ETH_TYPE_ARP) {
            j.add("arp");
        }
        for (MatchEntry e : entries) {
            if (e.field() == OfField.ETH_TYPE && (e.value() == ETH_TYPE_IP || e.value() == ETH_TYPE_ARP)) {
                continue;
            }
            if (e.field() == OfField.IP_PROTO && protoShown) {
                continue;
            }
            j.add(e.field().ofctlName + "=" + format(e));
        }
        return j.toString();
    }

    static String format(MatchEntry e) {
        return switch (e.field()) {
            case ETH_SRC, ETH_DST, ARP_SHA, ARP_THA -> mac(e.value()) + (e.masked() ? "/" + mac(e.mask()) : "");
            case IPV4_SRC, IPV4_DST, ARP_SPA, ARP_TPA, TUN_IPV4_SRC, TUN_IPV4_DST -> ipv4(e.value()) + (e.masked() ? ipMask(e.mask()) : "");
            case CT_STATE -> ctState(e.value(), e.masked() ? e.mask() : e.value());
            case ETH_TYPE -> String.format("0x%04x", e.value());
            case CONJ_ID, IN_PORT, IP_PROTO, IP_DSCP, ARP_OP, CT_ZONE -> Long.toString(e.value());
            case TCP_SRC, TCP_DST, UDP_SRC, UDP_DST, SCTP_SRC, SCTP_DST -> e.masked()
                    ? String.format("0x%x/0x%x", e.value(), e.mask()) : Long.toString(e.value());
            default -> e.masked() ? String.format("0x%x/0x%x", e.value(), e.mask()) : String.format("0x%x", e.value());
        };
    }

    private static String ctState(long value, long mask) {
        String[] names = {"new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"};
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < names.length; i++) {
            if ((mask & (1L << i)) != 0) {
                sb.append((value & (1L << i)) != 0 ? '+' : '-').append(names[i]);
            }
        }
        return sb.toString();
    }

    public static String mac(long v) {
        return new MacAddress(v & 0xffff_ffff_ffffL).toString();
    }

    public static String ipv4(long v) {
        return IpAddress.ofIpv4((int) v).toString();
    }

    private static String ipMask(long mask) {
        int prefix = Long.bitCount(mask & 0xffffffffL);
        long expected = prefix == 0 ? 0 : (0xffffffffL << (32 - prefix)) & 0xffffffffL;
        return expected == (mask & 0xffffffffL) ? "/" + prefix : "/" + ipv4(mask);
    }

    /** The 48 bits of a MAC address ({@link MacAddress} parses it). */
    public static long parseMac(String mac) {
        return MacAddress.parse(mac).value();
    }

    /** The 32 bits of an IPv4 address, unsigned ({@link IpAddress} parses it). */
    public static long parseIpv4(String ip) {
        return Integer.toUnsignedLong(IpAddress.parse(ip, AddressFamily.IPV4).ipv4Bits());
    }

    /** The mask of a prefix length. */
    public static long prefixMask(int prefix) {
        if (prefix < 0 || prefix > 32) {
            throw new IllegalArgumentException("bad prefix length " + prefix);
        }
        return prefix == 0 ? 0 : (0xffffffffL << (32 - prefix)) & 0xffffffffL;
    }

    /** Typed builder that reads like the flow: {@code Match.builder().ip().reg(1, 6).nwSrc("10.0.0.0/24")}. */
    public static final class Builder {
        private final List<MatchEntry> entries = new ArrayList<>();

        private Builder set(MatchEntry e) {
            entries.removeIf(x -> x.field() == e.field());
            entries.add(e);
            return this;
        }

        public Builder inPort(int port) {
            return set(MatchEntry.exact(OfField.IN_PORT, port & 0xffffffffL));
        }

        public Builder ethType(int type) {
            return set(MatchEntry.exact(OfField.ETH_TYPE, type));
        }

        public Builder ip() {
            return ethType(ETH_TYPE_IP);
        }

        public Builder arp() {
            return ethType(ETH_TYPE_ARP);
        }

        public Builder ipProto(int proto) {
            ip();
            return set(MatchEntry.exact(OfField.IP_PROTO, proto));
        }

        public Builder tcp() {
            return ipProto(PROTO_TCP);
        }

        public Builder udp() {
            return ipProto(PROTO_UDP);
        }

        public Builder dlSrc(String mac) {
            return set(MatchEntry.exact(OfField.ETH_SRC, parseMac(mac)));
        }

        public Builder dlDst(String mac) {
            return set(MatchEntry.exact(OfField.ETH_DST, parseMac(mac)));
        }

        /** {@code 10.0.0.1} or {@code 10.0.0.0/24}. */
        public Builder nwSrc(String cidr) {
            ip();
            return set(cidrEntry(OfField.IPV4_SRC, cidr));
        }

        public Builder nwDst(String cidr) {
            ip();
            return set(cidrEntry(OfField.IPV4_DST, cidr));
        }

        public Builder arpSpa(String ip) {
            arp();
            return set(MatchEntry.exact(OfField.ARP_SPA, parseIpv4(ip)));
        }

        public Builder arpTpa(String ip) {
            arp();
            return set(MatchEntry.exact(OfField.ARP_TPA, parseIpv4(ip)));
        }

        public Builder arpOp(int op) {
            arp();
            return set(MatchEntry.exact(OfField.ARP_OP, op));
        }

        public Builder arpSha(String mac) {
            arp();
            return set(MatchEntry.exact(OfField.ARP_SHA, parseMac(mac)));
        }

        /** Destination port (or a port/mask block) of TCP (6), UDP (17) or SCTP (132). */
        public Builder tpDst(int proto, int port, int mask) {
            if (port < 0 || port > 0xffff) {
                throw new IllegalArgumentException("bad port " + port);
            }
            ipProto(proto);
            OfField f = switch (proto) {
                case PROTO_TCP -> OfField.TCP_DST;
                case PROTO_UDP -> OfField.UDP_DST;
                case PROTO_SCTP -> OfField.SCTP_DST;
                default -> throw new IllegalArgumentException("no ports for IP protocol " + proto);
            };
            return set(MatchEntry.masked(f, port, mask & 0xffff));
        }

        public Builder reg(int n, long value) {
            return set(MatchEntry.exact(OfField.reg(n, true), value & 0xffffffffL));
        }

        public Builder reg(int n, long value, long mask) {
            return set(MatchEntry.masked(OfField.reg(n, true), value, mask & 0xffffffffL));
        }

        /** The register field holds {@code value} (its other bits are not matched). */
        public Builder reg(RegField field, long value) {
            return set(MatchEntry.masked(field.register(), field.checked(value) << field.start(), field.mask()));
        }

        /** {@code regMark(FROM_TUNNEL_REG_MARK)} is {@code reg0=0x3/0xf}. */
        public Builder regMark(RegMark mark) {
            return reg(mark.field(), mark.value());
        }

        public Builder conjId(long id) {
            return set(MatchEntry.exact(OfField.CONJ_ID, id & 0xffffffffL));
        }

        /** {@code ctState(CT_EST, CT_NEW | CT_EST)} is {@code ct_state=-new+est}. */
        public Builder ctState(int value, int mask) {
            return set(MatchEntry.masked(OfField.CT_STATE, value, mask));
        }

        /** {@code ct_mark=value/mask}: the connection's mark (set when it was committed). */
        public Builder ctMark(long value, long mask) {
            return set(MatchEntry.masked(OfField.CT_MARK, value & 0xffffffffL, mask & 0xffffffffL));
        }

        public Builder sctp() {
            return ipProto(PROTO_SCTP);
        }

        /** {@code ip,ip_dscp=N}: the DSCP bits of the IP header (0..63). */
        public Builder ipDscp(int dscp) {
            if (dscp < 0 || dscp > 63) {
                throw new IllegalArgumentException("DSCP " + dscp + " out of 0..63");
            }
            ip();
            return set(MatchEntry.exact(OfField.IP_DSCP, dscp));
        }

        public Builder tunDst(String ip) {
            return set(MatchEntry.exact(OfField.TUN_IPV4_DST, parseIpv4(ip)));
        }

        public Match build() {
            return new Match(entries);
        }

        private static MatchEntry cidrEntry(OfField f, String cidr) {
            int slash = cidr.indexOf('/');
            if (slash < 0) {
                return MatchEntry.exact(f, parseIpv4(cidr));
            }
            // Host bits are masked as ovs-ofctl does for nw_src=10.0.0.1/24.
            IpPrefix p = IpPrefix.parseContaining(cidr);
            if (p.family() != AddressFamily.IPV4) {
                throw new IllegalArgumentException("'" + cidr + "' is not an IPv4 CIDR: it is " + p.family());
            }
            if (p.prefixLength() == 0) {
                throw new IllegalArgumentException("a /0 CIDR matches everything; omit the field instead: " + cidr);
            }
            return MatchEntry.masked(f, Integer.toUnsignedLong(p.network().ipv4Bits()), prefixMask(p.prefixLength()));
        }
    }
}
