package dev.weft.agent.packet;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;
import dev.weft.net.MacAddress;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * An Ethernet frame carrying IPv4 (no options, no fragments) with a TCP, UDP or ICMP payload: built with correct IP
 * and transport checksums ({@link #encode()}) and read back ({@link #parse(byte[])}, bounds-checked: a truncated or
 * inconsistent frame is a {@link MalformedPacketException} saying what is wrong). What the agent crafts (traceflow's
 * probe) and reads (packet-ins).
 *
 * @param dscp  the 6 DSCP bits of the TOS byte (traceflow's tag)
 * @param ipId  the IP identification field
 */
public record Ipv4Frame(MacAddress src, MacAddress dst, IpAddress srcIp, IpAddress dstIp, int dscp, int ipId, int ttl,
                        Transport transport) {

    public static final int ETH_TYPE_IPV4 = 0x0800;
    public static final int PROTO_ICMP = 1, PROTO_TCP = 6, PROTO_UDP = 17;
    private static final int ETH = 14, IP = 20;

    public Ipv4Frame {
        if (srcIp.family() != AddressFamily.IPV4 || dstIp.family() != AddressFamily.IPV4) {
            throw new IllegalArgumentException("an IPv4 frame needs IPv4 addresses: " + srcIp + " -> " + dstIp);
        }
        check("DSCP", dscp, 63);
        check("IP id", ipId, 0xffff);
        check("TTL", ttl, 255);
    }

    /** What the IP packet carries. */
    public sealed interface Transport {
        int protocol();
    }

    /** A TCP segment; {@code flags} are the header's flag bits (SYN = 0x02, ACK = 0x10, RST = 0x04). */
    public record Tcp(int srcPort, int dstPort, long seq, long ack, int flags, int window, byte[] payload) implements Transport {
        public static final int FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

        public Tcp {
            check("TCP source port", srcPort, 0xffff);
            check("TCP destination port", dstPort, 0xffff);
            check("TCP flags", flags, 0x1ff);
            check("TCP window", window, 0xffff);
            payload = payload.clone();
        }

        public static Tcp syn(int srcPort, int dstPort) {
            return new Tcp(srcPort, dstPort, 1, 0, SYN, 64240, new byte[0]);
        }

        public int protocol() {
            return PROTO_TCP;
        }

        @Override
        public byte[] payload() {
            return payload.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Tcp t && t.srcPort == srcPort && t.dstPort == dstPort && t.seq == seq && t.ack == ack
                    && t.flags == flags && t.window == window && Arrays.equals(t.payload, payload);
        }

        @Override
        public int hashCode() {
            return ((srcPort * 31 + dstPort) * 31 + flags) * 31 + Arrays.hashCode(payload);
        }
    }

    public record Udp(int srcPort, int dstPort, byte[] payload) implements Transport {
        public Udp {
            check("UDP source port", srcPort, 0xffff);
            check("UDP destination port", dstPort, 0xffff);
            payload = payload.clone();
        }

        public int protocol() {
            return PROTO_UDP;
        }

        @Override
        public byte[] payload() {
            return payload.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Udp u && u.srcPort == srcPort && u.dstPort == dstPort && Arrays.equals(u.payload, payload);
        }

        @Override
        public int hashCode() {
            return (srcPort * 31 + dstPort) * 31 + Arrays.hashCode(payload);
        }
    }

    /** An ICMP echo request (type 8) or reply (0), or any other type/code with {@code id} and {@code seq} as rest of header. */
    public record Icmp(int type, int code, int id, int seq, byte[] payload) implements Transport {
        public static final int ECHO_REPLY = 0, ECHO_REQUEST = 8;

        public Icmp {
            check("ICMP type", type, 255);
            check("ICMP code", code, 255);
            check("ICMP id", id, 0xffff);
            check("ICMP sequence", seq, 0xffff);
            payload = payload.clone();
        }

        public static Icmp echoRequest(int id, int seq) {
            return new Icmp(ECHO_REQUEST, 0, id, seq, new byte[0]);
        }

        public int protocol() {
            return PROTO_ICMP;
        }

        @Override
        public byte[] payload() {
            return payload.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Icmp i && i.type == type && i.code == code && i.id == id && i.seq == seq
                    && Arrays.equals(i.payload, payload);
        }

        @Override
        public int hashCode() {
            return ((type * 31 + code) * 31 + id) * 31 + seq;
        }
    }

    public byte[] encode() {
        byte[] l4 = switch (transport) {
            case Tcp t -> {
                ByteBuffer b = ByteBuffer.allocate(20 + t.payload.length);
                b.putShort((short) t.srcPort).putShort((short) t.dstPort).putInt((int) t.seq).putInt((int) t.ack);
                b.putShort((short) ((5 << 12) | t.flags)).putShort((short) t.window).putShort((short) 0).putShort((short) 0);
                b.put(t.payload);
                yield b.array();
            }
            case Udp u -> {
                ByteBuffer b = ByteBuffer.allocate(8 + u.payload.length);
                b.putShort((short) u.srcPort).putShort((short) u.dstPort).putShort((short) (8 + u.payload.length))
                        .putShort((short) 0).put(u.payload);
                yield b.array();
            }
            case Icmp i -> {
                ByteBuffer b = ByteBuffer.allocate(8 + i.payload.length);
                b.put((byte) i.type).put((byte) i.code).putShort((short) 0).putShort((short) i.id).putShort((short) i.seq)
                        .put(i.payload);
                yield b.array();
            }
        };
        int total = IP + l4.length;
        if (total > 0xffff) {
            throw new IllegalArgumentException("IPv4 packet of " + total + " bytes (max 65535)");
        }
        // transport checksum: TCP and UDP over the pseudo-header, ICMP over the message alone
        int csumAt = transport instanceof Tcp ? 16 : transport instanceof Udp ? 6 : 2;
        long sum = checksumSum(l4, 0, l4.length, 0);
        if (!(transport instanceof Icmp)) {
            sum += (srcIp.ipv4Bits() >>> 16) + (srcIp.ipv4Bits() & 0xffff) + (dstIp.ipv4Bits() >>> 16)
                    + (dstIp.ipv4Bits() & 0xffff) + transport.protocol() + l4.length;
        }
        int c = fold(sum);
        if (transport instanceof Udp && c == 0) {
            c = 0xffff; // UDP: 0 means "no checksum"
        }
        l4[csumAt] = (byte) (c >> 8);
        l4[csumAt + 1] = (byte) c;
        ByteBuffer f = ByteBuffer.allocate(ETH + total);
        f.put(dst.bytes()).put(src.bytes()).putShort((short) ETH_TYPE_IPV4);
        f.put((byte) 0x45).put((byte) (dscp << 2)).putShort((short) total).putShort((short) ipId)
                .putShort((short) 0x4000) // don't fragment
                .put((byte) ttl).put((byte) transport.protocol()).putShort((short) 0)
                .putInt(srcIp.ipv4Bits()).putInt(dstIp.ipv4Bits());
        byte[] out = f.array();
        int ipSum = fold(checksumSum(out, ETH, IP, 0));
        out[ETH + 10] = (byte) (ipSum >> 8);
        out[ETH + 11] = (byte) ipSum;
        System.arraycopy(l4, 0, out, ETH + IP, l4.length);
        return out;
    }

    /**
     * Reads a frame. The IP header may have options (skipped); the frame may be longer than the IP packet (padding)
     * or, for a packet-in truncated by max_len, shorter: then the transport header must still be complete and the
     * payload is what arrived.
     */
    public static Ipv4Frame parse(byte[] frame) {
        if (frame.length < ETH + IP) {
            throw new MalformedPacketException(frame.length + "-byte frame, less than Ethernet + IPv4 headers (34)");
        }
        ByteBuffer b = ByteBuffer.wrap(frame);
        int ethType = b.getShort(12) & 0xffff;
        if (ethType != ETH_TYPE_IPV4) {
            throw new MalformedPacketException(String.format("not IPv4: ether type 0x%04x", ethType));
        }
        int vihl = frame[ETH] & 0xff;
        int ihl = (vihl & 0xf) * 4;
        if (vihl >> 4 != 4 || ihl < IP) {
            throw new MalformedPacketException("bad IPv4 version/header length byte 0x" + Integer.toHexString(vihl));
        }
        if (frame.length < ETH + ihl) {
            throw new MalformedPacketException("IPv4 header of " + ihl + " bytes, only " + (frame.length - ETH) + " present");
        }
        int total = b.getShort(ETH + 2) & 0xffff;
        if (total < ihl) {
            throw new MalformedPacketException("IPv4 total length " + total + " less than its header (" + ihl + ")");
        }
        int dscp = (frame[ETH + 1] & 0xff) >> 2;
        int id = b.getShort(ETH + 4) & 0xffff;
        int ttl = frame[ETH + 8] & 0xff;
        int proto = frame[ETH + 9] & 0xff;
        IpAddress s = IpAddress.ofIpv4(b.getInt(ETH + 12));
        IpAddress d = IpAddress.ofIpv4(b.getInt(ETH + 16));
        int l4 = ETH + ihl;
        int end = Math.min(frame.length, ETH + total);
        Transport t = switch (proto) {
            case PROTO_TCP -> {
                need(end - l4, 20, "TCP header");
                int off = ((frame[l4 + 12] & 0xff) >> 4) * 4;
                if (off < 20) {
                    throw new MalformedPacketException("TCP data offset " + off + " less than 20");
                }
                need(end - l4, off, "TCP header with options");
                yield new Tcp(b.getShort(l4) & 0xffff, b.getShort(l4 + 2) & 0xffff, b.getInt(l4 + 4) & 0xffffffffL,
                        b.getInt(l4 + 8) & 0xffffffffL, b.getShort(l4 + 12) & 0x1ff, b.getShort(l4 + 14) & 0xffff,
                        Arrays.copyOfRange(frame, l4 + off, end));
            }
            case PROTO_UDP -> {
                need(end - l4, 8, "UDP header");
                yield new Udp(b.getShort(l4) & 0xffff, b.getShort(l4 + 2) & 0xffff, Arrays.copyOfRange(frame, l4 + 8, end));
            }
            case PROTO_ICMP -> {
                need(end - l4, 8, "ICMP header");
                yield new Icmp(frame[l4] & 0xff, frame[l4 + 1] & 0xff, b.getShort(l4 + 4) & 0xffff,
                        b.getShort(l4 + 6) & 0xffff, Arrays.copyOfRange(frame, l4 + 8, end));
            }
            default -> throw new MalformedPacketException("IP protocol " + proto + " (not TCP, UDP or ICMP)");
        };
        byte[] m = Arrays.copyOfRange(frame, 0, 6);
        byte[] n = Arrays.copyOfRange(frame, 6, 12);
        return new Ipv4Frame(MacAddress.ofBytes(n), MacAddress.ofBytes(m), s, d, dscp, id, ttl, t);
    }

    /** Whether the IPv4 header checksum of a frame is right (the transport checksums are the receiver's business). */
    public static boolean ipChecksumOk(byte[] frame) {
        if (frame.length < ETH + IP) {
            return false;
        }
        int ihl = (frame[ETH] & 0xf) * 4;
        return frame.length >= ETH + ihl && fold(checksumSum(frame, ETH, ihl, 0)) == 0;
    }

    private static void need(int have, int want, String what) {
        if (have < want) {
            throw new MalformedPacketException(what + " needs " + want + " bytes, " + Math.max(have, 0) + " present");
        }
    }

    private static long checksumSum(byte[] b, int from, int len, long sum) {
        for (int i = 0; i + 1 < len; i += 2) {
            sum += ((b[from + i] & 0xff) << 8) | (b[from + i + 1] & 0xff);
        }
        if ((len & 1) != 0) {
            sum += (b[from + len - 1] & 0xff) << 8;
        }
        return sum;
    }

    private static int fold(long sum) {
        while ((sum >> 16) != 0) {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        return (int) (~sum & 0xffff);
    }

    private static void check(String what, long v, long max) {
        if (v < 0 || v > max) {
            throw new IllegalArgumentException(what + " " + v + " out of 0.." + max);
        }
    }
}
