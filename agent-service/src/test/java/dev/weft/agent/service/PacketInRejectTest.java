package dev.weft.agent.service;

import dev.weft.agent.packet.Ipv4Frame;
import dev.weft.net.IpAddress;
import dev.weft.net.MacAddress;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The answers the reject builds for the first packet of a connection to a Service port without endpoints. */
class PacketInRejectTest {

    static final MacAddress CLIENT_MAC = MacAddress.parse("0a:00:00:00:00:02"), GW_MAC = MacAddress.parse("0a:00:00:00:00:01");
    static final IpAddress CLIENT = IpAddress.parse("10.10.0.2"), SERVICE = IpAddress.parse("10.96.0.10");

    @Test
    void aSynGetsAResetFromTheServiceAcknowledgingIt() {
        byte[] syn = new Ipv4Frame(CLIENT_MAC, GW_MAC, CLIENT, SERVICE, 0, 7, 64,
                new Ipv4Frame.Tcp(40000, 80, 123456789L, 0, Ipv4Frame.Tcp.SYN, 64240, new byte[0])).encode();
        Ipv4Frame rst = Ipv4Frame.parse(PacketInReject.reply(syn));
        assertEquals(SERVICE, rst.srcIp());
        assertEquals(CLIENT, rst.dstIp());
        assertEquals(GW_MAC, rst.src());
        assertEquals(CLIENT_MAC, rst.dst());
        Ipv4Frame.Tcp t = (Ipv4Frame.Tcp) rst.transport();
        assertEquals(80, t.srcPort());
        assertEquals(40000, t.dstPort());
        assertEquals(Ipv4Frame.Tcp.RST | Ipv4Frame.Tcp.ACK, t.flags());
        assertEquals(0, t.seq());
        assertEquals(123456790L, t.ack(), "the SYN counts for one");
        assertTrue(Ipv4Frame.ipChecksumOk(PacketInReject.reply(syn)));

        byte[] data = new Ipv4Frame(CLIENT_MAC, GW_MAC, CLIENT, SERVICE, 0, 7, 64,
                new Ipv4Frame.Tcp(40000, 80, 0xfffffffeL, 1, Ipv4Frame.Tcp.ACK, 64240, new byte[5])).encode();
        assertEquals(3, ((Ipv4Frame.Tcp) Ipv4Frame.parse(PacketInReject.reply(data)).transport()).ack(), "wraps at 2^32");

        byte[] reset = new Ipv4Frame(CLIENT_MAC, GW_MAC, CLIENT, SERVICE, 0, 7, 64,
                new Ipv4Frame.Tcp(40000, 80, 1, 0, Ipv4Frame.Tcp.RST, 0, new byte[0])).encode();
        assertNull(PacketInReject.reply(reset), "a reset is never answered");
    }

    @Test
    void udpGetsPortUnreachableQuotingTheHeaderAndEightBytes() {
        byte[] udp = new Ipv4Frame(CLIENT_MAC, GW_MAC, CLIENT, SERVICE, 0, 9, 64,
                new Ipv4Frame.Udp(5353, 53, "a question".getBytes())).encode();
        Ipv4Frame icmp = Ipv4Frame.parse(PacketInReject.reply(udp));
        assertEquals(SERVICE, icmp.srcIp());
        assertEquals(CLIENT, icmp.dstIp());
        Ipv4Frame.Icmp i = (Ipv4Frame.Icmp) icmp.transport();
        assertEquals(3, i.type());
        assertEquals(3, i.code());
        assertArrayEquals(Arrays.copyOfRange(udp, 14, 14 + 28), i.payload());
    }

    @Test
    void whatIsNotIpv4OrTooShortIsNotAnswered() {
        assertNull(PacketInReject.reply(new byte[20]));
        byte[] arp = new byte[60];
        arp[12] = 0x08;
        arp[13] = 0x06;
        assertNull(PacketInReject.reply(arp));
        byte[] udp = new Ipv4Frame(CLIENT_MAC, GW_MAC, CLIENT, SERVICE, 0, 9, 64, new Ipv4Frame.Udp(1, 2, new byte[0])).encode();
        assertNull(PacketInReject.reply(Arrays.copyOf(udp, 14 + 20 + 4)), "truncated before 8 bytes of UDP");
    }
}
