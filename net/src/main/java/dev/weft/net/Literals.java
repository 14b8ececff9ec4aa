package dev.weft.net;

/**
 * The one parser of address text in Weft, strict on purpose: a value that two parsers could read differently (a
 * leading zero that some read as octal, a short "10.1" form, a zone id, whitespace) is rejected with a message that
 * says why, instead of being read one way here and another way by the kernel, Open vSwitch or Kubernetes.
 *
 * <ul>
 *   <li>IPv4: exactly four decimal octets 0-255, no leading zeros ("010.1.1.1" is an error, as in Kubernetes).</li>
 *   <li>IPv6: RFC 4291 text: up to eight groups of one to four hex digits (either case), at most one "::", an
 *       embedded dotted IPv4 address only at the end. No zone ids, no brackets.</li>
 *   <li>Prefixes: address "/" decimal length without leading zeros, within the family's width.</li>
 * </ul>
 */
final class Literals {

    /** Longest part of an input quoted in a message: a mistake in a large value must not flood a log or a status. */
    private static final int QUOTE_LIMIT = 100;

    private Literals() {
    }

    /** Why a text is not what was expected, as a message fragment. No stack trace: it is always caught here. */
    static final class Invalid extends Exception {
        Invalid(String reason) {
            super(reason, null, false, false);
        }
    }

    static String quote(String text) {
        return "'" + (text.length() <= QUOTE_LIMIT ? text : text.substring(0, QUOTE_LIMIT) + "...") + "'";
    }

    // ------------------------------------------------------------------ entry points with full messages

    static IpAddress address(String text, AddressFamily required) {
        String expected = required == null ? "an IPv4 or IPv6 address" : "an " + required + " address";
        if (text == null || text.isEmpty()) {
            throw new AddressFormatException(text, "empty IP address");
        }
        IpAddress a;
        try {
            a = parseAddress(text);
        } catch (Invalid e) {
            throw new AddressFormatException(text, quote(text) + " is not " + expected + ": " + e.getMessage());
        }
        if (required != null && a.family() != required) {
            throw new AddressFormatException(text, quote(text) + " is not " + expected + ": it is " + a.family());
        }
        return a;
    }

    /**
     * {@code address/length}. {@code containing}: host bits are cleared instead of being an error (the prefix that
     * contains the address), which only callers that must accept such input ask for.
     */
    static IpPrefix prefix(String text, boolean containing) {
        if (text == null || text.isEmpty()) {
            throw new AddressFormatException(text, "empty CIDR");
        }
        String lead = quote(text) + " is not a CIDR: ";
        Slashed s = slashed(text, lead);
        IpPrefix p = IpPrefix.containing(s.address, s.length);
        if (!containing && !p.network().equals(s.address)) {
            throw new AddressFormatException(text, lead + "host bits set (did you mean " + p + "?)");
        }
        return p;
    }

    static InterfaceAddress interfaceAddress(String text) {
        if (text == null || text.isEmpty()) {
            throw new AddressFormatException(text, "empty interface address");
        }
        Slashed s = slashed(text, quote(text) + " is not an interface address (address/prefix length): ");
        return new InterfaceAddress(s.address, s.length);
    }

    private record Slashed(IpAddress address, int length) {
    }

    private static Slashed slashed(String text, String lead) {
        int slash = text.indexOf('/');
        if (slash < 0) {
            throw new AddressFormatException(text, lead + "missing /prefix length");
        }
        if (text.indexOf('/', slash + 1) >= 0) {
            throw new AddressFormatException(text, lead + "more than one '/'");
        }
        if (slash == 0) {
            throw new AddressFormatException(text, lead + "the address before '/' is missing");
        }
        String addressText = text.substring(0, slash);
        IpAddress address;
        try {
            address = parseAddress(addressText);
        } catch (Invalid e) {
            throw new AddressFormatException(text, lead + "bad address " + quote(addressText) + ": " + e.getMessage());
        }
        try {
            return new Slashed(address, prefixLength(text, slash + 1, address.family()));
        } catch (Invalid e) {
            throw new AddressFormatException(text, lead + e.getMessage());
        }
    }

    static MacAddress mac(String text) {
        if (text == null || text.isEmpty()) {
            throw new AddressFormatException(text, "empty MAC address");
        }
        long v = 0;
        boolean ok = text.length() == 17;
        for (int i = 0; ok && i < 17; i++) {
            char c = text.charAt(i);
            if (i % 3 == 2) {
                ok = c == ':';
            } else {
                int d = Character.digit(c, 16);
                ok = d >= 0 && c < 128;
                v = v << 4 | d;
            }
        }
        if (!ok) {
            throw new AddressFormatException(text, quote(text)
                    + " is not a MAC address: it needs six two-digit hex groups separated by ':', such as 0a:58:0a:f4:03:01");
        }
        return new MacAddress(v);
    }

    // ------------------------------------------------------------------ the grammar

    static IpAddress parseAddress(String s) throws Invalid {
        if (s.isEmpty()) {
            throw new Invalid("it is empty");
        }
        return s.indexOf(':') >= 0 ? parseIpv6(s) : IpAddress.ofIpv4(parseIpv4(s, 0, s.length()));
    }

