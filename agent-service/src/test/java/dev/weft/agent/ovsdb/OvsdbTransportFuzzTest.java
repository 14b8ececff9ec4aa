package dev.weft.agent.ovsdb;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The OVSDB client's decoding from the bytes up, through a real UNIX socket: replies of the shapes ovsdb-server sends,
 * mutated (cut, bytes flipped, JSON punctuation or invalid UTF-8 inserted, duplicated), and arbitrary bytes, each as
 * the whole answer to one call (the connection then closes). Every call returns or ends in an
 * {@link OvsdbException}; none hangs (one preemptive bound over the loop). And a message larger than the bound is
 * refused, whether it is one huge JSON value or bytes that never end a value.
 */
class OvsdbTransportFuzzTest {

    static final int TRIES = 3_000;
    private static final JsonNodeFactory N = JsonNodeFactory.instance;
    private static final Duration REQUEST_TIMEOUT = Duration.ofMillis(200);

    /** Results as ovsdb-server gives them to list_dbs, a Port select, and a Bridge select with its ports. */
    private static final List<String> RESULTS = List.of(
            "[\"Open_vSwitch\",\"_Server\"]",
            "[{\"rows\":[{\"_uuid\":[\"uuid\",\"8f0c5b4e-1d2a-4c3b-9e8f-0a1b2c3d4e5f\"],\"name\":\"p1\","
                    + "\"interfaces\":[\"uuid\",\"1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d\"],\"external_ids\":[\"map\","
                    + "[[\"weft.dev/pod\",\"default/web-1\"],[\"weft.dev/ip\",\"10.10.1.5\"]]]}]},"
                    + "{\"rows\":[{\"_uuid\":[\"uuid\",\"1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d\"],\"name\":\"p1\","
                    + "\"type\":\"internal\",\"ofport\":5,\"error\":[\"set\",[]],\"mac_in_use\":\"0a:00:00:00:00:01\","
                    + "\"options\":[\"map\",[]],\"external_ids\":[\"map\",[]]}]}]",
            "[{\"rows\":[{\"_uuid\":[\"uuid\",\"a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d\"],\"name\":\"br-int\","
                    + "\"ports\":[\"set\",[[\"uuid\",\"8f0c5b4e-1d2a-4c3b-9e8f-0a1b2c3d4e5f\"]]],"
                    + "\"datapath_type\":\"netdev\",\"fail_mode\":\"secure\",\"protocols\":\"OpenFlow13\","
                    + "\"external_ids\":[\"map\",[]],\"other_config\":[\"map\",[]]}]}]");

    private static final byte[] PUNCTUATION = "{}[]\",:0123456789.-+eE tfnul\\".getBytes(StandardCharsets.US_ASCII);

    static byte[] mutate(Random rnd, byte[] valid) {
        byte[] m = valid.clone();
        for (int n = 1 + rnd.nextInt(3); n > 0; n--) {
            switch (rnd.nextInt(6)) {
                case 0 -> m = Arrays.copyOf(m, rnd.nextInt(m.length + 1));
                case 1 -> {
                    if (m.length > 0) {
                        m[rnd.nextInt(m.length)] ^= (byte) (1 << rnd.nextInt(8));
                    }
                }
                case 2, 3 -> { // JSON punctuation, or a byte that is no UTF-8, inserted
                    int at = rnd.nextInt(m.length + 1);
                    byte b = rnd.nextInt(4) == 0 ? (byte) (0x80 + rnd.nextInt(128)) : PUNCTUATION[rnd.nextInt(PUNCTUATION.length)];
                    byte[] out = new byte[m.length + 1];
                    System.arraycopy(m, 0, out, 0, at);
                    out[at] = b;
                    System.arraycopy(m, at, out, at + 1, m.length - at);
                    m = out;
                }
                case 4 -> { // a range removed
                    if (m.length > 0) {
                        int at = rnd.nextInt(m.length);
                        int len = Math.min(m.length - at, 1 + rnd.nextInt(12));
                        byte[] out = new byte[m.length - len];
                        System.arraycopy(m, 0, out, 0, at);
                        System.arraycopy(m, at + len, out, at, m.length - at - len);
                        m = out;
                    }
                }
                default -> { // the reply twice: a second message for an id nobody waits for any more
                    byte[] out = Arrays.copyOf(m, m.length * 2);
                    System.arraycopy(m, 0, out, m.length, m.length);
                    m = out;
                }
            }
        }
        return m;
    }

    private interface Call {
        Object run(OvsdbClient c) throws OvsdbException;
    }

