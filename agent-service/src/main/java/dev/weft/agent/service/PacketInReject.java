package dev.weft.agent.service;

import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.MeterMod;
import dev.weft.agent.openflow.PacketIn;
import dev.weft.agent.openflow.PacketOut;
import dev.weft.agent.packet.Ipv4Frame;
import dev.weft.agent.pipeline.Cookie;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.FlowBuilder;
import dev.weft.agent.pipeline.PipelineFeature;
import dev.weft.net.IpAddress;
import dev.weft.net.MacAddress;
import org.jboss.logging.Logger;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The reject of a Service port without a ready endpoint, as Antrea does it: the DNAT flow sends the connection's first
 * packet to the agent ({@code meter:<id>,controller(max_len=128)}, metered so a flood of connection attempts cannot
 * flood the agent), which answers it from the Service address with a TCP RST (seq 0, ack = the segment's seq + its
 * length + 1 for the SYN) or, for UDP and SCTP, an ICMP port unreachable quoting the packet's IP header and first 8
 * bytes, sent back out of the port it came in by. The client sees "connection refused" instead of a timeout; a node
 * port's reject goes back through the gateway, whose conntrack restores the node address.
 *
 * <p>Packet-ins of the SERVICE cookie category come only from these flows (its other flows never send to the agent).
 */
public final class PacketInReject implements ServiceReject {

    private static final Logger LOG = Logger.getLogger(PacketInReject.class);
    /** The reject meter's id (traceflow uses 0xff01). */
    public static final int METER_ID = 0x5e01;
    /** Packets per second the agent answers, and the burst. */
    static final long RATE = 200, BURST = 100;
    /** Ethernet + IPv4 with options + TCP with options: all the reply needs. */
    static final int MAX_LEN = 128;
    private static final int ICMP_UNREACHABLE = 3, PORT_UNREACHABLE = 3;

    private final AtomicLong rejected = new AtomicLong();
    private final AtomicLong unanswerable = new AtomicLong();
    private volatile Datapath datapath;

    @Override
    public FlowMod flow(FlowBuilder matched, ServicePortKey key) {
        return matched.meter(METER_ID).controller(MAX_LEN).build();
    }

    @Override
    public void registered(Datapath dp, PipelineFeature feature) {
        datapath = dp;
        dp.declareMeter(feature, MeterMod.packetsPerSecond(METER_ID, RATE, BURST));
        dp.packetIns().register(Cookie.Category.SERVICE, this::handle);
    }

    /** Connection attempts answered. */
    public long rejected() {
        return rejected.get();
    }

    /** Packet-ins that could not be answered (not IPv4 TCP/UDP/SCTP, truncated, switch gone). */
    public long unanswerable() {
        return unanswerable.get();
    }

    void handle(PacketIn in) {
        try {
            byte[] reply = reply(in.frame());
            if (reply == null) {
                unanswerable.incrementAndGet();
                return;
            }
            datapath.packetOut(PacketOut.toPort(in.inPort(), reply));
            rejected.incrementAndGet();
        } catch (RuntimeException e) {
            unanswerable.incrementAndGet();
            LOG.debugf("Service reject not sent: %s", e.getMessage());
        }
    }

    /** The answer to a rejected packet (a frame as it reached the DNAT flow), or null when there is none to give. */
    static byte[] reply(byte[] frame) {
        if (frame.length < 14 + 20 || (frame[12] & 0xff) != 0x08 || frame[13] != 0) {
            return null;
        }
        ByteBuffer b = ByteBuffer.wrap(frame);
        int ihl = (frame[14] & 0xf) * 4;
        int proto = frame[14 + 9] & 0xff;
        MacAddress clientMac = MacAddress.ofBytes(Arrays.copyOfRange(frame, 6, 12));
        MacAddress serviceMac = MacAddress.ofBytes(Arrays.copyOfRange(frame, 0, 6));
        IpAddress client = IpAddress.ofIpv4(b.getInt(14 + 12));
        IpAddress service = IpAddress.ofIpv4(b.getInt(14 + 16));
        if (proto == Ipv4Frame.PROTO_TCP) {
            Ipv4Frame f = Ipv4Frame.parse(frame);
            Ipv4Frame.Tcp t = (Ipv4Frame.Tcp) f.transport();
            if ((t.flags() & Ipv4Frame.Tcp.RST) != 0) {
                return null; // never answer a reset
            }
            int total = b.getShort(14 + 2) & 0xffff;
            int dataOffset = ((frame[14 + ihl + 12] & 0xff) >> 4) * 4;
            long segment = Math.max(0, total - ihl - dataOffset) + ((t.flags() & Ipv4Frame.Tcp.SYN) != 0 ? 1 : 0)
                    + ((t.flags() & Ipv4Frame.Tcp.FIN) != 0 ? 1 : 0);
            Ipv4Frame.Tcp rst = new Ipv4Frame.Tcp(t.dstPort(), t.srcPort(), 0, (t.seq() + segment) & 0xffffffffL,
                    Ipv4Frame.Tcp.RST | Ipv4Frame.Tcp.ACK, 0, new byte[0]);
            return new Ipv4Frame(serviceMac, clientMac, service, client, 0, 0, 64, rst).encode();
        }
        if (proto == Ipv4Frame.PROTO_UDP || proto == ServicePortKey.Protocol.SCTP.ipProto) {
            int quoted = Math.min(frame.length - 14, ihl + 8);
            if (quoted < ihl + 8) {
                return null;
            }
            byte[] quote = Arrays.copyOfRange(frame, 14, 14 + quoted);
            Ipv4Frame.Icmp icmp = new Ipv4Frame.Icmp(ICMP_UNREACHABLE, PORT_UNREACHABLE, 0, 0, quote);
            return new Ipv4Frame(serviceMac, clientMac, service, client, 0, 0, 64, icmp).encode();
        }
        return null;
    }
}
