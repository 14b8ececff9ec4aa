package dev.weft.agent.openflow;

/**
 * A named bit range of an Open vSwitch register ({@code reg0[0..3]}), after Antrea's {@code RegField}: flows load it,
 * match it and output to it by name, so what a register holds is said once.
 *
 * @param name  the name docs and code use ({@code PktSourceField})
 * @param reg   register number, 0-15 ({@code NXM_NX_REGn})
 * @param start first bit
 * @param end   last bit (inclusive), as ovs-ofctl writes {@code [start..end]}
 */
public record RegField(String name, int reg, int start, int end) {

    public RegField {
        if (reg < 0 || reg > 15) {
            throw new IllegalArgumentException(name + ": no register reg" + reg + " (reg0-reg15)");
        }
        if (start < 0 || end > 31 || start > end) {
            throw new IllegalArgumentException(name + ": bad bit range [" + start + ".." + end + "] of a 32-bit register");
        }
    }

    public int nBits() {
        return end - start + 1;
    }

    /** The field's bits in place within the register. */
    public long mask() {
        return (nBits() == 32 ? 0xffffffffL : (1L << nBits()) - 1) << start;
    }

    public OfField register() {
        return OfField.reg(reg, true);
    }

    /** A value of this field under a name ({@code FromGatewayRegMark}). */
    public RegMark mark(String markName, long value) {
        return new RegMark(markName, this, value);
    }

    /** The value checked to fit the field. */
    long checked(long value) {
        if (value < 0 || value > (mask() >>> start)) {
            throw new IllegalArgumentException(name + ": value " + value + " does not fit in " + nBits() + " bits");
        }
        return value;
    }

    /** ovs-ofctl form, {@code NXM_NX_REG0[0..3]} ({@code []} for the whole register). */
    public String ofctlName() {
        return "NXM_NX_REG" + reg + (nBits() == 32 ? "[]" : nBits() == 1 ? "[" + start + "]" : "[" + start + ".." + end + "]");
    }
}
