package dev.weft.agent.openflow;

/**
 * A named value of a {@link RegField}, after Antrea's {@code RegMark}: {@code FromTunnelRegMark} is
 * {@code reg0[0..3]=3}. Flows load and match marks, never the numbers.
 */
public record RegMark(String name, RegField field, long value) {

    public RegMark {
        field.checked(value);
    }
}
