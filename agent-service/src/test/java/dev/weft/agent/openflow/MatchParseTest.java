package dev.weft.agent.openflow;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Match reads addresses with the shared strict parser: the agent and the services agree on what a text means. */
class MatchParseTest {

    @Test
    void addressesAreReadStrictly() {
        assertEquals(0x0a0a0102L, Match.parseIpv4("10.10.1.2"));
        assertEquals(0xffffffffL, Match.parseIpv4("255.255.255.255"));
        assertEquals("'010.1.1.1' is not an IPv4 address: octet '010' has a leading zero",
                assertThrows(IllegalArgumentException.class, () -> Match.parseIpv4("010.1.1.1")).getMessage());
        assertEquals("'fd00::1' is not an IPv4 address: it is IPv6",
                assertThrows(IllegalArgumentException.class, () -> Match.parseIpv4("fd00::1")).getMessage());
        assertEquals(0x0a580af40301L, Match.parseMac("0A:58:0a:f4:03:01"));
        assertThrows(IllegalArgumentException.class, () -> Match.parseMac("a:b:c:d:e:f"));
        assertEquals("0a:58:0a:f4:03:01", Match.mac(0x0a580af40301L));
        assertEquals("10.10.1.2", Match.ipv4(0x0a0a0102L));
    }

    @Test
    void cidrMatchesMaskHostBitsAsOvsOfctlDoes() {
        assertEquals("ip,nw_src=10.10.1.0/24", Match.builder().nwSrc("10.10.1.7/24").build().toString());
        assertEquals("ip,nw_dst=10.10.1.7", Match.builder().nwDst("10.10.1.7").build().toString());
        assertThrows(IllegalArgumentException.class, () -> Match.builder().nwSrc("0.0.0.0/0"));
        assertEquals("'fd00::/64' is not an IPv4 CIDR: it is IPv6",
                assertThrows(IllegalArgumentException.class, () -> Match.builder().nwSrc("fd00::/64")).getMessage());
    }
}
