package dev.weft.net;

/**
 * Text that is not a valid address, prefix or MAC address. The message quotes the input and says what is wrong with
 * it; it is written for the person who typed the value, so callers add where it came from and pass it on.
 */
public final class AddressFormatException extends IllegalArgumentException {

    private final String input;

    AddressFormatException(String input, String message) {
        super(message);
        this.input = input;
    }

    /** The text that failed to parse (null if there was none). */
    public String input() {
        return input;
    }
}