    @Test
    void mutatedAndArbitraryRepliesEndInAResultOrAnOvsdbException() {
        long seed = 14_005;
        Random rnd = new Random(seed);
        List<Call> calls = List.of(OvsdbClient::listDbs, c -> c.getPort("p1"), c -> c.getBridge("br-int"),
                c -> c.listPorts("br-int"));
        int[] outcomes = new int[2];
        long start = System.nanoTime();
        assertTimeoutPreemptively(Duration.ofSeconds(300), () -> {
            for (int i = 0; i < TRIES; i++) {
                int kind = rnd.nextInt(10);
                String result = RESULTS.get(rnd.nextInt(RESULTS.size()));
                long reqSeed = rnd.nextLong();
                Call call = calls.get(rnd.nextInt(calls.size()));
                byte[][] sent = new byte[1][];
                try (FakeOvsdbServer server = new FakeOvsdbServer(new FakeOvsdbServer.Script() {
                    public byte[] reply(JsonNode request) {
                        Random r = new Random(reqSeed);
                        byte[] valid = ("{\"id\":" + request.get("id") + ",\"result\":" + result + ",\"error\":null}")
                                .getBytes(StandardCharsets.UTF_8);
                        byte[] bytes;
                        if (kind == 0) {
                            bytes = new byte[r.nextInt(300)];
                            r.nextBytes(bytes);
                        } else {
                            bytes = mutate(r, valid);
                        }
                        sent[0] = bytes;
                        return bytes;
                    }

                    public boolean closeAfterReply() {
                        return true;
                    }
                }); OvsdbClient client = new OvsdbClient(server.socket(), REQUEST_TIMEOUT)) {
                    try {
                        call.run(client);
                        outcomes[0]++;
                    } catch (OvsdbException e) {
                        assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), "seed " + seed + " try " + i);
                        outcomes[1]++;
                    } catch (RuntimeException e) {
                        fail("seed " + seed + " try " + i + ": reply "
                                + (sent[0] == null ? "none" : new String(sent[0], StandardCharsets.UTF_8)) + " threw " + e, e);
                    }
                }
            }
        });
        System.out.printf("OVSDB replies: seed %d, %d tries: %d returned, %d OvsdbException, %d ms%n", seed, TRIES,
                outcomes[0], outcomes[1], (System.nanoTime() - start) / 1_000_000);
        assertTrue(outcomes[0] > TRIES / 100 && outcomes[1] > TRIES / 100, "both outcomes exercised");
    }

    private static OvsdbException refusedCall(byte[] reply, int maxMessageBytes) throws Exception {
        try (FakeOvsdbServer server = new FakeOvsdbServer(request -> reply);
             OvsdbTransport transport = new OvsdbTransport(server.socket(), Duration.ofSeconds(20), maxMessageBytes)) {
            return assertTimeoutPreemptively(Duration.ofSeconds(60),
                    () -> assertThrows(OvsdbException.class, () -> transport.call("list_dbs", N.arrayNode())));
        }
    }

    @Test
    void aMessageLargerThanTheBoundIsRefused() throws Exception {
        // one JSON value of 3 MiB against a 1 MiB bound: refused, at once rather than at the request timeout
        ByteArrayOutputStream big = new ByteArrayOutputStream();
        big.writeBytes("{\"id\":1,\"result\":[".getBytes(StandardCharsets.UTF_8));
        for (int i = 0; i < 1_500_000; i++) {
            big.writeBytes("0,".getBytes(StandardCharsets.UTF_8));
        }
        big.writeBytes("0],\"error\":null}".getBytes(StandardCharsets.UTF_8));
        long start = System.nanoTime();
        OvsdbException e = refusedCall(big.toByteArray(), 1024 * 1024);
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertTrue(e.getMessage().contains("broke JSON-RPC: a message larger than 1048576 bytes"), e.getMessage());
        assertTrue(!e.getMessage().contains("no reply within"), e.getMessage());
        System.out.printf("3 MiB message refused at a 1 MiB bound in %d ms%n", ms);

        // bytes that never end a value (whitespace inside an array), past the default bound of 32 MiB
        byte[] endless = new byte[OvsdbTransport.MAX_MESSAGE_BYTES + 1024 * 1024];
        Arrays.fill(endless, (byte) ' ');
        byte[] head = "{\"id\":1,\"result\":[".getBytes(StandardCharsets.UTF_8);
        System.arraycopy(head, 0, endless, 0, head.length);
        OvsdbException d = refusedCall(endless, OvsdbTransport.MAX_MESSAGE_BYTES);
        assertTrue(d.getMessage().contains("a message larger than " + OvsdbTransport.MAX_MESSAGE_BYTES + " bytes"),
                d.getMessage());

        // below the bound the same shape is read
        try (FakeOvsdbServer server = new FakeOvsdbServer(request -> big.toByteArray());
             OvsdbTransport transport = new OvsdbTransport(server.socket(), Duration.ofSeconds(20), 4 * 1024 * 1024)) {
            assertEquals(1_500_001, transport.call("list_dbs", N.arrayNode()).size());
        }
    }
}
