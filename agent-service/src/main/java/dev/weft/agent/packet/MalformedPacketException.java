package dev.weft.agent.packet;

/** A frame that is too short or inconsistent to read, with what is wrong. */
public class MalformedPacketException extends IllegalArgumentException {
    public MalformedPacketException(String message) {
        super(message);
    }
}
