package dev.weft.net;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every rule of the one parser, as a table of inputs and what comes out: canonical text or the exact message. */
class ParseTableTest {

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', quoteCharacter = '"', textBlock = """
            0.0.0.0                         | 0.0.0.0
            255.255.255.255                 | 255.255.255.255
            10.1.1.1                        | 10.1.1.1
            ::                              | ::
            0:0:0:0:0:0:0:0                 | ::
            ::1                             | ::1
            0:0:0:0:0:0:0:1                 | ::1
            1::                             | 1::
            1:0:0:0:0:0:0:0                 | 1::
            FD00:0010::1                    | fd00:10::1
            2001:db8:0:0:1:0:0:1            | 2001:db8::1:0:0:1
            2001:0:0:1:0:0:0:1              | 2001:0:0:1::1
            1:0:2:3:4:5:6:7                 | 1:0:2:3:4:5:6:7
            1:2:3:4:5:6:7:8                 | 1:2:3:4:5:6:7:8
            1:2:3:4:5:6:7::                 | 1:2:3:4:5:6:7:0
            ::2:3:4:5:6:7:8                 | 0:2:3:4:5:6:7:8
            ::ffff:10.0.0.1                 | ::ffff:a00:1
            64:ff9b::192.0.2.33             | 64:ff9b::c000:221
            1:2:3:4:5:6:1.2.3.4             | 1:2:3:4:5:6:102:304
            """)
    void validAddressesPrintCanonically(String input, String canonical) {
        IpAddress a = IpAddress.parse(input);
        assertEquals(canonical, a.toString());
        assertEquals(a, IpAddress.parse(a.toString()), "the canonical text parses back to the same address");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '"', textBlock = """
            ""                       | empty IP address
            010.1.1.1                | '010.1.1.1' is not an IPv4 or IPv6 address: octet '010' has a leading zero
            10.1                     | '10.1' is not an IPv4 or IPv6 address: an IPv4 address has four decimal octets separated by '.', this has 2
            10.1.1.1.1               | '10.1.1.1.1' is not an IPv4 or IPv6 address: an IPv4 address has four decimal octets separated by '.', this has 5
            256.0.0.1                | '256.0.0.1' is not an IPv4 or IPv6 address: octet '256' is greater than 255
            1000.0.0.1               | '1000.0.0.1' is not an IPv4 or IPv6 address: octet '1000' is greater than 255
            1..1.1                   | '1..1.1' is not an IPv4 or IPv6 address: empty octet
            " 10.0.0.1"              | ' 10.0.0.1' is not an IPv4 or IPv6 address: whitespace is not allowed
            example.com              | 'example.com' is not an IPv4 or IPv6 address: unexpected character 'e'
            10.0.0.-1                | '10.0.0.-1' is not an IPv4 or IPv6 address: unexpected character '-'
            fe80::1%eth0             | 'fe80::1%eth0' is not an IPv4 or IPv6 address: zone ids ('%eth0') are not accepted
            [::1]                    | '[::1]' is not an IPv4 or IPv6 address: brackets belong in URLs; give the address without them
            1::2::3                  | '1::2::3' is not an IPv4 or IPv6 address: '::' may appear only once
            :::                      | ':::' is not an IPv4 or IPv6 address: '::' may appear only once
            1:2:3:4:5:6:7            | '1:2:3:4:5:6:7' is not an IPv4 or IPv6 address: an IPv6 address has eight groups (fewer only with '::'), this has 7
            1:2:3:4:5:6:7:8:9        | '1:2:3:4:5:6:7:8:9' is not an IPv4 or IPv6 address: an IPv6 address has at most eight groups
            1:2:3:4::5:6:7:8         | '1:2:3:4::5:6:7:8' is not an IPv4 or IPv6 address: '::' stands for at least one zero group, but there are already 8 groups
            :1:2:3:4:5:6:7           | ':1:2:3:4:5:6:7' is not an IPv4 or IPv6 address: empty group (a single ':' at the start or the end)
            1::2:                    | '1::2:' is not an IPv4 or IPv6 address: empty group (a single ':' at the start or the end)
            12345::                  | '12345::' is not an IPv4 or IPv6 address: group '12345' has more than four hex digits
            g::1                     | 'g::1' is not an IPv4 or IPv6 address: unexpected character 'g'
            1.2.3.4::                | '1.2.3.4::' is not an IPv4 or IPv6 address: an embedded IPv4 address may only come last
            ::1.2.3                  | '::1.2.3' is not an IPv4 or IPv6 address: embedded IPv4 address: an IPv4 address has four decimal octets separated by '.', this has 3
            ::01.2.3.4               | '::01.2.3.4' is not an IPv4 or IPv6 address: embedded IPv4 address: octet '01' has a leading zero
            1:2:3:4:5:6:7:1.2.3.4    | '1:2:3:4:5:6:7:1.2.3.4' is not an IPv4 or IPv6 address: an IPv6 address has at most eight groups
            """)
    void invalidAddressesSayWhy(String input, String message) {
        AddressFormatException e = assertThrows(AddressFormatException.class, () -> IpAddress.parse(input));
        assertEquals(message, e.getMessage());
        assertEquals(input, e.input());
        assertTrue(IpAddress.tryParse(input).isEmpty());
    }

    @Test
    void aRequiredFamilyIsChecked() {
        assertEquals("10.0.0.1", IpAddress.parse("10.0.0.1", AddressFamily.IPV4).toString());
        assertEquals("'fd00::1' is not an IPv4 address: it is IPv6",
                assertThrows(AddressFormatException.class, () -> IpAddress.parse("fd00::1", AddressFamily.IPV4)).getMessage());
        assertEquals("'10.1' is not an IPv6 address: an IPv4 address has four decimal octets separated by '.', this has 2",
                assertThrows(AddressFormatException.class, () -> IpAddress.parse("10.1", AddressFamily.IPV6)).getMessage());
        assertEquals("'::ffff:10.0.0.1' is not an IPv4 address: it is IPv6",
                assertThrows(AddressFormatException.class, () -> IpAddress.parse("::ffff:10.0.0.1", AddressFamily.IPV4))
                        .getMessage(), "a mapped address is IPv6 until it is unmapped on purpose");
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', quoteCharacter = '"', textBlock = """
            10.10.1.0/24                                | 10.10.1.0/24
            0.0.0.0/0                                   | 0.0.0.0/0
            255.255.255.255/32                          | 255.255.255.255/32
            fd00:10:244:1::/64                          | fd00:10:244:1::/64
            FD00:0010:0000:0000:0000:0000:0000:0000/48  | fd00:10::/48
            ::/0                                        | ::/0
            2001:db8:0:0:1:0:0:1/128                    | 2001:db8::1:0:0:1/128
            2001:0:0:1:0:0:0:1/128                      | 2001:0:0:1::1/128
            1:2:3:4:5:6:7:8/128                         | 1:2:3:4:5:6:7:8/128
            1:0:2:3:4:5:6:7/128                         | 1:0:2:3:4:5:6:7/128
            0:0:0:0:0:0:0:1/128                         | ::1/128
            1:0:0:0:0:0:0:0/16                          | 1::/16
            ::ffff:10.0.0.0/120                         | ::ffff:a00:0/120
            """)
    void validPrefixesPrintCanonically(String input, String canonical) {
        IpPrefix p = IpPrefix.parse(input);
        assertEquals(canonical, p.toString());
        assertEquals(p, IpPrefix.parse(p.toString()));
        assertEquals(p, IpPrefix.parseContaining(input), "without host bits both parses agree");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '"', textBlock = """
            ""                 | empty CIDR
            10.0.0.0           | '10.0.0.0' is not a CIDR: missing /prefix length
            banana             | 'banana' is not a CIDR: missing /prefix length
            " "                | ' ' is not a CIDR: missing /prefix length
            abc/8              | 'abc/8' is not a CIDR: bad address 'abc': unexpected character 'a'
            256.0.0.0/8        | '256.0.0.0/8' is not a CIDR: bad address '256.0.0.0': octet '256' is greater than 255
            10.0.0.0/24/1      | '10.0.0.0/24/1' is not a CIDR: more than one '/'
            /24                | '/24' is not a CIDR: the address before '/' is missing
            10.0.0/24          | '10.0.0/24' is not a CIDR: bad address '10.0.0': an IPv4 address has four decimal octets separated by '.', this has 3
            010.0.0.0/8        | '010.0.0.0/8' is not a CIDR: bad address '010.0.0.0': octet '010' has a leading zero
            example.com/24     | 'example.com/24' is not a CIDR: bad address 'example.com': unexpected character 'e'
            fe80::1%eth0/128   | 'fe80::1%eth0/128' is not a CIDR: bad address 'fe80::1%eth0': zone ids ('%eth0') are not accepted
            "10.0.0.0 /24"     | '10.0.0.0 /24' is not a CIDR: bad address '10.0.0.0 ': whitespace is not allowed
            10.0.0.0/          | '10.0.0.0/' is not a CIDR: the prefix length after '/' is missing
            10.0.0.0/33        | '10.0.0.0/33' is not a CIDR: prefix length /33 is out of range for IPv4 (0-32)
            fd00::/129         | 'fd00::/129' is not a CIDR: prefix length /129 is out of range for IPv6 (0-128)
            10.0.0.0/1000      | '10.0.0.0/1000' is not a CIDR: prefix length /1000 is out of range for IPv4 (0-32)
            10.0.0.0/-1        | '10.0.0.0/-1' is not a CIDR: prefix length '-1' is not a decimal number
            10.0.0.0/2a        | '10.0.0.0/2a' is not a CIDR: prefix length '2a' is not a decimal number
            "10.0.0.0/24 "     | '10.0.0.0/24 ' is not a CIDR: prefix length '24 ' is not a decimal number
            10.0.0.0/08        | '10.0.0.0/08' is not a CIDR: prefix length '08' has a leading zero
            10.0.0.0/0024      | '10.0.0.0/0024' is not a CIDR: prefix length '0024' has a leading zero
            10.10.1.7/24       | '10.10.1.7/24' is not a CIDR: host bits set (did you mean 10.10.1.0/24?)
            fd00:10::1/64      | 'fd00:10::1/64' is not a CIDR: host bits set (did you mean fd00:10::/64?)
            """)
    void invalidPrefixesSayWhy(String input, String message) {
        AddressFormatException e = assertThrows(AddressFormatException.class, () -> IpPrefix.parse(input));
        assertEquals(message, e.getMessage());
    }

    @Test
    void containsAndOverlaps() {
        IpPrefix pool = IpPrefix.parse("10.10.0.0/16");
        assertTrue(pool.contains(IpPrefix.parse("10.10.255.0/24")));
        assertTrue(pool.contains(pool));
        assertFalse(pool.contains(IpPrefix.parse("10.11.0.0/24")));
        assertFalse(pool.contains(IpPrefix.parse("10.0.0.0/8")));
        assertTrue(pool.overlaps(IpPrefix.parse("10.0.0.0/8")));
        assertFalse(pool.overlaps(IpPrefix.parse("fd00::/8")), "families never overlap");
        assertFalse(IpPrefix.parse("::/0").contains(IpAddress.parse("10.0.0.1")), "families never overlap");
        assertFalse(IpPrefix.parse("::ffff:0:0/96").contains(IpAddress.parse("10.0.0.1")), "not even mapped ones");
        assertTrue(pool.contains(IpAddress.parse("10.10.3.4")));
        assertFalse(pool.contains(IpAddress.parse("10.9.255.255")));
        assertEquals("10.10.255.255", pool.last().toString());
        assertEquals(java.math.BigInteger.valueOf(65536), pool.size());
        assertEquals("fd00:10::ffff:ffff:ffff:ffff", IpPrefix.parse("fd00:10::/64").last().toString());
    }

    @Test
    void theContainingParseClearsHostBitsAndNothingElse() {
        assertEquals("10.1.0.0/16", IpPrefix.parseContaining("10.1.2.3/16").toString());
        assertEquals("fd00::/64", IpPrefix.parseContaining("fd00::1/64").toString());
        assertEquals("'010.1.2.3/16' is not a CIDR: bad address '010.1.2.3': octet '010' has a leading zero",
                assertThrows(AddressFormatException.class, () -> IpPrefix.parseContaining("010.1.2.3/16")).getMessage());
        assertEquals("'10.1.2.3' is not a CIDR: missing /prefix length",
                assertThrows(AddressFormatException.class, () -> IpPrefix.parseContaining("10.1.2.3")).getMessage());
    }

    @Test
    void constructingAPrefixWithHostBitsIsRefusedToo() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new IpPrefix(IpAddress.parse("10.10.1.7"), 24));
        assertEquals("10.10.1.7/24 has host bits set (did you mean 10.10.1.0/24?)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new IpPrefix(IpAddress.parse("10.0.0.0"), 33));
        assertEquals("prefix length /33 is out of range for IPv4 (0-32)", e.getMessage());
    }

    @Test
    void interfaceAddressesKeepTheirHostBits() {
        InterfaceAddress a = InterfaceAddress.parse("10.244.3.7/24");
        assertEquals("10.244.3.7/24", a.toString());
        assertEquals(IpPrefix.parse("10.244.3.0/24"), a.subnet());
        assertEquals(AddressFamily.IPV4, a.family());
        assertEquals(AddressFamily.IPV6, InterfaceAddress.parse("fd00::7/64").family());
        assertEquals("'10.244.3.7' is not an interface address (address/prefix length): missing /prefix length",
                assertThrows(AddressFormatException.class, () -> InterfaceAddress.parse("10.244.3.7")).getMessage());
        assertEquals("'10.244.3.7/33' is not an interface address (address/prefix length): prefix length /33 is out of range for IPv4 (0-32)",
                assertThrows(AddressFormatException.class, () -> InterfaceAddress.parse("10.244.3.7/33")).getMessage());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '"', textBlock = """
            0a:58:0a:f4:03:01  | 0a:58:0a:f4:03:01
            0A:58:0A:F4:03:01  | 0a:58:0a:f4:03:01
            ff:ff:ff:ff:ff:ff  | ff:ff:ff:ff:ff:ff
            00:00:00:00:00:00  | 00:00:00:00:00:00
            """)
    void validMacs(String input, String canonical) {
        assertEquals(canonical, MacAddress.parse(input).toString());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '"', textBlock = """
            ""                   | empty MAC address
            0a:58:0a:f4:03       | '0a:58:0a:f4:03' is not a MAC address: it needs six two-digit hex groups separated by ':', such as 0a:58:0a:f4:03:01
            0a-58-0a-f4-03-01    | '0a-58-0a-f4-03-01' is not a MAC address: it needs six two-digit hex groups separated by ':', such as 0a:58:0a:f4:03:01
            a:b:c:d:e:f          | 'a:b:c:d:e:f' is not a MAC address: it needs six two-digit hex groups separated by ':', such as 0a:58:0a:f4:03:01
            0a:58:0a:f4:03:0g    | '0a:58:0a:f4:03:0g' is not a MAC address: it needs six two-digit hex groups separated by ':', such as 0a:58:0a:f4:03:01
            0a:58:0a:f4:03:01:02 | '0a:58:0a:f4:03:01:02' is not a MAC address: it needs six two-digit hex groups separated by ':', such as 0a:58:0a:f4:03:01
            """)
    void invalidMacsSayWhatTheFormIs(String input, String message) {
        assertEquals(message, assertThrows(AddressFormatException.class, () -> MacAddress.parse(input)).getMessage());
    }

    @Test
    void nullIsAnEmptyInputNotANullPointer() {
        assertEquals("empty IP address", assertThrows(AddressFormatException.class, () -> IpAddress.parse(null)).getMessage());
        assertEquals("empty CIDR", assertThrows(AddressFormatException.class, () -> IpPrefix.parse(null)).getMessage());
        assertEquals("empty MAC address", assertThrows(AddressFormatException.class, () -> MacAddress.parse(null)).getMessage());
        assertTrue(IpAddress.tryParse(null).isEmpty());
    }

    @Test
    void aHugeInputIsQuotedShort() {
        String huge = "1".repeat(100_000);
        String m = assertThrows(AddressFormatException.class, () -> IpAddress.parse(huge)).getMessage();
        assertTrue(m.length() < 250, m);
        assertTrue(m.startsWith("'" + "1".repeat(100) + "...'"), m);
        assertFalse(m.contains("1".repeat(101)), m);
    }

    @Test
    void bytesAndValueConversions() {
        IpAddress v4 = IpAddress.parse("10.244.3.1");
        assertEquals(0x0af40301, v4.ipv4Bits());
        assertEquals(v4, IpAddress.ofIpv4(0x0af40301));
        assertEquals(v4, IpAddress.ofBytes(new byte[] {10, (byte) 244, 3, 1}));
        IpAddress v6 = IpAddress.parse("fd00:10::1");
        assertEquals(v6, IpAddress.ofBytes(v6.bytes()));
        assertEquals(v6, IpAddress.of(AddressFamily.IPV6, v6.toBigInteger()));
        assertEquals("fd00:10::1 is not an IPv4 address",
                assertThrows(IllegalStateException.class, v6::ipv4Bits).getMessage());
        IpAddress mapped = IpAddress.parse("::ffff:10.244.3.1");
        assertTrue(mapped.isIpv4Mapped());
        assertEquals(v4, mapped.unmapIpv4());
        assertEquals(mapped, v4.toIpv4Mapped());
        assertEquals(v6, v6.unmapIpv4(), "only mapped addresses unmap");
        assertEquals(MacAddress.parse("0a:58:0a:f4:03:01"), MacAddress.ofBytes(MacAddress.parse("0a:58:0a:f4:03:01").bytes()));
        assertTrue(MacAddress.parse("0a:58:0a:f4:03:01").isLocallyAdministered());
        assertFalse(MacAddress.parse("00:16:3e:00:00:01").isLocallyAdministered());
        assertTrue(MacAddress.parse("01:00:5e:00:00:01").isMulticast());
    }
}