    /** Four decimal octets in s[from, to). */
    private static int parseIpv4(String s, int from, int to) throws Invalid {
        int dots = 0;
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (c == '.') {
                dots++;
            } else if (c < '0' || c > '9') {
                throw new Invalid(unexpected(c));
            }
        }
        if (dots != 3) {
            throw new Invalid("an IPv4 address has four decimal octets separated by '.', this has " + (dots + 1));
        }
        int value = 0;
        int start = from;
        for (int i = from; i <= to; i++) {
            if (i < to && s.charAt(i) != '.') {
                continue;
            }
            String octet = s.substring(start, i);
            if (octet.isEmpty()) {
                throw new Invalid("empty octet");
            }
            if (octet.length() > 1 && octet.charAt(0) == '0') {
                // Read as octal by inet_aton and as decimal by others: the same text would mean two addresses.
                throw new Invalid("octet '" + octet + "' has a leading zero");
            }
            if (octet.length() > 3 || Integer.parseInt(octet) > 255) {
                throw new Invalid("octet '" + octet + "' is greater than 255");
            }
            value = value << 8 | Integer.parseInt(octet);
            start = i + 1;
        }
        return value;
    }

    private static IpAddress parseIpv6(String s) throws Invalid {
        int zone = s.indexOf('%');
        if (zone >= 0) {
            throw new Invalid("zone ids ('" + s.substring(zone) + "') are not accepted");
        }
        if (s.charAt(0) == '[') {
            throw new Invalid("brackets belong in URLs; give the address without them");
        }
        int gap = s.indexOf("::");
        if (gap >= 0 && s.indexOf("::", gap + 1) >= 0) {
            throw new Invalid("'::' may appear only once");
        }
        int[] groups = new int[8];
        if (gap < 0) {
            int n = parseGroups(s, 0, s.length(), groups, true);
            if (n != 8) {
                throw new Invalid("an IPv6 address has eight groups (fewer only with '::'), this has " + n);
            }
        } else {
            int head = gap == 0 ? 0 : parseGroups(s, 0, gap, groups, false);
            int[] tail = new int[8];
            int n = gap + 2 == s.length() ? 0 : parseGroups(s, gap + 2, s.length(), tail, true);
            if (head + n > 7) {
                throw new Invalid("'::' stands for at least one zero group, but there are already " + (head + n)
                        + " groups");
            }
            System.arraycopy(tail, 0, groups, 8 - n, n);
        }
        long high = 0;
        long low = 0;
        for (int i = 0; i < 4; i++) {
            high = high << 16 | groups[i];
            low = low << 16 | groups[i + 4];
        }
        return new IpAddress(AddressFamily.IPV6, high, low);
    }

    /** Colon-separated groups of s[from, to) into out; an embedded IPv4 address counts as two. Returns the count. */
    private static int parseGroups(String s, int from, int to, int[] out, boolean ipv4Tail) throws Invalid {
        int n = 0;
        int start = from;
        for (int i = from; i <= to; i++) {
            if (i < to && s.charAt(i) != ':') {
                continue;
            }
            if (i == start) {
                throw new Invalid("empty group (a single ':' at the start or the end)");
            }
            if (s.indexOf('.', start) >= 0 && s.indexOf('.', start) < i) {
                if (i != to || !ipv4Tail) {
                    throw new Invalid("an embedded IPv4 address may only come last");
                }
                if (n > 6) {
                    throw new Invalid("an IPv6 address has at most eight groups");
                }
                int v4;
                try {
                    v4 = parseIpv4(s, start, i);
                } catch (Invalid e) {
                    throw new Invalid("embedded IPv4 address: " + e.getMessage());
                }
                out[n++] = v4 >>> 16;
                out[n++] = v4 & 0xffff;
                return n;
            }
            if (i - start > 4) {
                throw new Invalid("group '" + s.substring(start, i) + "' has more than four hex digits");
            }
            int v = 0;
            for (int k = start; k < i; k++) {
                char c = s.charAt(k);
                int d = c < 128 ? Character.digit(c, 16) : -1;
                if (d < 0) {
                    throw new Invalid(unexpected(c));
                }
                v = v << 4 | d;
            }
            if (n == 8) {
                throw new Invalid("an IPv6 address has at most eight groups");
            }
            out[n++] = v;
            start = i + 1;
        }
        return n;
    }

    private static int prefixLength(String s, int from, AddressFamily family) throws Invalid {
        String p = s.substring(from);
        if (p.isEmpty()) {
            throw new Invalid("the prefix length after '/' is missing");
        }
        for (int i = 0; i < p.length(); i++) {
            if (p.charAt(i) < '0' || p.charAt(i) > '9') {
                throw new Invalid("prefix length '" + p + "' is not a decimal number");
            }
        }
        if (p.length() > 1 && p.charAt(0) == '0') {
            throw new Invalid("prefix length '" + p + "' has a leading zero");
        }
        if (p.length() > 3 || Integer.parseInt(p) > family.bits()) {
            throw new Invalid("prefix length /" + p + " is out of range for " + family + " (0-" + family.bits() + ")");
        }
        return Integer.parseInt(p);
    }

    private static String unexpected(char c) {
        return Character.isWhitespace(c) ? "whitespace is not allowed" : "unexpected character '" + c + "'";
    }
}
