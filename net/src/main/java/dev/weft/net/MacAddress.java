package dev.weft.net;

/**
 * A 48-bit Ethernet address. Text is six two-digit hex groups separated by ':' (either case when parsed, lower case
 * when printed), the form ip-link, Open vSwitch and Kubernetes use.
 */
public record MacAddress(long value) implements Comparable<MacAddress> {

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    public MacAddress {
        if ((value >>> 48) != 0) {
            throw new IllegalArgumentException("a MAC address has 48 bits: 0x" + Long.toHexString(value));
        }
    }

    public static MacAddress parse(String text) {
        return Literals.mac(text);
    }

    /** From 6 bytes in network order. */
    public static MacAddress ofBytes(byte[] bytes) {
        if (bytes.length != 6) {
            throw new IllegalArgumentException("a MAC address has 6 bytes, not " + bytes.length);
        }
        long v = 0;
        for (byte b : bytes) {
            v = v << 8 | (b & 0xff);
        }
        return new MacAddress(v);
    }

    public byte[] bytes() {
        byte[] out = new byte[6];
        for (int i = 0; i < 6; i++) {
            out[i] = (byte) (value >>> (40 - 8 * i));
        }
        return out;
    }

    /** The U/L bit: set in addresses a host made up rather than a vendor assigned. */
    public boolean isLocallyAdministered() {
        return (value & 0x0200_0000_0000L) != 0;
    }

    public boolean isMulticast() {
        return (value & 0x0100_0000_0000L) != 0;
    }

    @Override
    public int compareTo(MacAddress o) {
        return Long.compare(value, o.value);
    }

    @Override
    public String toString() {
        char[] c = new char[17];
        for (int i = 0; i < 6; i++) {
            int b = (int) (value >>> (40 - 8 * i)) & 0xff;
            c[3 * i] = HEX[b >>> 4];
            c[3 * i + 1] = HEX[b & 0xf];
            if (i < 5) {
                c[3 * i + 2] = ':';
            }
        }
        return new String(c);
    }
}
