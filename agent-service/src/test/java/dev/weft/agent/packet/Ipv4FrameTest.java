package dev.weft.agent.packet;

import dev.weft.net.IpAddress;
import dev.weft.net.MacAddress;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Frames round-trip, carry the checksums a receiver verifies, and truncated frames fail with the reason. */
class Ipv4FrameTest {

    private static final MacAddress A = MacAddress.parse("0a:00:00:00:00:01"), B = MacAddress.parse("0a:00:00:00:00:02");

    @Test
    void aKnownIcmpEchoHasTheChecksumsOfTheReference() {
        // checksums worked out by hand: IP header sum 0xd920 -> 0x26df; ICMP 0x0800+0x0001+0x0001 -> 0xf7fd
        Ipv4Frame f = new Ipv4Frame(A, B, IpAddress.parse("10.0.0.1"), IpAddress.parse("10.0.0.2"), 0, 0, 64,
                Ipv4Frame.Icmp.echoRequest(1, 1));
        String hex = HexFormat.of().formatHex(f.encode());
        assertEquals("0a00000000020a00000000010800" + "4500001c00004000400126df0a0000010a000002" + "0800f7fd00010001", hex);
    }

    @Test
    void framesRoundTripAndTruncationIsNamed() {
        Random r = new Random(17);
        for (int i = 0; i < 500; i++) {
            byte[] payload = new byte[r.nextInt(40)];
            r.nextBytes(payload);
            Ipv4Frame.Transport t = switch (i % 3) {
                case 0 -> new Ipv4Frame.Tcp(r.nextInt(65536), r.nextInt(65536), r.nextInt() & 0xffffffffL,
                        r.nextInt() & 0xffffffffL, r.nextInt(0x200), r.nextInt(65536), payload);
                case 1 -> new Ipv4Frame.Udp(r.nextInt(65536), r.nextInt(65536), payload);
                default -> new Ipv4Frame.Icmp(r.nextInt(256), r.nextInt(256), r.nextInt(65536), r.nextInt(65536), payload);
            };
            Ipv4Frame f = new Ipv4Frame(A, B, IpAddress.ofIpv4(r.nextInt()), IpAddress.ofIpv4(r.nextInt()), r.nextInt(64),
                    r.nextInt(65536), 1 + r.nextInt(255), t);
            byte[] bytes = f.encode();
            assertTrue(Ipv4Frame.ipChecksumOk(bytes));
            assertEquals(0, transportChecksum(bytes), f.toString());
            assertEquals(f, Ipv4Frame.parse(bytes));
            int headers = 14 + 20 + (t instanceof Ipv4Frame.Tcp ? 20 : 8);
            byte[] cut = Arrays.copyOf(bytes, r.nextInt(headers));
            assertThrows(MalformedPacketException.class, () -> Ipv4Frame.parse(cut));
        }
    }

    /** The one's-complement sum over the transport part (with the pseudo-header for TCP/UDP): 0 when right. */
    private static int transportChecksum(byte[] f) {
        int proto = f[23] & 0xff;
        int len = f.length - 34;
        long sum = 0;
        for (int i = 34; i + 1 < f.length; i += 2) {
            sum += ((f[i] & 0xff) << 8) | (f[i + 1] & 0xff);
        }
        if ((len & 1) != 0) {
            sum += (f[f.length - 1] & 0xff) << 8;
        }
        if (proto != 1) {
            for (int i = 26; i < 34; i += 2) {
                sum += ((f[i] & 0xff) << 8) | (f[i + 1] & 0xff);
            }
            sum += proto + len;
        }
        while ((sum >> 16) != 0) {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        return (int) (~sum & 0xffff);
    }
}
